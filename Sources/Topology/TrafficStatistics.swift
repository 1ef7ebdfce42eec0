import HostNetwork
import NetlinkWire
import QNetTypes
import VirtualMachines

/// One direction's counters of a link, from IFLA_STATS64.
public struct DirectionCounters: Equatable, Sendable, Encodable {
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public var errors: UInt64 = 0
    public var dropped: UInt64 = 0

    public init(packets: UInt64 = 0, bytes: UInt64 = 0, errors: UInt64 = 0, dropped: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
        self.errors = errors
        self.dropped = dropped
    }

    /// Adds without trapping: a sum of counters that wraps is still a counter.
    static func + (a: DirectionCounters, b: DirectionCounters) -> DirectionCounters {
        DirectionCounters(packets: a.packets &+ b.packets, bytes: a.bytes &+ b.bytes,
                          errors: a.errors &+ b.errors, dropped: a.dropped &+ b.dropped)
    }
}

/// A link's receive and transmit counters (`ip -s link show dev NAME`).
public struct LinkCounters: Equatable, Sendable, Encodable {
    public var rx = DirectionCounters()
    public var tx = DirectionCounters()

    public init(rx: DirectionCounters = DirectionCounters(), tx: DirectionCounters = DirectionCounters()) {
        self.rx = rx
        self.tx = tx
    }

    public init(_ statistics: LinkStatistics64?) {
        guard let s = statistics else { self.init(); return }
        self.init(rx: DirectionCounters(packets: s.rxPackets, bytes: s.rxBytes, errors: s.rxErrors, dropped: s.rxDropped),
                  tx: DirectionCounters(packets: s.txPackets, bytes: s.txBytes, errors: s.txErrors, dropped: s.txDropped))
    }

    static func + (a: LinkCounters, b: LinkCounters) -> LinkCounters { LinkCounters(rx: a.rx + b.rx, tx: a.tx + b.tx) }
}

/// A bridge port's counters, with the VM whose NIC it is (from the TAP's alias).
public struct PortTraffic: Equatable, Sendable, Encodable {
    public var name: String
    public var index: InterfaceIndex
    /// The qnet VM whose TAP this is, and its NIC index; nil for other ports.
    public var vm: String?
    public var nic: Int?
    public var counters: LinkCounters

    enum CodingKeys: String, CodingKey { case name, vm, nic, rx, tx }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        if let vm { try container.encode(vm, forKey: .vm) } else { try container.encodeNil(forKey: .vm) }
        if let nic { try container.encode(nic, forKey: .nic) } else { try container.encodeNil(forKey: .nic) }
        try container.encode(counters.rx, forKey: .rx)
        try container.encode(counters.tx, forKey: .tx)
    }
}

/// A bridge's ports' counters and their sum (`ip -s link show master BRIDGE`).
public struct BridgeTraffic: Equatable, Sendable, Encodable {
    public var name: String
    /// The bridge device's own counters (traffic to and from the host itself).
    public var own: LinkCounters
    public var ports: [PortTraffic]
    /// The sum over the ports.
    public var portTotal: LinkCounters { ports.reduce(LinkCounters()) { $0 + $1.counters } }

    enum CodingKeys: String, CodingKey { case name, own, ports, portTotal }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(own, forKey: .own)
        try container.encode(ports, forKey: .ports)
        try container.encode(portTotal, forKey: .portTotal)
    }
}

extension HostNetwork {
    /// Each bridge's per-port counters, bridges and ports in name order; only `bridge` when
    /// given. Equivalent to `ip -s link show master BRIDGE` for every bridge. Needs no capability.
    public func bridgeTraffic(bridge: String? = nil) throws -> [BridgeTraffic] {
        try BridgeTraffic.group(linkStatistics(), bridge: bridge)
    }
}

extension BridgeTraffic {
    /// Groups links (with statistics) by bridge. Throws when `bridge` names no bridge.
    public static func group(_ links: [Link], bridge: String?) throws -> [BridgeTraffic] {
        try HostNetwork.bridgesWithPorts(links, only: bridge).map { entry in
            let ports = entry.ports.map { port in
                let alias = VMTapAlias(port.alias)
                return PortTraffic(name: port.name, index: port.index, vm: alias?.vm, nic: alias?.nicIndex,
                                   counters: LinkCounters(port.statistics))
            }
            return BridgeTraffic(name: entry.bridge.name, own: LinkCounters(entry.bridge.statistics), ports: ports)
        }
    }
}
