import CLinuxNet
import Glibc
import Netlink
import NetlinkWire
import QNetSystem
import QNetTypes
import SystemPackage

/// The journal record of an uplink move (`bridge create --uplink`) or release (`bridge
/// delete` of such a bridge): the full prior state of everything the move touches, so that
/// after a kill at any instruction the host can be put back — or, past the point of no
/// return, the release finished — by a later qnet process that knows nothing else.
///
/// Recovery is declarative: it does not replay a list of steps but brings the interfaces to
/// the recorded state ("the bridge is gone, eth0 has exactly these addresses and routes"),
/// with operations that accept the change already made (an address already there, a route
/// already gone). So a record written once, before the first change, covers every point
/// where the process may die, including during recovery itself.
public struct UplinkMoveRecord: JournalRecord, Equatable {
    public static let kind = "uplink-move"

    public enum Operation: String, Codable, Sendable {
        /// `bridge create BRIDGE --uplink UPLINK`: the configuration moves from the uplink to a
        /// new bridge. Never past a point of no return: recovery deletes the bridge and gives
        /// the uplink its configuration back.
        case take
        /// `bridge delete BRIDGE`: the configuration moves from the bridge back to the uplink,
        /// then the bridge is deleted. Before the deletion recovery puts it all back on the
        /// bridge; after the point of no return it finishes the release.
        case release
    }

    public var operation: Operation
    public var bridge: String
    public var uplink: String
    /// The uplink's link state before the move (MAC, MTU, master, up).
    public var uplinkState: RecordedLinkState
    /// The bridge's MAC: the bridge a take creates has the uplink's; a release records the
    /// bridge's own. Recovery deletes a bridge only if it still has it (it is the one this
    /// move made or found, not a namesake made since).
    public var bridgeMAC: String?
    /// The moving addresses as the side that had them held them (the uplink for a take, the
    /// bridge for a release), in the kernel's order (primaries before their secondaries).
    public var addresses: [RecordedAddress]
    /// The moving routes, of every routing table, as the side that had them held them.
    public var routes: [RecordedRoute]
    /// CLOCK_BOOTTIME seconds when the state was read: finite lifetimes are shortened by the
    /// time elapsed when the addresses are put back.
    public var recordedAt: Double

    public init(operation: Operation, bridge: String, uplink: String, uplinkState: RecordedLinkState, bridgeMAC: String?,
                addresses: [RecordedAddress], routes: [RecordedRoute], recordedAt: Double = bootSeconds()) {
        self.operation = operation
        self.bridge = bridge
        self.uplink = uplink
        self.uplinkState = uplinkState
        self.bridgeMAC = bridgeMAC
        self.addresses = addresses
        self.routes = routes
        self.recordedAt = recordedAt
    }
}

/// The parts of a link's state a move may change.
public struct RecordedLinkState: Codable, Equatable, Sendable {
    public var index: InterfaceIndex
    public var mac: String?
    public var mtu: UInt32
    public var masterIndex: InterfaceIndex?
    public var up: Bool

    init(_ link: Link) {
        index = link.index
        mac = link.macAddress?.description
        mtu = link.mtu
        masterIndex = link.masterIndex
        up = link.isUp
    }
}

/// An address as `ip -j addr` shows it, with what is needed to add it again identically:
/// flags (secondary, noprefixroute, nodad, ...), label, broadcast, metric and lifetimes.
public struct RecordedAddress: Codable, Equatable, Sendable {
    public var prefix: String
    public var scope: UInt8
    public var flags: UInt32
    public var label: String?
    public var broadcast: String?
    public var metric: UInt32?
    public var validLifetime: UInt32?
    public var preferredLifetime: UInt32?

    init(_ address: InterfaceAddress) {
        prefix = address.prefix.description
        scope = address.scope
        flags = address.flags
        label = address.label
        broadcast = address.broadcast?.description
        metric = address.metric
        validLifetime = address.validLifetime
        preferredLifetime = address.preferredLifetime
    }

    /// The address on interface `index`; finite lifetimes shortened by `elapsed` seconds.
    func address(index: InterfaceIndex, elapsed: Double = 0) throws -> InterfaceAddress {
        guard let parsed = IPPrefix(prefix) else { throw JournalError.unreadable(UplinkMoveRecord.kind, reason: "bad prefix '\(prefix)'") }
        func shortened(_ lifetime: UInt32?) -> UInt32? {
            guard let lifetime, lifetime != UInt32.max else { return lifetime }
            return UInt32(max(1, Double(lifetime) - elapsed.rounded(.up)))
        }
        return InterfaceAddress(index: index, prefix: parsed, scope: scope, flags: flags, label: label,
                                broadcast: broadcast.flatMap(IPAddress.init), metric: metric,
                                validLifetime: shortened(validLifetime), preferredLifetime: shortened(preferredLifetime))
    }

