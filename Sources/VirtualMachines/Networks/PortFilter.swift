import QNetTypes

/// What one VM NIC may send into its bridge: its MAC and its addresses. The TAP is the
/// bridge port the frames come in on. Equivalent to libvirt's nwfilter `clean-traffic` or
/// Incus's `security.mac_filtering` + `ipv4_filtering` + `ipv6_filtering`.
public struct PortFilter: Codable, Equatable, Sendable {
    /// The TAP (bridge port) the VM's frames arrive on.
    public var tap: String
    /// The only source MAC (Ethernet and ARP sender) the guest may use.
    public var mac: MACAddress
    /// IPv4 sources the guest may use (its `ip=` or the address its network reserved for it).
    /// Empty: only DHCP (from 0.0.0.0) and ARP probes get through. nil: IPv4 sources are not
    /// checked (a plain bridge with `filter=on` and no `ip=`: MAC checks only).
    public var ipv4: [IPAddress]?
    /// IPv6 sources besides its EUI-64 link-local address (from `mac`) and `::` (duplicate
    /// address detection). nil: IPv6 sources are not checked.
    public var ipv6: [IPAddress]?
    /// IPv6 ranges allowed as well (first, last). qnet no longer writes any (a dual-stack
    /// network's NIC gets one DHCPv6 address reserved for its MAC, in `ipv6`); read from the
    /// state of a VM an older qnet started, which allowed the network's whole DHCPv6 range.
    public var ipv6Ranges: [[IPAddress]]
    /// Unicast addresses of the network's DHCPv6 servers (a qnet network's gateway), which a
    /// DHCPv6 client may also send to besides ff02::1:2 and link-local addresses.
    public var dhcpv6Servers: [IPAddress]

    public init(tap: String, mac: MACAddress, ipv4: [IPAddress]? = [], ipv6: [IPAddress]? = [], ipv6Ranges: [[IPAddress]] = [],
                dhcpv6Servers: [IPAddress] = []) {
        self.tap = tap
        self.mac = mac
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.ipv6Ranges = ipv6Ranges.filter { $0.count == 2 }
        self.dhcpv6Servers = dhcpv6Servers.filter { !$0.isIPv4 }
    }

    /// The SLAAC address the kernel makes with this MAC in a /64 (EUI-64, the default
    /// addr_gen_mode): the prefix's first 64 bits and the link-local address's last 64.
    public func slaacAddress(in prefix: IPPrefix) -> IPAddress {
        IPAddress(bytes: Array(prefix.network.bytes.prefix(8)) + Array(linkLocal.bytes.suffix(8)))!
    }

    /// The modified EUI-64 link-local address the kernel gives an interface with this MAC
    /// (addr_gen_mode eui64, the default): fe80:: + MAC with ff:fe in the middle and the
    /// universal/local bit flipped (RFC 4291 appendix A).
    public var linkLocal: IPAddress {
        let m = mac.bytes
        return IPAddress(bytes: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])!
    }

    /// The chain holding this port's rules. Precondition: the TAP name is an nft identifier
    /// (letters, digits, `_`, `-`, `.`), as the kernel-chosen `vnetN` names of VM TAPs are.
    var chain: String { Self.chain(for: tap) }
    static func chain(for tap: String) -> String { "port-\(tap)" }

    enum CodingKeys: String, CodingKey { case tap, mac, ipv4, ipv6, ipv6Ranges = "ipv6_ranges", dhcpv6Servers = "dhcpv6_servers" }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tap = try container.decode(String.self, forKey: .tap)
        let text = try container.decode(String.self, forKey: .mac)
        guard let parsed = MACAddress(text) else {
            throw DecodingError.dataCorruptedError(forKey: .mac, in: container, debugDescription: "not a MAC address: \(text)")
        }
        mac = parsed
        func addresses(_ key: CodingKeys) throws -> [IPAddress]? {
            try container.decodeIfPresent([String].self, forKey: key)?.map { text in
                guard let address = IPAddress(text) else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not an IP address: \(text)")
                }
                return address
            }
        }
        ipv4 = try addresses(.ipv4)
        ipv6 = try addresses(.ipv6)
        ipv6Ranges = try (container.decodeIfPresent([[String]].self, forKey: .ipv6Ranges) ?? []).compactMap { pair in
            let parsed = pair.compactMap(IPAddress.init)
            return parsed.count == 2 && pair.count == 2 ? parsed : nil
        }
        dhcpv6Servers = try addresses(.dhcpv6Servers) ?? []
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tap, forKey: .tap)
        try container.encode(mac.description, forKey: .mac)
        try container.encodeIfPresent(ipv4?.map(\.description), forKey: .ipv4)
        try container.encodeIfPresent(ipv6?.map(\.description), forKey: .ipv6)
        if !ipv6Ranges.isEmpty { try container.encode(ipv6Ranges.map { $0.map(\.description) }, forKey: .ipv6Ranges) }
        if !dhcpv6Servers.isEmpty { try container.encode(dhcpv6Servers.map(\.description), forKey: .dhcpv6Servers) }
    }
}

