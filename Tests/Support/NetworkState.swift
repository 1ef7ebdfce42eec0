import Foundation

extension TestNamespace {
    /// Every link with its addresses (`ip -j addr show`) and every route of every table
    /// (`ip -j route show table all`, both families), normalised so that two readings of an
    /// unchanged namespace are equal and any real difference shows: what the kernel does on
    /// its own schedule is left out (operstate, and the LOWER_UP/NO-CARRIER and linkdown
    /// flags, which follow carrier as linkwatch reports it; IPv6 link-local addresses and
    /// fe80::/ff00:: routes, made per interface when it comes up; `expires`; interface
    /// indexes, new for every recreated bridge), finite lifetimes (counting down) read as
    /// "finite", and lists are sorted.
    /// One line per link and per route, for readable diffs.
    public func normalizedState() throws -> String {
        var lines: [String] = []
        for link in try json("addr", "show") {
            var link = link
            // A recreated bridge gets a new index; names identify links.
            for key in ["operstate", "ifindex", "link_index"] { link.removeValue(forKey: key) }
            if var flags = link["flags"] as? [String] {
                flags.removeAll { $0 == "LOWER_UP" || $0 == "NO-CARRIER" }
                link["flags"] = flags
            }
            let addresses = (link["addr_info"] as? [[String: Any]] ?? []).compactMap { address -> [String: Any]? in
                guard let local = address["local"] as? String, !local.hasPrefix("fe80:") else { return nil }
                var address = address
                for key in ["valid_life_time", "preferred_life_time"] {
                    if let value = address[key] as? Int, value != Int(UInt32.max) { address[key] = "finite" }
                }
                return address
            }
            link["addr_info"] = addresses.map(Self.canonical).sorted()
            lines.append(Self.canonical(link))
        }
        for family in ["-4", "-6"] {
            for route in try json(family, "route", "show", "table", "all") {
                if let destination = route["dst"] as? String, destination.hasPrefix("fe80:") || destination == "ff00::/8" { continue }
                var route = route
                route.removeValue(forKey: "expires")
                if var flags = route["flags"] as? [String] {
                    flags.removeAll { $0 == "linkdown" }
                    route["flags"] = flags
                }
                // The nexthops of a multipath route carry linkdown each.
                if let nexthops = route["nexthops"] as? [[String: Any]] {
                    route["nexthops"] = nexthops.map { nexthop in
                        var nexthop = nexthop
                        if var flags = nexthop["flags"] as? [String] {
                            flags.removeAll { $0 == "linkdown" }
                            nexthop["flags"] = flags
                        }
                        return nexthop
                    }
                }
                lines.append("route " + Self.canonical(route))
            }
        }
        return lines.sorted().joined(separator: "\n")
    }

