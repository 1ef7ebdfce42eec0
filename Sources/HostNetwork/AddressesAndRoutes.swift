import CLinuxNet
import Netlink
import NetlinkWire
import QNetTypes

/// An address assigned to an interface (`ip addr show`).
public struct InterfaceAddress: Equatable, Sendable {
    public var index: InterfaceIndex
    public var prefix: IPPrefix
    public var scope: UInt8
    /// IFA_F_* flags (permanent, noprefixroute, ...).
    public var flags: UInt32
    public var label: String?
    public var broadcast: IPAddress?
    /// IFA_RT_PRIORITY: the metric of the prefix route.
    public var metric: UInt32?
    /// Lifetimes in seconds (UInt32.max is forever), as DHCP clients set them.
    public var validLifetime: UInt32?
    public var preferredLifetime: UInt32?

    public init(index: InterfaceIndex, prefix: IPPrefix, scope: UInt8 = 0, flags: UInt32 = 0, label: String? = nil,
                broadcast: IPAddress? = nil, metric: UInt32? = nil, validLifetime: UInt32? = nil, preferredLifetime: UInt32? = nil) {
        self.index = index
        self.prefix = prefix
        self.scope = scope
        self.flags = flags
        self.label = label
        self.broadcast = broadcast
        self.metric = metric
        self.validLifetime = validLifetime
        self.preferredLifetime = preferredLifetime
    }

    init?(message: AddressMessage) {
        guard let prefix = message.prefix else { return nil }
        self.index = message.index
        self.prefix = prefix
        self.scope = message.scope
        self.flags = message.allFlags
        self.label = message.label
        self.metric = message.routePriority
        for attribute in message.attributes {
            switch attribute {
            case let .broadcast(ip): broadcast = ip
            case let .cacheInfo(preferred, valid, _, _):
                validLifetime = valid
                preferredLifetime = preferred
            default: break
            }
        }
    }

    public var isPermanent: Bool { flags & UInt32(IFA_F_PERMANENT) != 0 }
    public var isIPv6LinkLocal: Bool {
        if case let .v6(bytes) = prefix.address { return bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 }
        return false
    }

    /// The RTM_NEWADDR/RTM_DELADDR body for this address on interface `index`.
    func message(index: InterfaceIndex, label: String? = nil) -> AddressMessage {
        var message = AddressMessage(family: prefix.address.family, prefixLength: prefix.length,
                                     flags: UInt8(truncatingIfNeeded: flags), scope: scope, index: index)
        message.attributes = [.local(prefix.address), .address(prefix.address)]
        if let broadcast { message.attributes.append(.broadcast(broadcast)) }
        if let label { message.attributes.append(.label(label)) }
        // Only flags a request may set: noprefixroute, nodad, home address, mngtmpaddr,
        // autojoin (the kernel ignores others, but sending its own flags back is noise).
        let settable = UInt32(IFA_F_NOPREFIXROUTE) | UInt32(IFA_F_NODAD) | UInt32(IFA_F_HOMEADDRESS)
            | UInt32(IFA_F_MANAGETEMPADDR) | UInt32(IFA_F_MCAUTOJOIN)
        if flags & settable != 0 { message.attributes.append(.flags(flags & settable)) }
        if let metric { message.attributes.append(.routePriority(metric)) }
        if let validLifetime, let preferredLifetime, validLifetime != UInt32.max {
            message.attributes.append(.cacheInfo(preferred: preferredLifetime, valid: validLifetime, created: 0, updated: 0))
        }
        message.flags = UInt8(truncatingIfNeeded: flags & settable)
        return message
    }
}

