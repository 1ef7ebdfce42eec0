import CLinuxNet
import HostNetwork
import QNetSystem
import QNetTypes

// The IPv6 side of `net start` for nat, isolated and vxlan networks: the bridge's ::1, and for
// nat networks net.ipv6.conf.all.forwarding with the accept_ra trap defused.
//
// Kernel quirk (the accept_ra trap): with forwarding = 1 on an interface, the kernel
// ignores router advertisements there unless accept_ra = 2. Writing
// net.ipv6.conf.all.forwarding sets every interface's forwarding, so a host whose uplink
// took its IPv6 address or default route from router advertisements (SLAAC) would lose them
// when they expire. Before turning forwarding on, qnet sets accept_ra = 2 on each such
// uplink that has accept_ra = 1 (journaled, restored at stop while it still holds 2), as
// libvirt refuses to start and tells the admin to do by hand.

extension NetworkServices {
    static let ipv6Forwarding = "/proc/sys/net/ipv6/conf/all/forwarding"
    static let ipv6DisableAll = "/proc/sys/net/ipv6/conf/all/disable_ipv6"
    /// accept_ra on an uplink that must keep taking router advertisements while forwarding.
    static let acceptRAWithForwarding = "2"

    static func acceptRA(_ interface: String) -> String { "/proc/sys/net/ipv6/conf/\(interface)/accept_ra" }

    /// The value qnet writes to this sysctl (and expects in it when restoring).
    static func valueSet(by path: String) -> String {
        path.hasSuffix("/accept_ra") ? acceptRAWithForwarding : ipForwardOn
    }

    /// The records restoring `changed` (path → previous value) in a safe order: forwarding
    /// first, the accept_ra values after (so an uplink never ignores RAs while forwarding is on).
    static func restoreOrder(_ changed: [String: String]) -> [NetworkSysctlRecord] {
        changed.sorted { ($0.key.hasSuffix("/accept_ra") ? 1 : 0, $0.key) < ($1.key.hasSuffix("/accept_ra") ? 1 : 0, $1.key) }
            .map { NetworkSysctlRecord(path: $0.key, previous: $0.value, set: valueSet(by: $0.key)) }
    }

    /// Why IPv6 cannot be used in the network's namespace (the kernel has none, or
    /// net.ipv6.conf.all.disable_ipv6 = 1), or nil when it can.
    func ipv6Disabled() -> String? {
        guard let value = try? readSysctl(Self.ipv6DisableAll) else {
            return "the kernel has no IPv6 (\(Self.ipv6DisableAll) is missing: booted with ipv6.disable=1?)"
        }
        return value == "0" ? nil : "net.ipv6.conf.all.disable_ipv6 = \(value)"
    }
}

extension HostNetwork {
    /// Interfaces that took an IPv6 address or default route from router advertisements:
    /// a global /64 address the kernel made by SLAAC (not permanent: it has lifetimes) or a
    /// default route of protocol `ra`. Equivalent to `ip -6 addr show scope global dynamic`
    /// plus `ip -6 route show default proto ra`. Needs no capability.
    func routerAdvertisementClients() throws -> [String] {
        let links = try self.links()
        var indexes = Set<InterfaceIndex>()
        for address in try addresses(family: .inet6)
        where !address.isPermanent && address.prefix.length == 64 && !address.isIPv6LinkLocal && !address.prefix.address.isMulticast {
            indexes.insert(address.index)
        }
        for route in try routes(family: .inet6)
        where route.isDefault && route.routeProtocol == UInt8(truncatingIfNeeded: RTPROT_RA) {
            if let index = route.outputIndex { indexes.insert(index) }
        }
        return links.filter { indexes.contains($0.index) && $0.name != "lo" }.map(\.name).sorted()
    }
}

extension NetworkManager {
    /// Gives the bridge its IPv6 gateway address (the prefix's ::1/64) without duplicate
    /// address detection, and keeps the bridge itself from autoconfiguring (accept_ra = 0,
    /// autoconf = 0, as libvirt does: the bridge is the router). Equivalent to
    /// `sysctl -w net.ipv6.conf.BR.accept_ra=0 net.ipv6.conf.BR.autoconf=0;
    /// ip addr add PREFIX::1/64 dev BR nodad`. The bridge is new: deleting it undoes all this.
    func addIPv6Gateway(_ ipv6: IPv6Addressing, network: String, bridge: String) throws {
        if let reason = services.ipv6Disabled() { throw NetworkError.ipv6Unavailable(network: network, reason: reason) }
        try stopIPv6Autoconfiguration(bridge: bridge)
        // Without nodad the address stays tentative (unusable, so dnsmasq cannot bind it)
        // until the bridge has carrier, i.e. until the first guest's TAP joins, and 1 s more.
        let link = try host.link(named: bridge)
        try host.addAddress(InterfaceAddress(index: link.index, prefix: IPPrefix(address: ipv6.gateway, length: ipv6.prefix.length),
                                             flags: UInt32(IFA_F_NODAD)), interfaceName: bridge)
    }

    /// Keeps a new bridge from configuring itself from router advertisements: no SLAAC
    /// address, no default route. Equivalent to `sysctl -w net.ipv6.conf.BR.accept_ra=0
    /// net.ipv6.conf.BR.autoconf=0`. Deleting the bridge undoes it.
    func stopIPv6Autoconfiguration(bridge: String) throws {
        for setting in ["accept_ra", "autoconf"] {
            try services.writeSysctl("/proc/sys/net/ipv6/conf/\(bridge)/\(setting)", "0")
        }
    }

    /// Turns net.ipv6.conf.all.forwarding on for a nat network, first setting accept_ra = 2
    /// on every uplink that learns its IPv6 address or default route from router
    /// advertisements and has accept_ra = 1 (see the top of this file). Each change is
    /// journaled before it is made and kept in `state` for `net stop`.
    func enableIPv6Forwarding(state: inout NetworkRuntimeState, _ transaction: HostTransaction) throws {
        let forwarding = NetworkServices.ipv6Forwarding
        let previous = try services.readSysctl(forwarding)
        guard previous != NetworkServices.ipForwardOn else { return }
        for uplink in try host.routerAdvertisementClients() {
            let path = NetworkServices.acceptRA(uplink)
            guard let value = try? services.readSysctl(path), value == "1" else { continue }
            try transaction.record(undo: NetworkSysctlRecord(path: path, previous: value, set: NetworkServices.acceptRAWithForwarding))
            try services.writeSysctl(path, NetworkServices.acceptRAWithForwarding)
            state.changedSysctls[path] = value
        }
        try transaction.record(undo: NetworkSysctlRecord(path: forwarding, previous: previous, set: NetworkServices.ipForwardOn))
        try services.writeSysctl(forwarding, NetworkServices.ipForwardOn)
        state.changedSysctls[forwarding] = previous
    }
}
