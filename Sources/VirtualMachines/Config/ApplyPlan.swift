import Glibc
import HostNetwork
import QNetSystem
import QNetTypes

/// The alias qnet gives the devices `qnet apply` creates, so `--prune` finds them again
/// (a bridge that took an uplink carries `qnet:uplink=NAME` instead).
public let configAlias = "qnet:config"

/// One change `qnet apply` makes to bring the host to its configuration.
public enum PlannedChange: Equatable, Sendable, CustomStringConvertible {
    case createBridge(BridgeConfig)
    case changeLink(name: String, LinkSettingsChange, summary: [String])
    case attach(port: String, bridge: String)
    case createTAP(TapConfig)
    case deleteBridge(String)
    case deleteTAP(String)
    case defineNetwork(NetworkDefinition, replacing: Bool)
    case startNetwork(String)
    case startVM(VMDefinition)

    /// Whether the change is to links (made in the one host transaction) rather than to a
    /// network or VM (each started under its own locks afterwards).
    public var isLinkChange: Bool {
        switch self {
        case .createBridge, .changeLink, .attach, .createTAP, .deleteBridge, .deleteTAP: true
        case .defineNetwork, .startNetwork, .startVM: false
        }
    }

    /// `--prune`'s deletions, made after everything else (they cannot be undone).
    public var isDeletion: Bool {
        switch self {
        case .deleteBridge, .deleteTAP: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .createBridge(bridge):
            var parts: [String] = []
            if let uplink = bridge.uplink { parts.append("uplink \(uplink)" + (bridge.addressing == .keepUplink ? " (its addresses and routes move)" : "")) }
            let options = bridge.options.withSafeDefaults
            parts.append("stp \(options.stp == true ? "on" : "off"), forward delay \(formatSeconds(options.forwardDelay ?? 0, maximumDecimals: 2)) s")
            if let mtu = bridge.mtu { parts.append("mtu \(mtu)") }
            if let mac = bridge.mac { parts.append("mac \(mac)") }
            if case let .list(prefixes) = bridge.addressing, !prefixes.isEmpty { parts.append("addresses " + prefixes.map(\.description).joined(separator: " ")) }
            if !bridge.routes.isEmpty { parts.append("routes " + bridge.routes.map(ApplyPlanner.describe).joined(separator: ", ")) }
            return "+ create bridge \(bridge.name): " + parts.joined(separator: "; ")
        case let .changeLink(name, _, summary): return "~ \(name): " + summary.joined(separator: "; ")
        case let .attach(port, bridge): return "~ \(port): attach to \(bridge)"
        case let .createTAP(tap):
            var parts = ["persistent"]
            if let bridge = tap.bridge { parts.append("bridge \(bridge)") }
            if let owner = tap.owner { parts.append("owner \(owner)") }
            if let group = tap.group { parts.append("group \(group)") }
            if tap.vnetHeader { parts.append("vnet_hdr") }
            if tap.queues > 1 { parts.append("\(tap.queues) queues") }
            if let mtu = tap.mtu { parts.append("mtu \(mtu)") }
            return "+ create TAP \(tap.name): " + parts.joined(separator: ", ")
        case let .deleteBridge(name): return "- delete bridge \(name) (made by qnet, no longer declared)"
        case let .deleteTAP(name): return "- delete TAP \(name) (made by qnet, no longer declared)"
        case let .defineNetwork(definition, replacing): return "\(replacing ? "~ redefine" : "+ define") network \(definition.name) (\(definition.mode.rawValue), bridge \(definition.bridge))"
        case let .startNetwork(name): return "> start network \(name)"
        case let .startVM(definition): return "> start VM \(definition.name)"
        }
    }
}

/// What `qnet apply` would do: the changes in order, and notes (differences it will not
/// change by itself, with what to do).
public struct ApplyPlan: Equatable, Sendable {
    public var changes: [PlannedChange] = []
    public var notes: [String] = []
    public var isEmpty: Bool { changes.isEmpty }
}