/// A route (`ip route show`).
public struct Route: Equatable, Sendable {
    public var destination: IPPrefix?
    public var gateway: IPAddress?
    public var outputIndex: InterfaceIndex?
    public var metric: UInt32?
    public var table: UInt32
    public var routeProtocol: UInt8
    public var scope: UInt8
    public var type: UInt8
    public var preferredSource: IPAddress?
    public var family: AddressFamily
    /// The nexthops of a multipath route (`nexthop via GW dev NAME weight W ...`, RTA_MULTIPATH);
    /// empty for a route with one (then `gateway` and `outputIndex` say where it goes).
    public var nexthops: [Nexthop] = []
    /// RTA_METRICS as the kernel reported it (`mtu 1400`, `initcwnd 10`, ...): nested RTAX_*
    /// attributes, carried unchanged.
    public var metrics: [UInt8]?
    /// `tos`/`dsfield`.
    public var tos: UInt8 = 0
    /// RTNH_F_ONLINK (`onlink`).
    public var onLink = false
    /// RTA_PREF: an IPv6 router preference (`pref high`).
    public var preference: UInt8?
    /// RTA_FLOW: realms (`realm N`).
    public var flow: UInt32?

    /// One nexthop of a multipath route.
    public struct Nexthop: Equatable, Sendable {
        public var gateway: IPAddress?
        public var outputIndex: InterfaceIndex
        /// 1...256 (`weight`).
        public var weight: Int
        public var onLink: Bool
        public var flow: UInt32?

        public init(gateway: IPAddress?, outputIndex: InterfaceIndex, weight: Int = 1, onLink: Bool = false, flow: UInt32? = nil) {
            self.gateway = gateway
            self.outputIndex = outputIndex
            self.weight = weight
            self.onLink = onLink
            self.flow = flow
        }

        init(wire: RouteNexthop) {
            gateway = wire.gateway
            outputIndex = wire.interfaceIndex
            weight = Int(wire.hops) + 1
            onLink = wire.flags & RouteNexthop.flagOnLink != 0
            flow = wire.attributes.lazy.compactMap { if case let .flow(v) = $0 { v } else { nil } }.first
        }

        var wire: RouteNexthop {
            var attributes: [RouteAttribute] = []
            if let gateway { attributes.append(.gateway(gateway)) }
            if let flow { attributes.append(.flow(flow)) }
            return RouteNexthop(flags: onLink ? RouteNexthop.flagOnLink : 0, hops: UInt8(clamping: weight - 1),
                                interfaceIndex: outputIndex, attributes: attributes)
        }
    }

    /// Whether the route sends through `index`: its output interface, or one of its nexthops'.
    public func goesThrough(_ index: InterfaceIndex) -> Bool {
        outputIndex == index || nexthops.contains { $0.outputIndex == index }
    }

    /// Whether it needs a gateway reachable (its own, or a nexthop's).
    public var usesGateway: Bool { gateway != nil || nexthops.contains { $0.gateway != nil } }

    /// The same route sent through `target` wherever it went through `source` (the output
    /// interface, or those nexthops); other nexthops stay.
    public func moved(from source: InterfaceIndex, to target: InterfaceIndex) -> Route {
        var moved = self
        if moved.outputIndex == source { moved.outputIndex = target }
        for index in moved.nexthops.indices where moved.nexthops[index].outputIndex == source {
            moved.nexthops[index].outputIndex = target
        }
        return moved
    }

    /// A route in the main table, as `ip route add` makes it (proto boot).
    public init(destination: IPPrefix?, gateway: IPAddress? = nil, outputIndex: InterfaceIndex? = nil, metric: UInt32? = nil,
                table: UInt32 = UInt32(RouteMessage.mainTable), routeProtocol: UInt8 = RouteMessage.protocolBoot,
                scope: UInt8? = nil, type: UInt8 = RouteMessage.typeUnicast, preferredSource: IPAddress? = nil) {
        self.destination = destination
        self.gateway = gateway
        self.outputIndex = outputIndex
        self.metric = metric
        self.table = table
        self.routeProtocol = routeProtocol
        // Like iproute2: routes through a gateway are universe scope, others link scope.
        self.scope = scope ?? (gateway == nil ? RouteMessage.scopeLink : RouteMessage.scopeUniverse)
        self.type = type
        self.preferredSource = preferredSource
        self.family = destination?.address.family ?? gateway?.family ?? .inet
    }

