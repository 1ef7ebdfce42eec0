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
}
