import QNetTypes

/// A bridge and its ports, from one link dump.
public struct BridgeWithPorts: Sendable {
    public var bridge: Link
    /// In name order.
    public var ports: [Link]
}

extension HostNetwork {
    /// Every bridge in `links` (name order) with its ports, or only `bridge` when given. Reads
    /// nothing: `links` is one dump (`ip -d link show`, or `ip -s link show` for counters).
    /// Equivalent to `bridge link show` grouped by master. Throws when `bridge` is missing or
    /// not a bridge.
    public static func bridgesWithPorts(_ links: [Link], only bridge: String? = nil) throws -> [BridgeWithPorts] {
        var bridges = links.filter(\.isBridge).sorted { $0.name < $1.name }
        if let bridge {
            guard let link = links.first(where: { $0.name == bridge }) else { throw HostNetworkError.noSuchDevice(bridge) }
            guard link.isBridge else { throw HostNetworkError.notABridge(bridge, kind: link.kind) }
            bridges = [link]
        }
        var portsByMaster: [InterfaceIndex: [Link]] = [:]
        for link in links { if let master = link.masterIndex { portsByMaster[master, default: []].append(link) } }
        return bridges.map { BridgeWithPorts(bridge: $0, ports: (portsByMaster[$0.index] ?? []).sorted { $0.name < $1.name }) }
    }

    /// One bridge and its ports, read with two requests: the bridge by name, then a dump
    /// filtered by master (``links(master:)``), so a host with many other links costs the
    /// kernel nothing for them. Equivalent to `ip -d link show master BR`. Throws as
    /// ``bridgesWithPorts(_:only:)`` does when `bridge` is missing or not a bridge.
    public func bridgeWithPorts(named bridge: String) throws -> BridgeWithPorts {
        let link = try self.link(named: bridge)
        guard link.isBridge else { throw HostNetworkError.notABridge(bridge, kind: link.kind) }
        return BridgeWithPorts(bridge: link, ports: try links(master: link.index).sorted { $0.name < $1.name })
    }
}
