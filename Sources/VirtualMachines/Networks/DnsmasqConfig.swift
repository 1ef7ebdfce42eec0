import Glibc
import QNetTypes

/// Where a network's dnsmasq keeps its files (all under the network's runtime directory).
public struct DnsmasqPaths: Equatable, Sendable {
    /// `dhcp-leasefile=`: the leases dnsmasq hands out, kept across restarts.
    public var leaseFile: String
    /// `pid-file=`: written once dnsmasq has bound its sockets.
    public var pidFile: String
    /// The generated configuration itself (`--conf-file=`); named in its header comment.
    public var configFile: String

    /// `dhcp-hostsdir=`: reservations (`MAC,ADDRESS`, one file per filtered VM NIC) that
    /// dnsmasq reads as they appear (inotify), without a restart; see `VMPortFilters`.
    public var hostsDirectory: String?

    public init(leaseFile: String, pidFile: String, configFile: String, hostsDirectory: String? = nil) {
        self.leaseFile = leaseFile
        self.pidFile = pidFile
        self.configFile = configFile
        self.hostsDirectory = hostsDirectory
    }

    /// The network's dhcp-hosts folder: inside its runtime directory, unless dnsmasq could
    /// not reach it there. dnsmasq reads this folder only after dropping root (to `nobody`),
    /// so under a private state directory (0700, as `mktemp -d` makes) it would never see a
    /// reservation, and a filtered VM would lease an address its filter drops. Then the
    /// folder is /run/qnet-dhcp-hosts/KEY, KEY naming the runtime directory (a hash of its
    /// path), which holds nothing but `MAC,ADDRESS` lines.
    public static func hostsDirectory(runtime: String) -> String {
        DaemonDirectory.reachable(runtime: runtime, leaf: "dhcp-hosts", fallback: unreachableStateFallback)
    }

    /// Where dhcp-hosts folders go when the state directory is private.
    public static let unreachableStateFallback = "/run/qnet-dhcp-hosts"
}