    /// Sorted-keys JSON text of one object.
    static func canonical(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "\(object)" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A namespace whose `eth0` is a working uplink, as a host's only NIC: a veth to a "LAN"
/// namespace whose `lan0` (192.168.1.254/24 and 2001:db8::1/64) is the gateway. eth0 holds
/// two IPv4 addresses of one subnet (a primary and a secondary) and one IPv6 address, a
/// default route per family, a route with metric 50 and RTA_METRICS (`mtu 1400 initcwnd
/// 10`), a multipath route with one nexthop through eth0 and one through `side0`
/// (10.99.0.1/24), and routes in table 100 (policy routing, one of them with `mtu 1300`),
/// so that a move that forgets any of them shows.
public final class UplinkNamespaces: @unchecked Sendable {
    public let host: TestNamespace
    public let lan: TestNamespace

    public init(_ label: String) throws {
        host = try TestNamespace(label)
        lan = try TestNamespace(label + "l")
        try host.ip("link", "add", "eth0", "type", "veth", "peer", "name", "lan0", "netns", lan.name)
        try lan.ip("addr", "add", "192.168.1.254/24", "dev", "lan0")
        try lan.ip("-6", "addr", "add", "2001:db8::1/64", "dev", "lan0", "nodad")
        try lan.ip("link", "set", "lan0", "up")
        try host.ip("link", "set", "eth0", "up")
        try host.ip("addr", "add", "192.168.1.10/24", "dev", "eth0")
        try host.ip("addr", "add", "192.168.1.11/24", "dev", "eth0")  // a secondary of the same subnet
        try host.ip("-6", "addr", "add", "2001:db8::10/64", "dev", "eth0", "nodad")
        try host.ip("route", "add", "default", "via", "192.168.1.254", "dev", "eth0", "metric", "100")
        try host.ip("route", "add", "10.20.0.0/16", "via", "192.168.1.254", "dev", "eth0", "metric", "50", "mtu", "1400", "initcwnd", "10")
        // The other nexthop's interface: a veth pair inside the namespace (no dummy module here).
        try host.ip("link", "add", "side0", "type", "veth", "peer", "name", "side1")
        try host.ip("addr", "add", "10.99.0.1/24", "dev", "side0")
        try host.ip("link", "set", "side1", "up")
        try host.ip("link", "set", "side0", "up")
        try host.ip("route", "add", "10.40.0.0/16", "nexthop", "via", "192.168.1.254", "dev", "eth0", "weight", "1",
                    "nexthop", "via", "10.99.0.2", "dev", "side0", "weight", "3")
        try host.ip("route", "add", "10.30.0.0/16", "via", "192.168.1.254", "dev", "eth0", "table", "100", "mtu", "1300")
        try host.ip("route", "add", "default", "via", "192.168.1.254", "dev", "eth0", "table", "100", "metric", "7")
        try host.ip("-6", "route", "add", "default", "via", "2001:db8::1", "dev", "eth0", "metric", "100")
    }

    /// Whether the host reaches its gateway (ping from the host side, both families).
    public func gatewayAnswers() throws -> Bool {
        try host.exec("ping", ["-c", "1", "-W", "1", "192.168.1.254"]).status == 0
            && host.exec("ping", ["-6", "-c", "1", "-W", "1", "2001:db8::1"]).status == 0
    }

    public func remove() {
        host.remove()
        lan.remove()
    }
}

extension TestNamespace {
    /// Fields of `ip -j` objects that change by themselves between two readings of a
    /// namespace nothing changed, or that cannot survive a rollback, each with the reason;
    /// `exactState` leaves them out by name, everywhere they appear. Nothing else is: lists
    /// keep ip's order and every other field its value.
    ///
    /// Empty, as measured: after an unconfirmed `apply --try` (bridge with uplink, addresses
    /// moved or declared, routes in several tables, a multipath route, RTA_METRICS), also when
    /// the try's qnet was SIGKILLed, and after a killed apply recovered by the next command,
    /// `ip -j link/addr/route` print the same bytes as before: the uplink is never deleted
    /// (its ifindex, counters-free `ip -j link` output and link-local address stay), and the
    /// bridge that was created is gone again. What the earlier normalised comparison hid
    /// was the test's own first reading, taken while eth0's link-local address was still
    /// "tentative" (DAD), which `exactState` now waits out.
    public static let exactStateExclusions: [String: String] = [:]

    /// `ip -j link show`, `ip -j addr show` and `ip -j route show table all` (IPv4 and
    /// IPv6) as ip prints them, one line per object in ip's order, minus only the fields
    /// of `exactStateExclusions`: the byte-for-byte witness of "the namespace is exactly as
    /// before" (unlike `normalizedState`, which sorts and leaves out what the kernel
    /// re-creates).
    public func exactState() throws -> String {
        // Kernel quirk: an address stays "tentative" while duplicate address detection runs
        // (about a second after its link comes up), then the flag goes by itself: read once
        // none is (polling, 20 ms, up to 5 s), so a reading taken just after a link came up
        // is comparable with a later one.
        _ = try waitUntil(timeout: 5, interval: 0.02) { !(try ip("-j", "addr", "show")).contains("\"tentative\"") }
        var lines: [String] = []
        for arguments in [["link", "show"], ["addr", "show"], ["-4", "route", "show", "table", "all"], ["-6", "route", "show", "table", "all"]] {
            let text = try ip(["-j"] + arguments)
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { continue }
            guard let objects = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
                throw TestSupportError("unexpected ip -j output: \(text)")
            }
            lines.append("# ip -j " + arguments.joined(separator: " "))
            lines += objects.map { Self.canonical(Self.removingExcluded($0)) }
        }
        return lines.joined(separator: "\n")
    }

    static func removingExcluded(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            return object.filter { exactStateExclusions[$0.key] == nil }.mapValues(removingExcluded)
        }
        if let array = value as? [Any] { return array.map(removingExcluded) }
        return value
    }
}