/// Why a configuration cannot be applied. A failed operation (exit status 1).
public struct ApplyError: UserFacingError, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Compares the configuration with the host and lists the changes. Reads only (link,
/// address and route dumps): nothing is sent that changes the kernel.
public struct ApplyPlanner {
    public let host: HostNetwork
    public let store: NetworkStore
    /// Names of VMs running now (autostart VMs among them are left alone).
    public var runningVMs: Set<String>

    public init(host: HostNetwork, store: NetworkStore = NetworkStore(), runningVMs: Set<String> = []) {
        self.host = host
        self.store = store
        self.runningVMs = runningVMs
    }

    public func plan(_ configuration: HostConfiguration, prune: Bool = false) throws -> ApplyPlan {
        var plan = ApplyPlan()
        let links = try host.links()
        let byName = Dictionary(links.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for bridge in configuration.bridges {
            if let link = byName[bridge.name] {
                guard link.isBridge else { throw ApplyError("\(bridge.name) exists and is not a bridge (its kind is \(link.kind?.description ?? "none")); rename or delete it") }
                try planExisting(bridge, link, byName, prune: prune, into: &plan)
            } else {
                if let uplinkName = bridge.uplink {
                    guard let uplink = byName[uplinkName] else { throw ApplyError("bridge \(bridge.name): its uplink \(uplinkName) does not exist (see `ip link`)") }
                    if let dhcp = try host.dhcpUse(of: uplink) { throw ApplyError("bridge \(bridge.name): \(dhcp)") }
                }
                plan.changes.append(.createBridge(bridge))
            }
        }
        let declaredBridges = Set(configuration.bridges.map(\.name))
        for tap in configuration.taps {
            if let bridge = tap.bridge, byName[bridge] == nil, !declaredBridges.contains(bridge) {
                throw ApplyError("TAP \(tap.name): its bridge \(bridge) neither exists nor is declared in bridges/")
            }
            guard let link = byName[tap.name] else { plan.changes.append(.createTAP(tap)); continue }
            guard link.isTAP else { throw ApplyError("\(tap.name) exists and is not a TAP (its kind is \(link.kind?.description ?? "none")); rename or delete it") }
            if let bridge = tap.bridge, link.masterIndex != byName[bridge]?.index { plan.changes.append(.attach(port: tap.name, bridge: bridge)) }
            if let mtu = tap.mtu, mtu != link.mtu {
                plan.changes.append(.changeLink(name: tap.name, LinkSettingsChange(mtu: mtu), summary: ["mtu \(link.mtu) → \(mtu)"]))
            }
            if let tun = link.tun, tun.vnetHeader != tap.vnetHeader {
                plan.notes.append("TAP \(tap.name) has vnet_hdr \(tun.vnetHeader ? "on" : "off"), declared \(tap.vnetHeader ? "on" : "off"): a TAP's flags cannot change; delete it (`qnet tap delete \(tap.name)`) and apply again")
            }
        }
        for network in configuration.networks {
            let stored = try store.definitionIfPresent(network.definition.name)
            if let stored {
                if !Self.matches(network.definition, stored) {
                    if store.isActive(stored.name) {
                        plan.notes.append("network \(stored.name) runs with a definition that differs from \(QNetPaths.configuration)/networks/\(stored.name).yaml; stop it (`qnet net stop \(stored.name)`) and apply again")
                    } else {
                        plan.changes.append(.defineNetwork(network.definition, replacing: true))
                    }
                }
            } else {
                plan.changes.append(.defineNetwork(network.definition, replacing: false))
            }
            if network.autostart, !store.isActive(network.definition.name) { plan.changes.append(.startNetwork(network.definition.name)) }
        }
        for vm in configuration.vms where vm.autostart && !runningVMs.contains(vm.definition.name) {
            plan.changes.append(.startVM(vm.definition))
        }
        // Last, as they are made: deletions cannot be undone, so they follow the one
        // transaction that makes everything else.
        if prune {
            let networkBridges = Set(try store.definitions().map(\.bridge))
            let declared = declaredBridges.union(configuration.taps.map(\.name))
            for link in links where !declared.contains(link.name) && !networkBridges.contains(link.name) {
                guard let alias = link.alias, alias == configAlias || (link.isBridge && alias.hasPrefix("qnet:uplink=")) else { continue }
                plan.changes.append(link.isBridge ? .deleteBridge(link.name) : .deleteTAP(link.name))
            }
        }
        return plan
    }

    /// The in-place changes that bring an existing bridge to its declaration.
    func planExisting(_ bridge: BridgeConfig, _ link: Link, _ byName: [String: Link], prune: Bool = false, into plan: inout ApplyPlan) throws {
        var change = LinkSettingsChange()
        var summary: [String] = []
        let current = link.bridge
        var options = BridgeOptions()
        let seconds = { (value: Double) in formatSeconds(value, maximumDecimals: 2) }
        func differs(_ declared: Double?, _ actual: Double?) -> Bool {
            guard let declared else { return false }
            return abs(declared - (actual ?? -1)) > 0.005
        }
        if let stp = bridge.stp, stp != current?.stpEnabled {
            options.stp = stp
            summary.append("stp \(current?.stpEnabled == true ? "on" : "off") → \(stp ? "on" : "off")")
        }
        if differs(bridge.forwardDelay, current?.forwardDelay) {
            options.forwardDelay = bridge.forwardDelay
            summary.append("forward delay \(seconds(current?.forwardDelay ?? 0)) → \(seconds(bridge.forwardDelay!)) s")
        }
        // STP on needs a forward delay the kernel accepts (2-30 s): when neither the file
        // nor the bridge has one, the nearest valid value.
        if options.stp == true, options.forwardDelay == nil, let delay = current?.forwardDelay, !BridgeOptions.stpForwardDelayRange.contains(delay) {
            let nearest = min(max(delay, BridgeOptions.stpForwardDelayRange.lowerBound), BridgeOptions.stpForwardDelayRange.upperBound)
            options.forwardDelay = nearest
            summary.append("forward delay \(seconds(delay)) → \(seconds(nearest)) s (the kernel needs 2 to 30 s with STP on)")
        }
        if differs(bridge.helloTime, current?.helloTime) { options.helloTime = bridge.helloTime; summary.append("hello time → \(seconds(bridge.helloTime!)) s") }
        if differs(bridge.maxAge, current?.maxAge) { options.maxAge = bridge.maxAge; summary.append("max age → \(seconds(bridge.maxAge!)) s") }
        if differs(bridge.ageingTime, current?.ageingTime) { options.ageingTime = bridge.ageingTime; summary.append("ageing time → \(seconds(bridge.ageingTime!)) s") }
        if let priority = bridge.priority, priority != current?.priority { options.priority = priority; summary.append("priority → \(priority)") }
        if let vlan = bridge.vlanFiltering, vlan != current?.vlanFiltering { options.vlanFiltering = vlan; summary.append("vlan filtering → \(vlan ? "on" : "off")") }
        if !options.isEmpty { change.bridge = options }
        if let mtu = bridge.mtu, mtu != link.mtu { change.mtu = mtu; summary.append("mtu \(link.mtu) → \(mtu)") }
        if let mac = bridge.mac, mac != link.macAddress { change.macAddress = mac; summary.append("mac \(link.macAddress?.description ?? "none") → \(mac)") }
        if case let .list(declared) = bridge.addressing {
            let present = try host.addresses(index: link.index).filter { $0.prefix.address.isIPv4 || (!$0.isIPv6LinkLocal && $0.isPermanent) }.map(\.prefix)
            change.addAddresses = declared.filter { !present.contains($0) }
            change.removeAddresses = present.filter { !declared.contains($0) }
            summary += change.removeAddresses.map { "remove address \($0)" } + change.addAddresses.map { "add address \($0)" }
        }
        let routes = try reconcileRoutes(bridge.routes, on: link, prune: prune)
        change.addRoutes = routes.add
        change.removeRoutes = routes.remove
        summary += routes.summary
        if !change.isEmpty { plan.changes.append(.changeLink(name: bridge.name, change, summary: summary)) }
        if let uplinkName = bridge.uplink {
            guard let uplink = byName[uplinkName] else { throw ApplyError("bridge \(bridge.name): its uplink \(uplinkName) does not exist (see `ip link`)") }
            if uplink.masterIndex != link.index {
                if let master = uplink.masterIndex {
                    throw ApplyError("bridge \(bridge.name): its uplink \(uplinkName) belongs to \(byName.values.first { $0.index == master }?.name ?? "interface \(master)"); detach it first")
                }
                let movable = try host.addresses(index: uplink.index).filter { $0.prefix.address.isIPv4 || (!$0.isIPv6LinkLocal && $0.isPermanent) }
                guard movable.isEmpty else {
                    throw ApplyError("bridge \(bridge.name) exists but its uplink \(uplinkName) is not its port and still has \(movable.map { $0.prefix.description }.joined(separator: ", ")); delete the bridge (`qnet bridge delete \(bridge.name)`) and apply again, so the move is one transaction")
                }
                plan.changes.append(.attach(port: uplinkName, bridge: bridge.name))
            }
        }
    }

    /// The route changes that bring the routes through `link` to `declared`:
    /// - a declared route that is missing is added (marked `proto qnet`, see `routeProtocol`);
    /// - one whose destination and table are there with another gateway or metric is
    ///   replaced (deleted and added: the metric is part of the kernel's key for a route);
    /// - with `prune`, routes qnet made (`proto qnet`) that are no longer declared go.
    /// Any other route (the kernel's prefix routes, routes an admin or an uplink move made)
    /// is never touched unless declared.
    func reconcileRoutes(_ declared: [RouteConfig], on link: Link, prune: Bool) throws -> (add: [Route], remove: [Route], summary: [String]) {
        var add: [Route] = []
        var remove: [Route] = []
        var summary: [String] = []
        let present = try (host.routes(family: .inet, table: nil) + host.routes(family: .inet6, table: nil))
            .filter { $0.outputIndex == link.index || $0.nexthops.contains { $0.outputIndex == link.index } }
        func sameKey(_ route: Route, _ wanted: Route) -> Bool {
            route.family == wanted.family && route.table == wanted.table && route.nexthops.isEmpty
                && (route.destination ?? wanted.destination) == wanted.destination
        }
        var keep: [Route] = []
        for config in declared {
            var wanted = config.route(outputIndex: link.index)
            wanted.routeProtocol = routeProtocol
            let candidates = present.filter { sameKey($0, wanted) }
            if let match = candidates.first(where: { $0.gateway == wanted.gateway && (config.metric == nil || $0.metric == config.metric) }) {
                keep.append(match)
                continue
            }
            // The declared route, changed: the one qnet made if there is one, else the first.
            if let old = candidates.first(where: { $0.routeProtocol == routeProtocol }) ?? candidates.first {
                remove.append(old)
                summary.append("change route \(Self.describe(config)) (was via \(old.gateway?.description ?? "none"), metric \(old.metric ?? 0))")
            } else {
                summary.append("add route \(Self.describe(config))")
            }
            add.append(wanted)
        }
        if prune {
            for route in present where route.routeProtocol == routeProtocol && !keep.contains(route) && !remove.contains(route) {
                remove.append(route)
                summary.append("delete route \(route.formatted(names: [link.index: link.name])) (made by qnet, no longer declared)")
            }
        }
        return (add, remove, summary)
    }

    /// `rtm_protocol` of the routes `apply` adds (`ip route show proto 113`), so `--prune`
    /// tells them from routes an admin, a DHCP client or the kernel made. 113 is in the
    /// range no routing daemon registers in iproute2's rt_protos (RTPROT_STATIC, 4, would
    /// look like NetworkManager's and systemd-networkd's own).
    public static let routeProtocolNumber: UInt8 = 113
    var routeProtocol: UInt8 { Self.routeProtocolNumber }

    static func describe(_ route: RouteConfig) -> String {
        var text = route.to?.description ?? "default"
        if let via = route.via { text += " via \(via)" }
        if let metric = route.metric { text += " metric \(metric)" }
        if let table = route.table { text += " table \(table)" }
        return text
    }

    /// Whether a stored definition is what the file declares (fields the file leaves to
    /// qnet, such as a chosen subnet or interface group, match anything).
    static func matches(_ declared: NetworkDefinition, _ stored: NetworkDefinition) -> Bool {
        var filled = declared
        filled.subnet = declared.subnet ?? stored.subnet
        filled.gateway = declared.gateway ?? stored.gateway
        filled.dhcpStart = declared.dhcpStart ?? stored.dhcpStart
        filled.dhcpEnd = declared.dhcpEnd ?? stored.dhcpEnd
        if declared.interfaceGroup == 0 { filled.interfaceGroup = stored.interfaceGroup }
        // A vxlan network's MTU is derived from its underlay when the network is created
        // (prepareVXLAN: the underlay's minus 50 or 70 bytes), never taken from the file, so a
        // file without `mtu:` (decoded as 1450) matches a network on an IPv6 or jumbo underlay.
        if filled.vxlan != nil, let storedMTU = stored.vxlan?.mtu { filled.vxlan?.mtu = storedMTU }
        return filled == stored
    }
}