/// The dnsmasq configuration serving DHCP and DNS on a nat or isolated network (pure: a
/// string; writing and running it is the network manager's job).
///
/// Run as `dnsmasq --keep-in-foreground --conf-file=FILE` (capability: CAP_NET_BIND_SERVICE
/// and CAP_NET_RAW for DHCP; dnsmasq then drops to an unprivileged user). Giving
/// `--conf-file` stops dnsmasq from reading /etc/dnsmasq.conf (and thereby /etc/dnsmasq.d),
/// so a system dnsmasq's settings neither leak in nor get disturbed. libvirt's
/// networkxml2conf output is the model; the differences are commented in the file.
///
/// Decisions (each also explained in the rendered file):
/// - `bind-dynamic`, not `bind-interfaces`: it binds the bridge's own addresses only and
///   follows them as they appear, and never the wildcard address, so other DNS servers on the
///   host (a system dnsmasq, systemd-resolved on 127.0.0.53) keep port 53 elsewhere.
/// - No `dhcp-fqdn`: with `domain=` set, a guest that sends hostname `vm1` is in DNS as both
///   `vm1` and `vm1.DOMAIN` (dnsmasq's default); `dhcp-fqdn` would drop the short name.
/// - No `expand-hosts`: it only qualifies names read from hosts files, and `no-hosts` reads none.
/// - `no-hosts`: the host's /etc/hosts maps its own name to 127.0.1.1, which is wrong for guests.
/// - `no-resolv` + `server=` lines copied from the host's /etc/resolv.conf at start. In the
///   host's namespace a loopback server (127.0.0.53, the systemd-resolved stub) works; under
///   `--netns NAME` dnsmasq runs inside NAME, whose loopback is its own, so loopback servers
///   are left out there (nothing answers on them). A change of the host's resolvers reaches
///   guests at the next `net start`.
/// - Isolated networks get no upstream servers: "no way out" includes DNS (a DNS tunnel is a
///   way out). Names in the network's domain still resolve.
/// - `log-facility=-`: logs go to stderr, which the manager keeps in a file.
public enum DnsmasqConfig {
    /// Renders the configuration. Precondition: `addressing` came from `AddressPlanner.resolve`
    /// for this `definition` (so names, domain and leases are validated; a lease that does not
    /// parse is left out rather than written). `upstreamServers` are the host's nameservers in
    /// /etc/resolv.conf order; entries that are not IP addresses (optionally `%interface` for
    /// link-local IPv6) are skipped, as are duplicates. Ignored for isolated networks.
    /// `namespace` is the named network namespace dnsmasq runs in (`--netns`), nil for the host's.
    public static func render(definition: NetworkDefinition, addressing: NetworkAddressing, paths: DnsmasqPaths,
                              upstreamServers: [String], namespace: String? = nil) -> String {
        var lines: [String] = []
        func blank() { lines.append("") }
        func comment(_ text: String) { lines.append(contentsOf: text.split(separator: "\n").map { "# " + $0 }) }
        func option(_ text: String, _ explanation: String) {
            comment(explanation)
            lines.append(text)
        }

        let gateway = addressing.gateway
        let domain = definition.effectiveDomain
        // A vxlan segment has no router either: like an isolated network, no way out.
        let isolated = definition.mode == .isolated || definition.mode == .vxlan
        comment("dnsmasq for qnet network \"\(definition.name)\" (\(definition.mode.rawValue), bridge \(definition.bridge), subnet \(addressing.subnet)"
                + (addressing.ipv6.map { ", IPv6 prefix \($0.prefix)" } ?? "") + ").")
        comment("Generated by qnet at every `qnet net start`: edits here are lost. Run as:")
        comment("  dnsmasq --keep-in-foreground --conf-file=\(paths.configFile)")
        comment("With --conf-file, /etc/dnsmasq.conf and /etc/dnsmasq.d are not read: a system dnsmasq is not disturbed.")
        comment(namespace.map { "dnsmasq runs in network namespace \"\($0)\" (`qnet --netns \($0)`)." }
                ?? "dnsmasq runs in the host's network namespace.")

        blank()
        comment("--- where to listen ---")
        option("bind-dynamic", """
            Bind only the addresses of the interfaces below, following them as they come and go; unlike
            bind-interfaces, never the wildcard address, so other DNS servers on the host keep port 53.
            """)
        option("interface=\(definition.bridge)", "Serve DHCP and DNS on this network's bridge only,")
        option("except-interface=lo", "never on loopback,")
        option("listen-address=\(gateway)", "and answer DNS on the gateway address.")
        option("log-facility=-", "Log to stderr (qnet keeps it in dnsmasq.log next to this file) instead of syslog.")
        option("log-dhcp", "Log every DHCP exchange with its options, for debugging guests.")

        blank()
        comment("--- DNS ---")
        option("no-resolv", "Do not read /etc/resolv.conf; the upstream servers are listed here.")
        option("strict-order", "Ask the upstream servers in the order given (the host's resolver order).")
        let servers = isolated ? [] : upstreamServerLines(upstreamServers, excluding: gateway, dropLoopback: namespace != nil)
        // Under --netns, the host's loopback resolvers are unreachable: say which were left out.
        let leftOut = isolated || namespace == nil ? []
            : upstreamServerLines(upstreamServers, excluding: gateway).filter { !servers.contains($0) }
        if isolated {
            comment("No upstream servers: an isolated network has no way out, DNS included.")
            comment("Names ending in .\(domain) still resolve; everything else is refused.")
        } else if let namespace {
            comment("Upstream servers: the nameservers of the host's /etc/resolv.conf at start, except loopback ones:")
            comment("dnsmasq runs in network namespace \"\(namespace)\", whose loopback is its own, where they do not answer.")
            if !leftOut.isEmpty { comment("Left out: \(leftOut.joined(separator: ", ")).") }
            if servers.isEmpty { comment("None is left, so only names ending in .\(domain) resolve.") }
        } else if servers.isEmpty {
            comment("No upstream servers: the host's /etc/resolv.conf listed none, so only names ending in .\(domain) resolve.")
        } else {
            comment("Upstream servers: the nameservers of the host's /etc/resolv.conf at start (loopback ones, such as")
            comment("systemd-resolved's 127.0.0.53, work too: dnsmasq runs in the host's network namespace).")
        }
        lines.append(contentsOf: servers.map { "server=\($0)" })
        option("no-hosts", "Do not serve the host's /etc/hosts (it maps the host's name to loopback, which is wrong for guests).")
        option("domain-needed", "Never forward plain names (without a dot) upstream.")
        option("domain=\(domain)", """
            The guests' DNS domain, sent to them by DHCP (option 15). A guest whose DHCP request carries
            hostname "vm1" is in DNS as both "vm1" and "vm1.\(domain)" while its lease lasts.
            """)
        option("local=/\(domain)/", "Names ending in .\(domain) are answered here only (from the leases), never forwarded upstream.")

        blank()
        comment("--- DHCP ---")
        let netmask = IPv4Block.address(addressing.subnet.length == 0 ? 0 : UInt32.max << (32 - UInt32(addressing.subnet.length)))
        option("dhcp-range=\(addressing.dhcpStart),\(addressing.dhcpEnd),\(netmask),\(definition.leaseTime)",
               "Addresses handed out: \(addressing.dhcpStart) to \(addressing.dhcpEnd), netmask \(netmask), lease time \(definition.leaseTime) s.")
        if isolated {
            option("dhcp-option=option:router", "No router option (an empty option): guests get no default route. Without this line dnsmasq would offer itself.")
        } else {
            option("dhcp-option=option:router,\(gateway)", "The default route: the gateway on the bridge, which masquerades for the subnet.")
        }
        option("dhcp-option=option:dns-server,\(gateway)", "The DNS server: this dnsmasq on the gateway address.")
        if definition.mode == .vxlan, let mtu = definition.vxlan?.mtu {
            option("dhcp-option-force=option:mtu,\(mtu)", """
                Interface MTU (option 26): the underlay's minus VXLAN's overhead, so a full frame fits one outer
                packet. Forced: sent also to clients that do not ask for it (busybox udhcpc does not).
                """)
        }
        let leases = definition.staticLeases.compactMap { lease -> (MACAddress, IPAddress, String?)? in
            guard let mac = MACAddress(lease.mac), mac.isValidUnicast, let address = IPAddress(lease.address),
                  addressing.subnet.contains(address) else { return nil }
            let hostname = lease.hostname.flatMap { (try? NetworkNames.validateHostname($0)) == nil ? nil : $0 }
            return (mac, address, hostname)
        }
        if !leases.isEmpty {
            comment("Static leases (qnet net lease add): this MAC always gets this address (and name).")
            for (mac, address, hostname) in leases {
                lines.append("dhcp-host=\(mac),\(address)" + (hostname.map { ",\($0)" } ?? ""))
            }
        }
        let rangeSize = Int(IPv4Block.value(addressing.dhcpEnd)! - IPv4Block.value(addressing.dhcpStart)!) + 1
        let staticOutsideRange = leases.filter { lease in
            let value = IPv4Block.value(lease.1)!
            return value < IPv4Block.value(addressing.dhcpStart)! || value > IPv4Block.value(addressing.dhcpEnd)!
        }.count
        let ipv6RangeSize = addressing.ipv6.map { Int($0.dhcpEnd.bytes[15]) - Int($0.dhcpStart.bytes[15]) + 1 } ?? 0
        option("dhcp-lease-max=\(rangeSize + staticOutsideRange + ipv6RangeSize)",
               "At most this many leases: the range's \(rangeSize) addresses plus \(staticOutsideRange) static lease(s) outside it"
                + (ipv6RangeSize > 0 ? " plus the \(ipv6RangeSize) of the DHCPv6 range." : "."))
        option("dhcp-authoritative", """
            This is the only DHCP server on the bridge: answer at once, also to guests asking for a lease
            this dnsmasq does not remember (after a restart), instead of making them wait and start over.
            """)
        option("dhcp-no-override", "Keep DHCP options out of the BOOTP file and server-name fields (PXE firmware reads those).")
        if let hostsDirectory = paths.hostsDirectory {
            option("dhcp-hostsdir=\(hostsDirectory)", """
                Reservations qnet adds as filtered VMs start (MAC,ADDRESS per file), read as they appear: the address
                a VM's anti-spoofing filter allows is the one it is leased.
                """)
        }
        option("dhcp-leasefile=\(paths.leaseFile)", "Leases survive a dnsmasq restart here.")
        option("pid-file=\(paths.pidFile)", "Written once the sockets are bound: qnet waits for it.")
        if let ipv6 = addressing.ipv6 {
            blank()
            comment("--- IPv6: router advertisements, SLAAC and DHCPv6 ---")
            option("listen-address=\(ipv6.gateway)", "Answer DNS on the IPv6 gateway address (the bridge's ::1) too.")
            option("enable-ra", "Send router advertisements on the bridge (and answer router solicitations).")
            option("dhcp-range=\(ipv6.dhcpStart),\(ipv6.dhcpEnd),slaac,ra-names,64,\(definition.leaseTime)", """
                DHCPv6 addresses \(ipv6.dhcpStart) to \(ipv6.dhcpEnd) in \(ipv6.prefix), lease time \(definition.leaseTime) s.
                slaac: the advertisements carry the prefix with the A and M bits set, so a guest makes its own
                address (SLAAC) and asks DHCPv6 for a second one. ra-names: a guest named by its DHCPv4 lease
                also gets an AAAA record for its SLAAC address (dnsmasq pings the address first).
                """)
            if definition.mode == .vxlan, let mtu = definition.vxlan?.mtu {
                option("ra-param=\(definition.bridge),mtu:\(mtu),0,0", """
                    The MTU option: \(mtu), the underlay's minus VXLAN's overhead (the same as option 26), for guests
                    that take their MTU from the advertisements. Router lifetime 0: the prefix but no default route
                    (the segment has no router). The first 0 keeps the default advertisement interval.
                    """)
            } else if isolated {
                option("ra-param=\(definition.bridge),0,0", """
                    Router lifetime 0: the advertisements give the prefix but no default route (an isolated
                    network has no way out). The first 0 keeps the default advertisement interval.
                    """)
            }
            option("dhcp-option=option6:dns-server,[\(ipv6.gateway)]", "The DNS server for DHCPv6 clients: this dnsmasq on the IPv6 gateway.")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `server=` values: IP addresses (IPv6 link-local ones with `%interface`) in order, without
    /// duplicates and without the gateway itself (which would make dnsmasq ask itself); with
    /// `dropLoopback`, without 127.0.0.0/8 and ::1 either.
    static func upstreamServerLines(_ servers: [String], excluding gateway: IPAddress, dropLoopback: Bool = false) -> [String] {
        var result: [String] = []
        for server in servers {
            let parts = server.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
            guard let address = IPAddress(String(parts[0])), address != gateway else { continue }
            if dropLoopback && isLoopback(address) { continue }
            var text = address.description
            if parts.count == 2 {
                let scope = parts[1]
                guard !address.isIPv4, (1...15).contains(scope.utf8.count),
                      scope.utf8.allSatisfy({ $0 < 0x80 && (Character(Unicode.Scalar($0)).isLetter || Character(Unicode.Scalar($0)).isNumber
                                                          || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")) })
                else { continue }
                text += "%" + scope
            }
            if !result.contains(text) { result.append(text) }
        }
        return result
    }

    /// 127.0.0.0/8 or ::1.
    static func isLoopback(_ address: IPAddress) -> Bool {
        address.isIPv4 ? address.bytes[0] == 127 : address.bytes == [UInt8](repeating: 0, count: 15) + [1]
    }
}