/// qnet's anti-spoofing rules: one nftables bridge-family table, `bridge qnet-filter`, with
/// one chain per filtered VM port, reached from the prerouting hook through a verdict map
/// keyed by the incoming port. Each change is one `nft -f` script, which nft applies as one
/// transaction: a VM's rules appear whole or not at all. Nothing outside the table is touched.
///
/// Pure: this type only renders text. Apply: `nft -f -` (capability CAP_NET_ADMIN; kernel ≥ 5.3
/// for bridge-family `meta ibrname`-free port matching by `iifname`, which these rules use).
///
/// What a port's chain drops (every drop has a counter: `nft list table bridge qnet-filter`
/// shows what was dropped, per port and reason):
/// - frames whose source MAC is not the VM's;
/// - 802.1Q and 802.1ad tagged frames (the IP checks below only see untagged frames);
/// - ARP whose sender MAC is not the VM's, or whose sender IP is not one of its IPv4 addresses
///   (0.0.0.0, an ARP probe for duplicate address detection, is allowed);
/// - DHCP server replies (UDP source port 67; DHCPv6 547), anything to a DHCP client's port
///   (68; DHCPv6 546), router advertisements (ICMPv6 type 134) and redirects (137) from the
///   guest: a guest cannot act as the network's DHCP server or router;
/// - DHCPv6 to a server's port (547) other than a client's request: from port 546 to
///   ff02::1:2 (all DHCP servers and relays), a link-local server or the network's own server;
/// - neighbour advertisements whose target is not one of the guest's IPv6 addresses, so a
///   guest cannot answer NDP for another guest's address, and neighbour solicitations and
///   advertisements whose (first) link-layer address option is not the VM's MAC;
/// - IPv4 whose source is not one of its addresses, except a DHCP client's request from
///   0.0.0.0 (UDP 68 to 67), so DHCP still works;
/// - IPv6 whose source is not its EUI-64 link-local address, `::` or one of its addresses.
/// Everything else goes on (the prerouting chain's policy is accept).
///
/// Kernel quirk: a bridge-family chain sees each frame on the port it arrived on (`iifname`
/// is the TAP, not the bridge), before the bridge decides whether to forward it or deliver
/// it to the host, so the one prerouting hook covers guest-to-guest and guest-to-host traffic.
public enum PortFilterRuleset {
    public static let family = "bridge"
    public static let table = "qnet-filter"
    /// The verdict map: port name → `jump port-NAME`.
    static let portsMap = "ports"

