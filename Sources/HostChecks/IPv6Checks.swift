/// IPv6 for qnet's nat and isolated networks: whether the kernel has it on, and the accept_ra
/// trap that IPv6 forwarding sets for uplinks configured by router advertisements.
enum IPv6Checks {
    /// net.ipv6.conf.all.disable_ipv6 (and whether the kernel has IPv6 at all).
    static func enabled(_ root: HostRoot) -> CheckResult {
        let id = "ipv6.enabled", title = "IPv6"
        let path = root.proc + "/sys/net/ipv6/conf/all/disable_ipv6"
        switch root.readValue(path) {
        case "0"?:
            return CheckResult(id: id, status: .ok, title: title,
                               found: "net.ipv6.conf.all.disable_ipv6 = 0: nat and isolated networks get an IPv6 prefix (--ipv6 auto)")
        case let value?:
            return CheckResult(id: id, status: .warn, title: title,
                               found: "net.ipv6.conf.all.disable_ipv6 = \(value): new nat and isolated networks are IPv4 only, "
                                   + "and networks created with an IPv6 prefix do not start",
                               remedy: "sysctl -w net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0\n"
                                   + "(and remove the setting from /etc/sysctl.conf or /etc/sysctl.d/ to keep it across reboots)")
        case nil:
            return CheckResult(id: id, status: .warn, title: title,
                               found: "\(path) is missing: the kernel has no IPv6 (booted with ipv6.disable=1?); networks are IPv4 only",
                               remedy: "remove ipv6.disable=1 from the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub) and reboot")
        }
    }

    /// An interface that learned IPv6 configuration from router advertisements.
    struct RAClient: Equatable, Sendable {
        var interface: String
        /// What it learned: "SLAAC address fd00::5054:ff:fe12:3456/64", "default route".
        var learned: [String]
    }

    /// Interfaces with a SLAAC address (global scope, /64, not permanent) in
    /// /proc/net/if_inet6 or a default route added from a router advertisement (RTF_ADDRCONF)
    /// in /proc/net/ipv6_route.
    static func routerAdvertisementClients(ifInet6: String, ipv6Route: String) -> [RAClient] {
        var learned: [String: [String]] = [:]
        // "ADDRESS(32 hex) IFINDEX PREFIXLEN SCOPE FLAGS NAME"; IFA_F_PERMANENT is 0x80.
        for line in ifInet6.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count == 6, words[0].count == 32, let length = UInt8(words[2], radix: 16), let scope = UInt8(words[3], radix: 16),
                  let flags = UInt32(words[4], radix: 16) else { continue }
            guard scope == 0, length == 64, flags & 0x80 == 0 else { continue }
            learned[String(words[5]), default: []].append("SLAAC address \(Self.address(words[0]))/64")
        }
        // "DEST DESTLEN SRC SRCLEN NEXTHOP METRIC REFCNT USE FLAGS NAME"; RTF_ADDRCONF is 0x40000.
        for line in ipv6Route.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count == 10, words[1] == "00", words[0].allSatisfy({ $0 == "0" }),
                  let flags = UInt32(words[8], radix: 16), flags & 0x40000 != 0 else { continue }
            learned[String(words[9]), default: []].append("default route via \(Self.address(words[4]))")
        }
        return learned.keys.sorted().filter { $0 != "lo" }.map { RAClient(interface: $0, learned: learned[$0]!) }
    }

    /// 32 hex digits as an IPv6 address in groups (zeros not compressed: for people only).
    static func address(_ hex: Substring) -> String {
        var groups: [String] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let end = hex.index(index, offsetBy: 4, limitedBy: hex.endIndex) ?? hex.endIndex
            let group = hex[index..<end].drop { $0 == "0" }
            groups.append(group.isEmpty ? "0" : String(group))
            index = end
        }
        return groups.joined(separator: ":")
    }

    /// The accept_ra trap: with forwarding = 1 on an interface, the kernel ignores router
    /// advertisements there unless accept_ra = 2, so an uplink configured by SLAAC loses its
    /// address and default route when they expire. `qnet net start` defuses it for the uplinks
    /// it finds; this check reports any interface where it is armed.
    static func acceptRA(_ root: HostRoot) -> CheckResult {
        let id = "ipv6.accept_ra", title = "IPv6 router advertisements"
        guard root.isDirectory(root.proc + "/sys/net/ipv6") else {
            return CheckResult(id: id, status: .ok, title: title, found: "no IPv6 in this kernel: nothing learns from router advertisements")
        }
        let clients = routerAdvertisementClients(ifInet6: root.read(root.proc + "/net/if_inet6") ?? "",
                                                 ipv6Route: root.read(root.proc + "/net/ipv6_route") ?? "")
        guard !clients.isEmpty else {
            return CheckResult(id: id, status: .ok, title: title,
                               found: "no interface takes its IPv6 address or default route from router advertisements")
        }
        var armed: [String] = []
        var safe: [String] = []
        for client in clients {
            let conf = root.proc + "/sys/net/ipv6/conf/\(client.interface)"
            let acceptRA = root.readValue(conf + "/accept_ra") ?? "?"
            let forwarding = root.readValue(conf + "/forwarding") ?? "?"
            let what = "\(client.interface) (\(client.learned.joined(separator: ", ")); accept_ra = \(acceptRA), forwarding = \(forwarding))"
            if forwarding == "1" && acceptRA == "1" { armed.append(client.interface); safe.append(what) } else { safe.append(what) }
        }
        if armed.isEmpty {
            return CheckResult(id: id, status: .ok, title: title,
                               found: "learned from router advertisements: \(safe.joined(separator: "; ")). "
                                   + "`qnet net start` of a nat network with IPv6 sets accept_ra = 2 on these before it turns IPv6 forwarding on")
        }
        return CheckResult(id: id, status: .warn, title: title,
                           found: "IPv6 forwarding is on and accept_ra = 1 on \(armed.joined(separator: ", ")): the kernel ignores their "
                               + "router advertisements, so the SLAAC address and default route expire (\(safe.joined(separator: "; ")))",
                           remedy: armed.map { "sysctl -w net.ipv6.conf.\($0).accept_ra=2   # keep taking router advertisements while forwarding" }
                               .joined(separator: "\n"))
    }
}