    /// IFA_F_SECONDARY: another address of the same IPv4 subnet came first.
    var isSecondary: Bool { flags & UInt32(IFA_F_SECONDARY) != 0 }
}

/// A route as `ip -j route show table all` shows it: table, metric, protocol, scope, type,
/// tos, onlink, RTA_METRICS (`mtu 1400`, `initcwnd`), router preference, realm and the
/// nexthops of a multipath route kept, so it comes back exactly (the output interface is
/// the move's business: the moving link's, and that of each nexthop through it).
public struct RecordedRoute: Codable, Equatable, Sendable {
    public var family: UInt8
    /// nil for a default route.
    public var destination: String?
    public var gateway: String?
    public var metric: UInt32?
    public var table: UInt32
    public var routeProtocol: UInt8
    public var scope: UInt8
    public var type: UInt8
    public var preferredSource: String?
    /// RTA_METRICS' nested attributes, as the kernel reported them.
    public var metrics: [UInt8]?
    public var tos: UInt8?
    public var onLink: Bool?
    public var preference: UInt8?
    public var flow: UInt32?
    /// A multipath route's nexthops (nil: a route with one).
    public var nexthops: [RecordedNexthop]?

    /// One nexthop: through the moving link (its index is the move's business), or through
    /// another interface, which keeps its index.
    public struct RecordedNexthop: Codable, Equatable, Sendable {
        public var gateway: String?
        /// nil: through the moving link.
        public var otherIndex: UInt32?
        public var weight: Int
        public var onLink: Bool
        public var flow: UInt32?
    }

    /// `route` as held by the link `moving` (which of its nexthops go through it).
    init(_ route: Route, moving: InterfaceIndex) {
        family = route.family.rawValue
        destination = route.isDefault ? nil : route.destination?.description
        gateway = route.gateway?.description
        metric = route.metric
        table = route.table
        routeProtocol = route.routeProtocol
        scope = route.scope
        type = route.type
        preferredSource = route.preferredSource?.description
        metrics = route.metrics
        tos = route.tos == 0 ? nil : route.tos
        onLink = route.onLink ? true : nil
        preference = route.preference
        flow = route.flow
        nexthops = route.nexthops.isEmpty ? nil : route.nexthops.map { nexthop in
            RecordedNexthop(gateway: nexthop.gateway?.description,
                            otherIndex: nexthop.outputIndex == moving ? nil : nexthop.outputIndex.rawValue,
                            weight: nexthop.weight, onLink: nexthop.onLink, flow: nexthop.flow)
        }
    }

    var usesGateway: Bool { gateway != nil || (nexthops ?? []).contains { $0.gateway != nil } }

    /// The route through interface `index` (for a multipath route: its nexthops that went
    /// through the moving link).
    func route(outputIndex: InterfaceIndex) throws -> Route {
        func bad(_ text: String) -> JournalError { .unreadable(UplinkMoveRecord.kind, reason: "bad route field '\(text)'") }
        func address(_ text: String) throws -> IPAddress { try IPAddress(text).orThrow(bad(text)) }
        let parsedDestination = try destination.map { text in try IPPrefix(text).orThrow(bad(text)) }
        var route = Route(destination: parsedDestination, gateway: try gateway.map(address),
                          outputIndex: nexthops == nil ? outputIndex : nil, metric: metric,
                          table: table, routeProtocol: routeProtocol, scope: scope, type: type,
                          preferredSource: try preferredSource.map(address))
        route.family = AddressFamily(rawValue: family)
        route.metrics = metrics
        route.tos = tos ?? 0
        route.onLink = onLink ?? false
        route.preference = preference
        route.flow = flow
        route.nexthops = try (nexthops ?? []).map { nexthop in
            Route.Nexthop(gateway: try nexthop.gateway.map(address),
                          outputIndex: nexthop.otherIndex.map(InterfaceIndex.init(rawValue:)) ?? outputIndex,
                          weight: nexthop.weight, onLink: nexthop.onLink, flow: nexthop.flow)
        }
        return route
    }
}