    /// The `nft -f` script that installs (or replaces) these ports' chains, creating the table
    /// on first use. Ports not named are left as they are.
    public static func add(_ ports: [PortFilter]) -> String {
        let ports = ports.filter { isChainSafe($0.tap) }
        var lines = header("adds the anti-spoofing rules of VM ports " + ports.map(\.tap).joined(separator: ", "))
        lines += declareTable
        for port in ports {
            let chain = port.chain
            lines += [
                "",
                "# Port \(port.tap): MAC \(port.mac); IPv4 \(describe(port.ipv4, none: "none (DHCP only)"));",
                "# IPv6 \(describe(port.ipv6.map { [port.linkLocal] + $0 }, none: ""))\(port.ipv6Ranges.map { ", \($0[0])-\($0[1])" }.joined()).",
                "# The chain is created if missing and emptied, so this replaces any rules a previous user of the name left.",
                "add chain \(family) \(table) \(chain)",
                "flush chain \(family) \(table) \(chain)",
            ]
            lines += rules(port).map { "add rule \(family) \(table) \(chain) \($0)" }
            lines.append("add element \(family) \(table) \(portsMap) { \(quoted(port.tap)) : jump \(chain) }")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The `nft -f` script that removes these ports' chains and map entries, and nothing else.
    /// Idempotent: each entry and chain is declared before it is deleted, so a port whose
    /// rules are already gone is no error.
    public static func remove(_ taps: [String]) -> String {
        let taps = taps.filter(isChainSafe)
        var lines = header("removes the anti-spoofing rules of VM ports " + taps.joined(separator: ", "))
        lines += declareTable
        for tap in taps {
            let chain = PortFilter.chain(for: tap)
            lines += [
                "",
                "# Port \(tap): declared first, so that deleting cannot fail when it is already gone.",
                "add chain \(family) \(table) \(chain)",
                "add element \(family) \(table) \(portsMap) { \(quoted(tap)) : jump \(chain) }",
                "delete element \(family) \(table) \(portsMap) { \(quoted(tap)) }",
                "delete chain \(family) \(table) \(chain)",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Whether `tap` can name a chain and map key without quoting trouble (letters, digits,
    /// `_`, `-`, `.`; starting with a letter), as the kernel-chosen `vnetN` names can. Other
    /// names are left out of scripts, so a name can never carry nft syntax.
    public static func isChainSafe(_ tap: String) -> Bool {
        guard let first = tap.utf8.first, (0x41...0x5a).contains(first) || (0x61...0x7a).contains(first), tap.utf8.count <= 15 else { return false }
        return tap.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) || $0 == 0x5f || $0 == 0x2d || $0 == 0x2e }
    }

    /// The `nft -f` script that removes qnet's bridge table, and only it (when no VM port is
    /// filtered any more). Idempotent: the table is declared before it is deleted.
    public static func removal() -> String {
        (header("removes its bridge table (no VM port is filtered)") + ["", "add table \(family) \(table)", "delete table \(family) \(table)"])
            .joined(separator: "\n") + "\n"
    }

    /// One port's rules, in order.
    static func rules(_ port: PortFilter) -> [String] {
        let mac = port.mac.description
        var rules = [
            "ether saddr != \(mac) counter drop comment \"source MAC is not the VM's\"",
            "ether type { 8021q, 8021ad } counter drop comment \"tagged frames would pass the IP checks unseen\"",
            "arp saddr ether != \(mac) counter drop comment \"ARP sender MAC is not the VM's\"",
        ]
        let ipv4 = port.ipv4?.filter(\.isIPv4).map(\.description)
        if let ipv4 {
            rules.append("arp saddr ip != \(set(["0.0.0.0"] + ipv4)) counter drop comment \"ARP sender IP is not the VM's\"")
        }
        rules += [
            "udp sport 67 counter drop comment \"DHCP server reply from a guest\"",
            "udp dport 68 counter drop comment \"DHCP message to a client from a guest\"",
            "udp sport 547 counter drop comment \"DHCPv6 server reply from a guest\"",
            "udp dport 546 counter drop comment \"DHCPv6 message to a client from a guest\"",
            "udp dport 547 udp sport != 546 counter drop comment \"DHCPv6 to a server, not from the client port\"",
            "udp dport 547 ip6 daddr != \(set(["ff02::1:2", "fe80::/10"] + port.dhcpv6Servers.map(\.description))) counter drop "
                + "comment \"DHCPv6 request to an address that is not a server\"",
            "icmpv6 type nd-router-advert counter drop comment \"router advertisement from a guest\"",
            "icmpv6 type nd-redirect counter drop comment \"ICMPv6 redirect from a guest\"",
            // Kernel quirk: nft 1.0.6 has no `icmpv6 taddr`, so the ND fields are raw payload
            // from the ICMPv6 header (@th): target at bit 64 (128 bits); the first option's
            // type and length at bit 192, its link-layer address at bit 208 (48 bits).
            "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } @th,192,16 { 0x0101, 0x0201 } @th,208,48 != 0x\(hex(port.mac.bytes)) "
                + "counter drop comment \"NDP link-layer address is not the VM's MAC\"",
        ]
        if let ipv4 {
            rules.append("ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return comment \"DHCP request before the guest has an address\"")
            if ipv4.isEmpty {
                rules.append("ether type ip counter drop comment \"IPv4 source is not the VM's (it has none)\"")
            } else {
                rules.append("ip saddr != \(set(ipv4)) counter drop comment \"IPv4 source is not the VM's\"")
            }
        }
        if let ipv6Addresses = port.ipv6?.filter({ !$0.isIPv4 }) {
            let v6Ranges = port.ipv6Ranges.filter { !$0[0].isIPv4 && !$0[1].isIPv4 }
            let targets = ([port.linkLocal] + ipv6Addresses).map { "0x" + hex($0.bytes) }
                + v6Ranges.map { "0x\(hex($0[0].bytes))-0x\(hex($0[1].bytes))" }
            rules.append("icmpv6 type nd-neighbor-advert @th,64,128 != \(set(targets)) counter drop "
                         + "comment \"neighbour advertisement for an address that is not the VM's\"")
            let ipv6 = ipv6Addresses.map(\.description)
            let ranges = v6Ranges.map { "\($0[0])-\($0[1])" }
            rules.append("ip6 saddr != \(set(["::", port.linkLocal.description] + ipv6 + ranges)) counter drop comment \"IPv6 source is not the VM's\"")
        }
        return rules
    }

    private static func describe(_ addresses: [IPAddress]?, none: String) -> String {
        guard let addresses else { return "not checked" }
        return addresses.isEmpty ? none : addresses.map(\.description).joined(separator: ", ")
    }

    private static func header(_ purpose: String) -> [String] {
        [
            "#!/usr/sbin/nft -f",
            "# qnet: \(purpose).",
            "# Generated by qnet when a VM starts or stops; one transaction: all of it applies or none.",
            "# Nothing outside table \(family) \(table) is touched.",
        ]
    }

    /// Creates the table, the map and the base chain when missing (`add` changes nothing that
    /// exists, so the other ports' chains and entries stay), then gives the base chain its one
    /// rule: flushed and added again, since a rule in a declaration would be appended each time.
    private static let declareTable = [
        "",
        "add table \(family) \(table)",
        "# Incoming port → its chain (jump); ports not in the map are not filtered.",
        "add map \(family) \(table) \(portsMap) { type ifname : verdict; }",
        "# Every frame a bridge receives, before it is forwarded or delivered to the host. Policy accept:",
        "# only the ports' chains drop.",
        "add chain \(family) \(table) prerouting { type filter hook prerouting priority filter; policy accept; }",
        "flush chain \(family) \(table) prerouting",
        "add rule \(family) \(table) prerouting iifname vmap @\(portsMap)",
    ]

    /// Bytes as one hexadecimal number (a raw payload value), without the `0x`.
    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xf)]] })
    }

    private static func set(_ values: [String]) -> String { values.count == 1 ? values[0] : "{ \(values.joined(separator: ", ")) }" }

    /// An interface name as an nft string (names are validated: no quotes or blanks).
    private static func quoted(_ name: String) -> String { "\"\(name)\"" }
}