    init(message: RouteMessage) {
        family = message.family
        if let destination = message.destination {
            self.destination = IPPrefix(address: destination, length: message.destinationLength)
        } else if message.destinationLength == 0 {
            destination = nil
        } else {
            destination = nil
        }
        gateway = message.gateway
        outputIndex = message.outputInterface
        metric = message.priority
        table = message.fullTable
        routeProtocol = message.routeProtocol
        scope = message.scope
        type = message.type
        preferredSource = message.preferredSource
        nexthops = (message.multipath ?? []).map(Nexthop.init(wire:))
        metrics = message.metrics
        tos = message.tos
        onLink = UInt8(truncatingIfNeeded: message.flags) & RouteNexthop.flagOnLink != 0
        preference = message.preference
        flow = message.flow
    }

    public var isDefault: Bool { destination == nil || destination?.length == 0 }

    /// The RTM_NEWROUTE/RTM_DELROUTE body, with `outputIndex` replaced when given.
    func message(outputIndex override: InterfaceIndex? = nil) -> RouteMessage {
        var message = RouteMessage(family: family, destinationLength: destination?.length ?? 0,
                                   table: table < 256 ? UInt8(table) : RouteMessage.unspecifiedTable,
                                   routeProtocol: routeProtocol, scope: scope, type: type)
        if let destination, destination.length > 0 { message.attributes.append(.destination(destination.network)) }
        if table >= 256 { message.attributes.append(.table(table)) }
        if let gateway { message.attributes.append(.gateway(gateway)) }
        if let preferredSource { message.attributes.append(.preferredSource(preferredSource)) }
        if let index = override ?? outputIndex { message.attributes.append(.outputInterface(index)) }
        if let metric { message.attributes.append(.priority(metric)) }
        if !nexthops.isEmpty { message.attributes.append(.multipath(nexthops.map(\.wire))) }
        if let metrics { message.attributes.append(.metrics(metrics)) }
        if let preference { message.attributes.append(.preference(preference)) }
        if let flow { message.attributes.append(.flow(flow)) }
        message.tos = tos
        // Only RTNH_F_ONLINK of the flags a dump shows is the route's own (linkdown, dead,
        // offload and the like are the kernel's view of it).
        if onLink { message.flags = UInt32(RouteNexthop.flagOnLink) }
        return message
    }

    /// The route as `ip route` prints it, with interface names from `names`.
    public func formatted(names: [InterfaceIndex: String] = [:]) -> String {
        var parts = [isDefault ? "default" : destination!.description]
        if let gateway { parts.append("via \(gateway)") }
        if let outputIndex { parts.append("dev \(names[outputIndex] ?? "if\(outputIndex)")") }
        if routeProtocol == RouteMessage.protocolKernel { parts.append("proto kernel") }
        if scope == RouteMessage.scopeLink { parts.append("scope link") }
        if let preferredSource { parts.append("src \(preferredSource)") }
        if let metric { parts.append("metric \(metric)") }
        for nexthop in nexthops {
            parts.append("nexthop" + (nexthop.gateway.map { " via \($0)" } ?? "")
                         + " dev \(names[nexthop.outputIndex] ?? "if\(nexthop.outputIndex)") weight \(nexthop.weight)")
        }
        return parts.joined(separator: " ")
    }
}

extension HostNetwork {
    // MARK: - Addresses

    /// Lists addresses, optionally of one family and one interface. Equivalent to
    /// `ip [-4|-6] addr show [dev NAME]`.
    public func addresses(family: AddressFamily = .unspecified, index: InterfaceIndex? = nil) throws -> [InterfaceAddress] {
        let messages = try perform("listing addresses") {
            try connection.dump(.getAddress, payload: AddressMessage(family: family).encoded())
        }
        var result: [InterfaceAddress] = []
        for message in messages where message.header.type == .newAddress {
            let decoded: AddressMessage
            do { decoded = try AddressMessage(payload: message.payload) } catch let error as WireError {
                throw HostNetworkError.kernel(operation: "decoding an address", .malformedReply(error))
            }
            guard let address = InterfaceAddress(message: decoded) else { continue }
            if let index, address.index != index { continue }
            result.append(address)
        }
        return result
    }

