import Netlink
import NetlinkWire
import QNetSystem
import QNetTypes

/// A bridge's settings as recorded in a journal, to be set again exactly (times in seconds,
/// kept to the kernel's 1/100 s ticks).
public struct RecordedBridgeSettings: Codable, Equatable, Sendable {
    public var stp: Bool
    public var forwardDelay: Double
    public var helloTime: Double
    public var maxAge: Double
    public var ageingTime: Double
    public var priority: UInt16
    public var vlanFiltering: Bool

    init(_ settings: BridgeSettings) {
        stp = settings.stpEnabled
        forwardDelay = settings.forwardDelay
        helloTime = settings.helloTime
        maxAge = settings.maxAge
        ageingTime = settings.ageingTime
        priority = settings.priority
        vlanFiltering = settings.vlanFiltering
    }

    /// What to send to get from `current` back to these settings: only the fields that
    /// differ (a kernel without CONFIG_BRIDGE_VLAN_FILTERING refuses that attribute even
    /// when it asks for the value it already has).
    func options(from current: BridgeSettings?) -> BridgeOptions {
        var options = BridgeOptions()
        let differs = { (a: Double, b: Double?) in b.map { abs(a - $0) > 0.005 } ?? true }
        if stp != current?.stpEnabled { options.stp = stp }
        if differs(forwardDelay, current?.forwardDelay) { options.forwardDelay = forwardDelay }
        if differs(helloTime, current?.helloTime) { options.helloTime = helloTime }
        if differs(maxAge, current?.maxAge) { options.maxAge = maxAge }
        if differs(ageingTime, current?.ageingTime) { options.ageingTime = ageingTime }
        if priority != current?.priority { options.priority = priority }
        if vlanFiltering != current?.vlanFiltering { options.vlanFiltering = vlanFiltering }
        return options
    }
}

/// The journal record of an in-place change to an existing link (MTU, MAC, master, bridge
/// options, addresses and routes added or removed), written before the change: rolling back
/// puts back what it recorded, on the same link (name and index). Never completed.
public struct LinkSettingsRecord: JournalRecord, Equatable {
    public static let kind = "link-settings"

    public var name: String
    public var index: InterfaceIndex
    /// Previous values of what the change sets (nil: not changed).
    public var mtu: UInt32?
    public var mac: String?
    /// Whether the master changes, and the previous one (nil: none).
    public var restoreMaster: Bool
    public var master: InterfaceIndex?
    public var bridge: RecordedBridgeSettings?
    public var addedAddresses: [String]
    public var removedAddresses: [RecordedAddress]
    public var addedRoutes: [RecordedRoute]
    /// Routes the change deletes (a declared route whose gateway or metric changes, one
    /// `apply --prune` no longer wants), with every attribute, to be added back exactly.
    public var removedRoutes: [RecordedRoute]?
}

/// An in-place change of one link, made by ``HostNetwork/changeLink(_:_:transaction:)``.
public struct LinkSettingsChange: Equatable, Sendable {
    public var mtu: UInt32?
    public var macAddress: MACAddress?
    public var master: LinkChange.Master?
    public var bridge: BridgeOptions?
    public var addAddresses: [IPPrefix]
    public var removeAddresses: [IPPrefix]
    public var addRoutes: [Route]
    /// Routes through this link to delete (as the kernel reported them), before `addRoutes`.
    public var removeRoutes: [Route]

    public init(mtu: UInt32? = nil, macAddress: MACAddress? = nil, master: LinkChange.Master? = nil, bridge: BridgeOptions? = nil,
                addAddresses: [IPPrefix] = [], removeAddresses: [IPPrefix] = [], addRoutes: [Route] = [], removeRoutes: [Route] = []) {
        self.mtu = mtu
        self.macAddress = macAddress
        self.master = master
        self.bridge = bridge
        self.addAddresses = addAddresses
        self.removeAddresses = removeAddresses
        self.addRoutes = addRoutes
        self.removeRoutes = removeRoutes
    }

    public var isEmpty: Bool {
        mtu == nil && macAddress == nil && master == nil && (bridge?.isEmpty ?? true) && addAddresses.isEmpty
            && removeAddresses.isEmpty && addRoutes.isEmpty && removeRoutes.isEmpty
    }
}

