import CLinuxNet

/// IFLA_STATS64: `struct rtnl_link_stats64`, the per-link counters `ip -s link show` prints.
///
/// The struct is an array of u64 counters that the kernel only ever extends at the end
/// (rx_nohandler came in 4.6, rx_otherhost_dropped in 5.19), so the payload is kept as its
/// counters in wire order: fields this header does not know survive a round trip, and a
/// shorter payload from an older kernel reads the missing counters as 0.
public struct LinkStatistics64: Equatable, Sendable {
    /// Every counter in wire order (one per 8 bytes of payload).
    public var counters: [UInt64]

    /// The fewest counters a kernel sends: the 23 of Linux 2.6.35 up to 4.5.
    public static let minimumCounterCount = 23

    public init(counters: [UInt64]) { self.counters = counters }

    public init(payload: [UInt8]) throws {
        let space = LinkAttribute.spaceName
        guard payload.count % 8 == 0, payload.count >= Self.minimumCounterCount * 8 else {
            throw WireError.badAttribute(
                space: space, type: u16(IFLA_STATS64),
                reason: "rtnl_link_stats64 is \(payload.count) bytes, expected a multiple of 8 of at least \(Self.minimumCounterCount * 8)")
        }
        var reader = WireReader(payload)
        var counters: [UInt64] = []
        counters.reserveCapacity(payload.count / 8)
        while !reader.isAtEnd { counters.append(try reader.readU64("rtnl_link_stats64 counter")) }
        self.counters = counters
    }

    public var payload: [UInt8] {
        var writer = WireWriter(capacity: counters.count * 8)
        for counter in counters { writer.writeU64(counter) }
        return writer.bytes
    }

    /// The counter at a field of `struct rtnl_link_stats64` (offsets from the UAPI header).
    public subscript(_ field: KeyPath<rtnl_link_stats64, UInt64>) -> UInt64 {
        guard let offset = MemoryLayout<rtnl_link_stats64>.offset(of: field) else { return 0 }
        let index = offset / 8
        return index < counters.count ? counters[index] : 0
    }

    public var rxPackets: UInt64 { self[\.rx_packets] }
    public var txPackets: UInt64 { self[\.tx_packets] }
    public var rxBytes: UInt64 { self[\.rx_bytes] }
    public var txBytes: UInt64 { self[\.tx_bytes] }
    public var rxErrors: UInt64 { self[\.rx_errors] }
    public var txErrors: UInt64 { self[\.tx_errors] }
    public var rxDropped: UInt64 { self[\.rx_dropped] }
    public var txDropped: UInt64 { self[\.tx_dropped] }
    public var multicast: UInt64 { self[\.multicast] }
    public var collisions: UInt64 { self[\.collisions] }
    /// rx_missed_errors: `ip -s link`'s "missed" column.
    public var rxMissed: UInt64 { self[\.rx_missed_errors] }
    public var rxOverErrors: UInt64 { self[\.rx_over_errors] }
    public var txCarrierErrors: UInt64 { self[\.tx_carrier_errors] }
}