    /// Adds an address. Equivalent to `ip addr add PREFIX dev NAME [metric N]`.
    /// Needs CAP_NET_ADMIN.
    public func addAddress(_ prefix: IPPrefix, to name: String, metric: UInt32? = nil) throws {
        let link = try self.link(named: name)
        try addAddress(InterfaceAddress(index: link.index, prefix: prefix, metric: metric), interfaceName: name)
    }

    /// Adds an address exactly as described (label, lifetimes, flags, metric kept).
    public func addAddress(_ address: InterfaceAddress, interfaceName: String, toIndex index: InterfaceIndex? = nil) throws {
        let target = index ?? address.index
        let label = address.label.flatMap { relabel($0, to: interfaceName) }
        do {
            try connection.execute(.newAddress, flags: [.create, .exclusive],
                                   payload: address.message(index: target, label: label).encoded())
        } catch let error as NetlinkError where error.errno == .fileExists {
            throw HostNetworkError.invalidValue(what: "address", value: address.prefix.description, allowed: "'\(interfaceName)' already has it")
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "ip addr add \(address.prefix) dev \(interfaceName)", error)
        }
    }

    /// Removes an address. Equivalent to `ip addr del PREFIX dev NAME`.
    public func deleteAddress(_ prefix: IPPrefix, from name: String) throws {
        let link = try self.link(named: name)
        let present = try addresses(family: prefix.address.family, index: link.index)
        guard let address = present.first(where: { $0.prefix == prefix }) else {
            throw HostNetworkError.invalidValue(what: "address", value: prefix.description, allowed: "'\(name)' does not have it (see `ip addr show dev \(name)`)")
        }
        try deleteAddress(address, interfaceName: name)
    }

    func deleteAddress(_ address: InterfaceAddress, interfaceName: String) throws {
        try perform("ip addr del \(address.prefix) dev \(interfaceName)") {
            try connection.execute(.delAddress, payload: address.message(index: address.index).encoded())
        }
    }

    /// An IPv4 label names its interface ("eth0:1"); moved to another interface it must
    /// start with that interface's name, or the kernel rejects it.
    private func relabel(_ label: String, to name: String) -> String? {
        if let colon = label.firstIndex(of: ":") { return name + label[colon...] }
        return name
    }

    // MARK: - Routes

    /// Lists routes of one family in one table (main by default). Equivalent to
    /// `ip [-6] route show [table T]`.
    public func routes(family: AddressFamily = .inet, table: UInt32? = UInt32(RouteMessage.mainTable)) throws -> [Route] {
        let messages = try perform("listing routes") {
            try connection.dump(.getRoute, payload: RouteMessage(family: family, table: RouteMessage.unspecifiedTable,
                                                                 routeProtocol: 0, scope: 0, type: 0).encoded())
        }
        var result: [Route] = []
        for message in messages where message.header.type == .newRoute {
            let decoded: RouteMessage
            do { decoded = try RouteMessage(payload: message.payload) } catch let error as WireError {
                throw HostNetworkError.kernel(operation: "decoding a route", .malformedReply(error))
            }
            let route = Route(message: decoded)
            if let table, route.table != table { continue }
            result.append(route)
        }
        return result
    }

    /// Adds a route. Equivalent to `ip route add DEST [via GW] [dev NAME] [metric N]`.
    public func addRoute(_ route: Route) throws {
        do {
            try connection.execute(.newRoute, flags: [.create, .exclusive], payload: route.message().encoded())
        } catch let error as NetlinkError where error.errno == .fileExists {
            throw HostNetworkError.invalidValue(what: "route", value: route.formatted(), allowed: "an identical route already exists")
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "ip route add \(route.formatted())", error)
        }
    }

    /// Deletes a route. Equivalent to `ip route del DEST [via GW] [dev NAME] [metric N]`.
    public func deleteRoute(_ route: Route) throws {
        try perform("ip route del \(route.formatted())") {
            try connection.execute(.delRoute, payload: route.message().encoded())
        }
    }
}