extension HostNetwork {
    /// Changes an existing link in place as one journaled step: the previous MTU, MAC,
    /// master, bridge options and the addresses it removes are recorded first, so a
    /// rollback (or recovery after a kill) puts them back. Equivalent to
    /// `ip link set NAME mtu N address MAC master BR type bridge ...; ip addr add/del ...;
    /// ip route del ...; ip route add ... dev NAME`. Needs CAP_NET_ADMIN.
    public func changeLink(_ name: String, _ change: LinkSettingsChange, transaction: HostTransaction) throws {
        guard !change.isEmpty else { return }
        let link = try self.link(named: name)
        if let bridge = change.bridge { try bridge.validate() }
        let present = try addresses(index: link.index)
        let removed = present.filter { change.removeAddresses.contains($0.prefix) }
        let record = LinkSettingsRecord(
            name: name, index: link.index, mtu: change.mtu.map { _ in link.mtu }, mac: change.macAddress == nil ? nil : link.macAddress?.description,
            restoreMaster: change.master != nil, master: link.masterIndex,
            bridge: change.bridge != nil ? link.bridge.map(RecordedBridgeSettings.init) : nil,
            addedAddresses: change.addAddresses.map(\.description), removedAddresses: removed.map(RecordedAddress.init),
            addedRoutes: change.addRoutes.map { RecordedRoute($0, moving: link.index) },
            removedRoutes: change.removeRoutes.isEmpty ? nil : change.removeRoutes.map { RecordedRoute($0, moving: link.index) })
        try transaction.record(undo: record)
        try checkpoint("change \(name)", transaction)
        let linkChange = LinkChange(master: change.master, mtu: change.mtu, macAddress: change.macAddress)
        if linkChange != LinkChange() { try setLink(index: link.index, name: name, linkChange) }
        if let bridge = change.bridge, !bridge.isEmpty { try setBridge(name, options: bridge) }
        for address in removed {
            try checkpoint("remove address", transaction)
            try deleteAddress(address, interfaceName: name)
        }
        for prefix in change.addAddresses {
            try checkpoint("add address", transaction)
            try addAddress(InterfaceAddress(index: link.index, prefix: prefix), interfaceName: name)
        }
        for route in change.removeRoutes {
            try checkpoint("delete route", transaction)
            try deleteRoute(route)
        }
        for route in change.addRoutes {
            try checkpoint("add route", transaction)
            var routed = route
            routed.outputIndex = link.index
            try addRoute(routed)
        }
    }

    /// Rolls back a `LinkSettingsRecord`: routes and addresses it added go, routes and
    /// addresses it removed come back, then bridge options, MAC, MTU and master return.
    /// Idempotent.
    func recover(_ record: LinkSettingsRecord, _ context: RecoveryContext) throws -> String? {
        guard context.direction == .rollBack else { return nil }
        guard let link = try linkIfPresent(named: record.name), link.index == record.index else { return nil }
        // Whether the kernel has `route` through this link now (destination, gateway, metric).
        func isPresent(_ route: Route) throws -> Bool {
            try routes(family: route.family, table: route.table).contains {
                $0.outputIndex == link.index && $0.destination == route.destination && $0.gateway == route.gateway && $0.metric == route.metric
            }
        }
        for recorded in record.addedRoutes {
            let route = try recorded.route(outputIndex: link.index)
            if try isPresent(route) { try deleteRoute(route) }
        }
        // Then the routes it replaced or pruned come back, with every attribute they had.
        for recorded in record.removedRoutes ?? [] {
            let route = try recorded.route(outputIndex: link.index)
            if try !isPresent(route) { try addRoute(route) }
        }
        var present = try addresses(index: link.index)
        for text in record.addedAddresses {
            guard let prefix = IPPrefix(text), let address = present.first(where: { $0.prefix == prefix }) else { continue }
            try deleteAddress(address, interfaceName: link.name)
        }
        present = try addresses(index: link.index)
        for recorded in record.removedAddresses {
            let address = try recorded.address(index: link.index)
            if present.contains(where: { $0.prefix == address.prefix }) { continue }
            try addAddress(address, interfaceName: link.name)
        }
        if let bridge = record.bridge {
            let options = bridge.options(from: link.bridge)
            if !options.isEmpty { try setBridge(link.name, options: options) }
        }
        var change = LinkChange()
        if let mtu = record.mtu, mtu != link.mtu { change.mtu = mtu }
        if let mac = record.mac, let parsed = MACAddress(mac), parsed != link.macAddress { change.macAddress = parsed }
        if record.restoreMaster, record.master != link.masterIndex { change.master = record.master.map { .index($0) } ?? LinkChange.Master.none }
        if change != LinkChange() { try setLink(index: link.index, name: link.name, change) }
        context.pause()
        return "\(record.name) has its previous settings again"
    }
}