extension Optional {
    fileprivate func orThrow(_ error: @autoclosure () -> Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}

/// Seconds since boot, suspend included (CLOCK_BOOTTIME): the clock address lifetimes count in.
public func bootSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_BOOTTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

// MARK: - Recovery

extension HostNetwork {
    /// The record kinds HostNetwork writes, with the code that rolls each back or completes
    /// it in this instance's namespace. Merged into the CLI's recovery dispatcher.
    public var recoveryRegistry: RecoveryRegistry {
        var registry = RecoveryRegistry()
        registry.register(UplinkMoveRecord.self) { [self] record, context in try recover(record, context) }
        registry.register(CreatedLinkRecord.self) { [self] record, context in try recover(record, context) }
        registry.register(LinkSettingsRecord.self) { [self] record, context in try recover(record, context) }
        registry.register(VFSettingsRecord.self) { [self] record, context in try recover(record, context) }
        return registry
    }

    /// Brings the host to the state `record` describes: before the move when rolling back,
    /// after it when completing. Idempotent; returns one clause for the user.
    func recover(_ record: UplinkMoveRecord, _ context: RecoveryContext) throws -> String {
        let elapsed = max(0, bootSeconds() - record.recordedAt)
        let bridge = try linkIfPresent(named: record.bridge)
        guard let uplink = try linkIfPresent(named: record.uplink), uplink.index == record.uplinkState.index else {
            // The uplink itself is gone (unplugged, deleted): nothing can be given back to it.
            if let bridge, ownsBridge(bridge, record) { try deleteLinkTolerantly(bridge) }
            return "\(record.uplink) no longer exists; nothing to give back"
        }
        let ownBridge = bridge.flatMap { ownsBridge($0, record) ? $0 : nil }
        switch (record.operation, context.direction) {
        case (.release, .rollBack) where ownBridge != nil:
            // Back onto the bridge: off the uplink first (an identical route may exist only once).
            let bridge = ownBridge!
            try removeRecorded(record, from: uplink.index, pause: context.pause)
            if record.uplinkState.masterIndex == bridge.index, uplink.masterIndex != bridge.index {
                try setLink(index: uplink.index, name: uplink.name, LinkChange(master: .index(bridge.index)))
            }
            try installRecorded(record, on: bridge.index, name: bridge.name, elapsed: elapsed, pause: context.pause)
            return "\(record.bridge) has \(describe(record)) again, with \(record.uplink) as its port"
        default:
            // A take rolled back, a release completed (or one whose bridge is gone already):
            // the bridge goes (the kernel detaches its ports and drops its addresses and
            // routes with it), and the uplink gets the recorded configuration.
            if let ownBridge {
                try deleteLinkTolerantly(ownBridge)
                context.pause()
            } else if let bridge, uplink.masterIndex == bridge.index {
                // A namesake that is not ours: leave it, but take the uplink out of it.
                try setLink(index: uplink.index, name: uplink.name, LinkChange(master: LinkChange.Master.none))
            }
            // A released uplink ends outside any bridge; a take's ends as it was.
            var target = record.uplinkState
            if record.operation == .release { target.masterIndex = nil }
            try restoreLinkState(target, of: uplink, afterDeleting: ownBridge)
            try installRecorded(record, on: uplink.index, name: uplink.name, elapsed: elapsed, pause: context.pause)
            let deleted = record.operation == .release ? "; \(record.bridge) is deleted" : ""
            return "\(record.uplink) has \(describe(record)) again\(deleted)"
        }
    }

    /// Whether `bridge` is the one the move made (a take: it has the uplink's MAC) or
    /// released (it still has its recorded MAC), not a namesake someone made since.
    private func ownsBridge(_ bridge: Link, _ record: UplinkMoveRecord) -> Bool {
        guard bridge.isBridge else { return false }
        guard let mac = record.bridgeMAC else { return true }
        return bridge.macAddress?.description == mac
    }

    /// The uplink's master, MTU, MAC and up/down as recorded, changing only what differs.
    private func restoreLinkState(_ state: RecordedLinkState, of uplink: Link, afterDeleting bridge: Link?) throws {
        var change = LinkChange()
        // Deleting the bridge detached the uplink, whatever the stale reading says.
        let master = bridge.map { uplink.masterIndex == $0.index ? nil : uplink.masterIndex } ?? uplink.masterIndex
        if master != state.masterIndex {
            change.master = state.masterIndex.map { .index($0) } ?? LinkChange.Master.none
        }
        if uplink.mtu != state.mtu { change.mtu = state.mtu }
        if let mac = state.mac, uplink.macAddress?.description != mac { change.macAddress = MACAddress(mac) }
        if uplink.isUp != state.up { change.up = state.up }
        guard change != LinkChange() else { return }
        try setLink(index: uplink.index, name: uplink.name, change)
    }

