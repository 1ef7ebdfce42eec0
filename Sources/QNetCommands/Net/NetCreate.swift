import ArgumentParser
import QNetTypes
import VirtualMachines

/// `qnet net create NAME --mode MODE`: `virsh net-define` / `incus network create`.
struct NetCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Define a network (virsh net-define; incus network create). Start it with `qnet net start`.",
        discussion: """
            nat: a private bridge (qn-NAME) with the gateway address, dnsmasq for DHCP and DNS (VMNAME.NAME \
            resolves to its lease), and masquerade for the subnet only. isolated: the same without a way out. \
            bridge: guests join an existing bridge, or one qnet makes (optionally taking over --uplink). \
            Without --subnet, the first free 10.x.y.0/24 that overlaps no route or address is chosen. \
            nat and isolated networks are dual-stack by default (--ipv6 auto): a unique local /64 (RFC 4193, \
            kept in the definition), router advertisements with SLAAC, DHCPv6 from ::100-::1ff and the bridge \
            on ::1; nat networks masquerade IPv6 too unless --ipv6-nat off routes the prefix. \
            vxlan: a bridge joined to the same segment on other hosts by a kernel VXLAN device (qx-NAME, \
            learning off, one flood entry per --peers address); create it on every host with the same --vni, \
            and with --dhcp-host on exactly one of them (it gets the gateway address and dnsmasq); the MTU of \
            the bridge and guests is the underlay's minus 50 bytes (IPv4) or 70 (IPv6). With --ipv6 PREFIX/64 \
            (the same on every host) the DHCP host's bridge also gets PREFIX::1 and its dnsmasq sends router \
            advertisements (SLAAC, DHCPv6, the MTU, no default route). \
            --control-plane evpn: instead of static peers, BGP EVPN: qnet runs FRR's zebra and bgpd in the \
            network's namespace (iBGP in --asn with each --bgp-peers address, l2vpn evpn, advertise-all-vni), \
            and the VXLAN device's FDB and flood list come from the peers' routes.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Network name (1-12 of a-z, 0-9, '-', '_').")
    var name: String

    @Option(help: "bridge, nat, isolated or vxlan.")
    var mode: NetworkMode

    @Option(help: ArgumentHelp("The bridge (default: qn-NAME).", valueName: "bridge"), transform: Parse.interfaceName)
    var bridge: String?

    @Option(help: ArgumentHelp("bridge mode: an uplink to move into the bridge.", valueName: "iface"), transform: Parse.interfaceName)
    var uplink: String?

    @Option(help: ArgumentHelp("nat/isolated: the subnet, e.g. 10.0.50.0/24 (default: the first free 10.x.y.0/24).", valueName: "cidr"), transform: Parse.cidr)
    var subnet: IPPrefix?

    @Option(help: ArgumentHelp("nat/isolated: the gateway address on the bridge (default: the subnet's first address).", valueName: "ip"), transform: Parse.ipAddress)
    var gateway: IPAddress?

    @Option(help: ArgumentHelp("nat/isolated: DHCP range START-END (default: .100-.199 of a /24).", valueName: "range"))
    var dhcpRange: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("DHCP lease time in seconds.", valueName: "seconds"))
    var leaseTime: Int = 3600

    @Option(help: ArgumentHelp("DNS domain for guests (default: the network's name).", valueName: "domain"))
    var domain: String?

    @Option(help: ArgumentHelp("nat/isolated: IPv6 as auto (a random unique local /64, the default), PREFIX/64 or none. vxlan: the segment's /64, the same on every host (default none; auto on the --dhcp-host only).", valueName: "auto|prefix|none"),
            transform: NetCreate.parseIPv6)
    var ipv6: IPv6Choice?

    @Option(name: .customLong("ipv6-nat"), help: ArgumentHelp("nat: masquerade IPv6 (on, the default) or route the prefix (off; the upstream must route it here).", valueName: "on|off"))
    var ipv6NAT: Switch?

    /// `--ipv6`: `auto`, `none` or an IPv6 `PREFIX/64` (the planner checks the prefix itself).
    static func parseIPv6(_ text: String) throws -> IPv6Choice {
        guard let choice = IPv6Choice(text) else {
            throw ValidationError("invalid IPv6 setting '\(text)': use auto, none or an IPv6 PREFIX/64, e.g. fd12:3456:789a::/64")
        }
        return choice
    }

    @Option(help: ArgumentHelp("vxlan: the VXLAN network identifier, 1-16777215 (the same on every host).", valueName: "n"))
    var vni: UInt32?

    @Option(help: ArgumentHelp("vxlan: the underlay interface, or a local address, the tunnel runs over.", valueName: "iface|addr"))
    var underlay: String?

    @Option(help: ArgumentHelp("vxlan: the other hosts' underlay addresses, comma-separated.", valueName: "addr,..."),
            transform: Parse.ipAddressList)
    var peers: [IPAddress] = []

    @Option(help: ArgumentHelp("vxlan: the UDP port.", valueName: "port"))
    var port: UInt16 = 4789

    @Flag(help: "vxlan: this host serves DHCP and DNS for the segment (exactly one host should).")
    var dhcpHost = false

    @Option(help: ArgumentHelp("vxlan: static (flood entries for --peers) or evpn (BGP EVPN with FRR).", valueName: "static|evpn"),
            transform: NetCreate.parseControlPlane)
    var controlPlane: Bool = false

    @Option(help: ArgumentHelp("evpn: this host's BGP autonomous system number (the same on every host: iBGP).", valueName: "n"))
    var asn: UInt32?

    @Option(help: ArgumentHelp("evpn: the other hosts' underlay addresses, each a BGP neighbour, comma-separated.", valueName: "addr,..."),
            transform: Parse.ipAddressList)
    var bgpPeers: [IPAddress] = []

    /// `--control-plane`: true for `evpn`, false for `static`.
    static func parseControlPlane(_ text: String) throws -> Bool {
        switch text {
        case "evpn": return true
        case "static": return false
        default: throw ValidationError("invalid control plane '\(text)': use static or evpn")
        }
    }

    func validate() throws {
        if mode == .vxlan && (vni == nil || underlay == nil) {
            throw ValidationError("--mode vxlan needs --vni N and --underlay IFACE|ADDR")
        }
        if mode != .vxlan && (vni != nil || underlay != nil || !peers.isEmpty || dhcpHost) {
            throw ValidationError("--vni, --underlay, --peers and --dhcp-host apply to vxlan networks only")
        }
        if controlPlane && mode != .vxlan {
            throw ValidationError("--control-plane applies to vxlan networks only")
        }
        if controlPlane && (asn == nil || bgpPeers.isEmpty) {
            throw ValidationError("--control-plane evpn needs --asn N and --bgp-peers ADDR,...")
        }
        if controlPlane && !peers.isEmpty {
            throw ValidationError("--peers are static flood entries; an evpn network learns its flood list from BGP: give --bgp-peers instead")
        }
        if !controlPlane && (asn != nil || !bgpPeers.isEmpty) {
            throw ValidationError("--asn and --bgp-peers apply to --control-plane evpn only")
        }
        if asn == 0 {
            throw ValidationError("invalid ASN '0': use 1-4294967295")
        }
        if mode == .vxlan && ipv6NAT != nil {
            throw ValidationError("--ipv6-nat applies to nat networks; a vxlan segment has no way out")
        }
        if mode == .vxlan && ipv6 == .auto && !dhcpHost {
            throw ValidationError("--ipv6 auto picks a prefix on the vxlan network's --dhcp-host only; give the DHCP host's PREFIX/64 here")
        }
        if mode == .vxlan && !dhcpHost && (gateway != nil || dhcpRange != nil) {
            throw ValidationError("--gateway and --dhcp-range apply to the vxlan network's --dhcp-host only")
        }
        if mode == .bridge && (subnet != nil || gateway != nil || dhcpRange != nil) {
            throw ValidationError("--subnet, --gateway and --dhcp-range apply to nat and isolated networks; a bridge network uses the LAN's own DHCP")
        }
        if mode == .bridge && (ipv6 != nil || ipv6NAT != nil) {
            throw ValidationError("--ipv6 and --ipv6-nat apply to nat and isolated networks; a bridge network's guests take the LAN's router advertisements")
        }
        if mode == .isolated && ipv6NAT != nil {
            throw ValidationError("--ipv6-nat applies to nat networks; an isolated network has no way out")
        }
        if ipv6 == IPv6Choice.none && ipv6NAT != nil {
            throw ValidationError("--ipv6-nat needs IPv6; drop it or drop --ipv6 none")
        }
        if mode != .bridge && uplink != nil {
            throw ValidationError("--uplink applies to bridge networks; a \(mode.rawValue) network reaches out through masquerade")
        }
        if !AddressPlanner.leaseTimes.contains(leaseTime) {
            throw ValidationError("invalid lease time '\(leaseTime)': use \(AddressPlanner.leaseTimes.lowerBound) to \(AddressPlanner.leaseTimes.upperBound) seconds")
        }
    }

    func run() throws {
        try NetworkNames.validate(name)
        var start: String?
        var end: String?
        if let dhcpRange {
            let parts = dhcpRange.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, IPAddress(String(parts[0])) != nil, IPAddress(String(parts[1])) != nil else {
                throw ValidationError("invalid DHCP range '\(dhcpRange)': use START-END, e.g. 10.0.50.100-10.0.50.199")
            }
            (start, end) = (String(parts[0]), String(parts[1]))
        }
        let manager = NetworkManager(host: try global.openHost())
        let definition = try manager.create(NetworkDefinition(
            name: name, mode: mode, bridge: bridge ?? NetworkNames.defaultBridge(for: name), uplink: uplink,
            subnet: subnet?.description, gateway: gateway?.description, dhcpStart: start, dhcpEnd: end,
            leaseTime: leaseTime, domain: domain, ipv6NAT: ipv6NAT != .off,
            vxlan: mode == .vxlan ? VXLANNetworkSettings(vni: vni ?? 0, underlay: underlay ?? "", peers: peers.map(\.description),
                                                         port: port, dhcpHost: dhcpHost,
                                                         evpn: controlPlane ? EVPNSettings(asn: asn ?? 0, bgpPeers: bgpPeers.map(\.description)) : nil) : nil),
            // A vxlan segment spans hosts, so it gets IPv6 only when asked (the same prefix on each).
            ipv6: mode == .bridge ? nil : mode == .vxlan ? ipv6 : ipv6 ?? .auto)
        var line = "defined \(definition.mode.rawValue) network \(name) on bridge \(definition.bridge)"
        if let subnet = definition.subnet { line += ", subnet \(subnet), gateway \(definition.gateway ?? "?"), DHCP \(definition.dhcpStart ?? "?")-\(definition.dhcpEnd ?? "?")" }
        if let vxlan = definition.vxlan {
            line += ", VNI \(vxlan.vni) over \(vxlan.underlay) port \(vxlan.port), MTU \(vxlan.mtu)"
            if let evpn = vxlan.evpn {
                line += ", EVPN in AS \(evpn.asn) with BGP peers \(evpn.bgpPeers.joined(separator: ","))"
            } else {
                line += vxlan.peers.isEmpty ? ", no peers yet" : ", peers \(vxlan.peers.joined(separator: ","))"
            }
        }
        if let prefix = definition.ipv6Prefix {
            line += ", IPv6 \(prefix)" + (definition.mode == .nat ? (definition.ipv6NAT ? " (NAT66)" : " (routed)") : "")
        }
        print(line)
    }
}