    /// Adds the recorded addresses (primaries first: the first address of a subnet becomes
    /// its primary) then the routes, whose gateways the addresses make reachable. What is
    /// there already counts as done.
    func installRecorded(_ record: UplinkMoveRecord, on index: InterfaceIndex, name: String, elapsed: Double,
                         pause: () -> Void) throws {
        for recorded in record.addresses.sorted(by: { !$0.isSecondary && $1.isSecondary }) {
            try ensureAddress(try recorded.address(index: index, elapsed: elapsed), on: name)
            pause()
        }
        for recorded in record.routes.sorted(by: { ($0.usesGateway ? 1 : 0) < ($1.usesGateway ? 1 : 0) }) {
            try ensureRoute(try recorded.route(outputIndex: index))
            pause()
        }
    }

    /// Removes the recorded routes, then the addresses (secondaries first, see
    /// ``removeAddresses(_:from:)``). What is gone already counts as done.
    func removeRecorded(_ record: UplinkMoveRecord, from index: InterfaceIndex, pause: () -> Void) throws {
        for recorded in record.routes.reversed() {
            try ensureNoRoute(try recorded.route(outputIndex: index))
            pause()
        }
        for recorded in Self.secondariesFirst(record.addresses) {
            try ensureNoAddress(try recorded.address(index: index))
            pause()
        }
    }

    /// Kernel quirk: deleting the primary IPv4 address of a subnet also deletes every
    /// secondary address of that subnet, unless net.ipv4.conf.DEV.promote_secondaries is 1
    /// (then one is promoted instead). Deleting the secondaries first makes the deletion of
    /// each address exactly one change, whatever the sysctl says, and never needs it changed.
    static func secondariesFirst<Element>(_ addresses: [Element], isSecondary: (Element) -> Bool) -> [Element] {
        addresses.filter(isSecondary) + addresses.filter { !isSecondary($0) }
    }

    static func secondariesFirst(_ addresses: [RecordedAddress]) -> [RecordedAddress] {
        secondariesFirst(addresses) { $0.isSecondary }
    }

    /// `ip addr add` that accepts the address being there already.
    func ensureAddress(_ address: InterfaceAddress, on name: String) throws {
        let label = address.label.map { label in label.firstIndex(of: ":").map { name + label[$0...] } ?? name }
        do {
            try connection.execute(.newAddress, flags: [.create, .exclusive], payload: address.message(index: address.index, label: label).encoded())
        } catch let error as NetlinkError where error.errno == .fileExists {
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "ip addr add \(address.prefix) dev \(name)", error)
        }
    }

    /// `ip addr del` that accepts the address being gone already.
    func ensureNoAddress(_ address: InterfaceAddress) throws {
        do {
            try connection.execute(.delAddress, payload: address.message(index: address.index).encoded())
        } catch let error as NetlinkError where error.errno == .addressNotAvailable || error.errno == .operationNotSupportedByDevice {
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "ip addr del \(address.prefix) dev if\(address.index)", error)
        }
    }

    /// `ip route add` that accepts the route being there already.
    func ensureRoute(_ route: Route) throws {
        do {
            try connection.execute(.newRoute, flags: [.create, .exclusive], payload: route.message().encoded())
        } catch let error as NetlinkError where error.errno == .fileExists {
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "ip route add \(route.formatted())", error)
        }
    }

    /// `ip route del` that accepts the route being gone already.
    func ensureNoRoute(_ route: Route) throws {
        do {
            try connection.execute(.delRoute, payload: route.message().encoded())
        } catch let error as NetlinkError where error.errno == .noSuchProcess || error.errno == .operationNotSupportedByDevice {
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "ip route del \(route.formatted())", error)
        }
    }

    /// `ip link delete` that accepts the link being gone already.
    func deleteLinkTolerantly(_ link: Link) throws {
        do {
            try connection.execute(.delLink, payload: LinkMessage(index: link.index).encoded())
        } catch let error as NetlinkError where error.errno == .operationNotSupportedByDevice {
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "ip link delete \(link.name)", error)
        }
    }

    /// "192.168.1.10/24, 2001:db8::10/64, the default routes and 2 other routes".
    private func describe(_ record: UplinkMoveRecord) -> String {
        var parts = record.addresses.map(\.prefix)
        let defaults = record.routes.filter { $0.destination == nil }.count
        let others = record.routes.count - defaults
        if defaults > 0 { parts.append(defaults == 1 ? "the default route" : "the default routes") }
        if others > 0 { parts.append("\(others) \(defaults > 0 ? "other " : "")route\(others == 1 ? "" : "s")") }
        guard let last = parts.popLast() else { return "its configuration" }
        return parts.isEmpty ? last : parts.joined(separator: ", ") + " and " + last
    }
}
