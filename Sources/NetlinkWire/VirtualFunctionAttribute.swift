import CLinuxNet

// SR-IOV virtual function settings (IFLA_VFINFO_LIST, IFLA_VF_*), as `ip link set PF vf N ...`
// sends them and `ip link show PF` prints them. Every fixed-size payload is one of the UAPI
// structures of <linux/if_link.h> (`struct ifla_vf_mac`, `ifla_vf_vlan`, ...): sizes and field
// offsets come from the header through the C shim (MemoryLayout of the imported structs),
// never from numbers written here.
//
// Kernel quirks:
// - Every nest in this space is sent without NLA_F_NESTED, by the kernel (nla_nest_start_noflag)
//   and by iproute2 alike.
// - A payload may be longer than the structure this header knows (the kernel's policy gives a
//   minimum length): the fields known here are read at their offsets, the rest is ignored.
// - `vlan_proto` in `struct ifla_vf_vlan_info` is big-endian (__be16); everything else is host order.

/// Reads and writes the u32/be16 fields of a fixed-size UAPI structure at the offsets the
/// header gives them.
struct UAPIStructure<Layout> {
    static var size: Int { MemoryLayout<Layout>.size }

    static func offset(_ field: PartialKeyPath<Layout>) -> Int {
        // Every field named here is a stored field of an imported C struct, which always
        // has an offset; 0 is unreachable and would only misplace a field, never trap.
        MemoryLayout<Layout>.offset(of: field) ?? 0
    }

    /// Checks that `payload` holds at least the whole structure.
    static func check(_ payload: [UInt8], space: String, type: UInt16, name: String) throws {
        guard payload.count >= size else {
            throw WireError.badAttribute(space: space, type: type, reason: "\(name) is \(payload.count) bytes, expected at least \(size)")
        }
    }

    static func u32(_ payload: [UInt8], _ field: PartialKeyPath<Layout>) throws -> UInt32 {
        var reader = WireReader(payload)
        try reader.skip(offset(field), "\(Layout.self) field offset")
        return try reader.readU32("\(Layout.self) field")
    }

    static func be16(_ payload: [UInt8], _ field: PartialKeyPath<Layout>) throws -> UInt16 {
        var reader = WireReader(payload)
        try reader.skip(offset(field), "\(Layout.self) field offset")
        return try reader.readU16BigEndian("\(Layout.self) field")
    }

    static func bytes(_ payload: [UInt8], _ field: PartialKeyPath<Layout>, count: Int) throws -> [UInt8] {
        var reader = WireReader(payload)
        try reader.skip(offset(field), "\(Layout.self) field offset")
        return try reader.readBytes(count, "\(Layout.self) field")
    }

    /// A zeroed structure with the given u32 fields set.
    static func encode(_ fields: [(PartialKeyPath<Layout>, UInt32)], be16 bigEndian: [(PartialKeyPath<Layout>, UInt16)] = [],
                       bytes raw: [(PartialKeyPath<Layout>, [UInt8])] = []) -> [UInt8] {
        var writer = WireWriter(capacity: size)
        writer.writeBytes([UInt8](repeating: 0, count: size))
        for (field, value) in fields { writer.patchU32(at: offset(field), value) }
        var bytes = writer.bytes
        for (field, value) in bigEndian {
            bytes[offset(field)] = UInt8(value >> 8)
            bytes[offset(field) + 1] = UInt8(value & 0xff)
        }
        for (field, value) in raw {
            let start = offset(field)
            for (index, byte) in value.prefix(size - start).enumerated() { bytes[start + index] = byte }
        }
        return bytes
    }
}

/// `struct ifla_vf_mac`'s address field: MAX_ADDR_LEN (32) bytes, of which an Ethernet VF uses 6.
public let vfMACFieldLength = MemoryLayout.size(ofValue: ifla_vf_mac().mac)

/// One VLAN of IFLA_VF_VLAN_LIST (`struct ifla_vf_vlan_info`): `ip link set PF vf N vlan ID qos Q proto P`.
public struct VFVLANInfo: Equatable, Sendable {
    public var vf: UInt32
    /// 0-4095; 0 turns VLAN insertion and filtering off.
    public var vlan: UInt32
    /// The 802.1p priority, 0-7.
    public var qos: UInt32
    /// The EtherType of the tag: ETH_P_8021Q (0x8100) or ETH_P_8021AD (0x88a8).
    public var proto: UInt16

    public init(vf: UInt32, vlan: UInt32, qos: UInt32, proto: UInt16) {
        self.vf = vf
        self.vlan = vlan
        self.qos = qos
        self.proto = proto
    }

    /// ETH_P_8021Q: the customer tag (`proto 802.1Q`, the default).
    public static let proto8021Q = UInt16(ETH_P_8021Q)
    /// ETH_P_8021AD: the service tag of QinQ (`proto 802.1ad`).
    public static let proto8021AD = UInt16(ETH_P_8021AD)
}

/// Entries of IFLA_VF_VLAN_LIST (IFLA_VF_VLAN_INFO; the kernel takes at most MAX_VLAN_LIST_LEN).
public enum VFVLANListAttribute: AttributeSpace {
    case info(VFVLANInfo)
    case unknown(RawAttribute)

    public static let spaceName = "IFLA_VF_VLAN_LIST"
    typealias Layout = UAPIStructure<ifla_vf_vlan_info>

    public init(raw: RawAttribute) throws {
        guard raw.type == u16(IFLA_VF_VLAN_INFO) else { self = .unknown(raw); return }
        try Layout.check(raw.payload, space: Self.spaceName, type: raw.type, name: "ifla_vf_vlan_info")
        self = .info(VFVLANInfo(vf: try Layout.u32(raw.payload, \.vf), vlan: try Layout.u32(raw.payload, \.vlan),
                                qos: try Layout.u32(raw.payload, \.qos), proto: try Layout.be16(raw.payload, \.vlan_proto)))
    }

    public var raw: RawAttribute {
        switch self {
        case let .info(info):
            attr(IFLA_VF_VLAN_INFO, Layout.encode([(\.vf, info.vf), (\.vlan, info.vlan), (\.qos, info.qos)], be16: [(\.vlan_proto, info.proto)]))
        case let .unknown(raw): raw
        }
    }
}

/// Counters of IFLA_VF_STATS (IFLA_VF_STATS_*), each a u64 (`ip -s link show PF`).
public enum VFStatisticsAttribute: AttributeSpace {
    case rxPackets(UInt64)
    case txPackets(UInt64)
    case rxBytes(UInt64)
    case txBytes(UInt64)
    case broadcast(UInt64)
    case multicast(UInt64)
    case rxDropped(UInt64)
    case txDropped(UInt64)
    /// IFLA_VF_STATS_PAD (alignment filler on some architectures) and counters newer than this header.
    case unknown(RawAttribute)

    public static let spaceName = "IFLA_VF_STATS"

    public init(raw: RawAttribute) throws {
        let space = Self.spaceName
        switch Int(raw.type) {
        case Int(IFLA_VF_STATS_RX_PACKETS): self = .rxPackets(try raw.asU64(space))
        case Int(IFLA_VF_STATS_TX_PACKETS): self = .txPackets(try raw.asU64(space))
        case Int(IFLA_VF_STATS_RX_BYTES): self = .rxBytes(try raw.asU64(space))
        case Int(IFLA_VF_STATS_TX_BYTES): self = .txBytes(try raw.asU64(space))
        case Int(IFLA_VF_STATS_BROADCAST): self = .broadcast(try raw.asU64(space))
        case Int(IFLA_VF_STATS_MULTICAST): self = .multicast(try raw.asU64(space))
        case Int(IFLA_VF_STATS_RX_DROPPED): self = .rxDropped(try raw.asU64(space))
        case Int(IFLA_VF_STATS_TX_DROPPED): self = .txDropped(try raw.asU64(space))
        default: self = .unknown(raw)
        }
    }

    public var raw: RawAttribute {
        switch self {
        case let .rxPackets(value): attr(IFLA_VF_STATS_RX_PACKETS, AttributePayload.u64(value))
        case let .txPackets(value): attr(IFLA_VF_STATS_TX_PACKETS, AttributePayload.u64(value))
        case let .rxBytes(value): attr(IFLA_VF_STATS_RX_BYTES, AttributePayload.u64(value))
        case let .txBytes(value): attr(IFLA_VF_STATS_TX_BYTES, AttributePayload.u64(value))
        case let .broadcast(value): attr(IFLA_VF_STATS_BROADCAST, AttributePayload.u64(value))
        case let .multicast(value): attr(IFLA_VF_STATS_MULTICAST, AttributePayload.u64(value))
        case let .rxDropped(value): attr(IFLA_VF_STATS_RX_DROPPED, AttributePayload.u64(value))
        case let .txDropped(value): attr(IFLA_VF_STATS_TX_DROPPED, AttributePayload.u64(value))
        case let .unknown(raw): raw
        }
    }
}

/// One VF's attributes inside IFLA_VF_INFO (IFLA_VF_*). Each fixed-size attribute starts with
/// the VF's index (`vf`), which is what a request addresses.
public enum VFAttribute: AttributeSpace {
    /// IFLA_VF_MAC (`struct ifla_vf_mac`): `address` is the structure's whole MAX_ADDR_LEN
    /// field when decoded; a shorter one is zero-padded when encoded. `vf N mac M`.
    case mac(vf: UInt32, address: [UInt8])
    /// IFLA_VF_VLAN (`struct ifla_vf_vlan`): an 802.1Q VLAN and priority. `vf N vlan ID qos Q`.
    case vlan(vf: UInt32, vlan: UInt32, qos: UInt32)
    /// IFLA_VF_VLAN_LIST: VLANs with their protocol. `vf N vlan ID qos Q proto 802.1ad`.
    case vlanList([VFVLANListAttribute])
    /// IFLA_VF_TX_RATE (`struct ifla_vf_tx_rate`): the legacy maximum rate in Mbit/s. `vf N rate R`.
    case txRate(vf: UInt32, rate: UInt32)
    /// IFLA_VF_RATE (`struct ifla_vf_rate`): minimum and maximum rate in Mbit/s (0: no limit).
    /// `vf N min_tx_rate MIN max_tx_rate MAX`.
    case rate(vf: UInt32, minimum: UInt32, maximum: UInt32)
    /// IFLA_VF_SPOOFCHK (`struct ifla_vf_spoofchk`): 1 drops frames from other source MACs.
    case spoofCheck(vf: UInt32, setting: UInt32)
    /// IFLA_VF_LINK_STATE (`struct ifla_vf_link_state`): IFLA_VF_LINK_STATE_AUTO/ENABLE/DISABLE.
    case linkState(vf: UInt32, state: UInt32)
    /// IFLA_VF_RSS_QUERY_EN (`struct ifla_vf_rss_query_en`): whether the VF may query RSS.
    case rssQuery(vf: UInt32, setting: UInt32)
    /// IFLA_VF_TRUST (`struct ifla_vf_trust`): a trusted VF may change its MAC and go promiscuous.
    case trust(vf: UInt32, setting: UInt32)
    /// IFLA_VF_STATS: the VF's counters (only in replies to requests without RTEXT_FILTER_SKIP_STATS).
    case statistics([VFStatisticsAttribute])
    /// IFLA_VF_BROADCAST, IFLA_VF_IB_*_GUID and anything newer, kept byte for byte.
    case unknown(RawAttribute)

    public static let spaceName = "IFLA_VF"

    public init(raw: RawAttribute) throws {
        let space = Self.spaceName
        let payload = raw.payload
        switch Int(raw.type) {
        case Int(IFLA_VF_MAC):
            typealias L = UAPIStructure<ifla_vf_mac>
            try L.check(payload, space: space, type: raw.type, name: "ifla_vf_mac")
            self = .mac(vf: try L.u32(payload, \.vf), address: try L.bytes(payload, \.mac, count: vfMACFieldLength))
        case Int(IFLA_VF_VLAN):
            typealias L = UAPIStructure<ifla_vf_vlan>
            try L.check(payload, space: space, type: raw.type, name: "ifla_vf_vlan")
            self = .vlan(vf: try L.u32(payload, \.vf), vlan: try L.u32(payload, \.vlan), qos: try L.u32(payload, \.qos))
        case Int(IFLA_VF_VLAN_LIST):
            self = .vlanList(try VFVLANListAttribute.decodeAll(try raw.asNested("IFLA_VF_VLAN_LIST")))
        case Int(IFLA_VF_TX_RATE):
            typealias L = UAPIStructure<ifla_vf_tx_rate>
            try L.check(payload, space: space, type: raw.type, name: "ifla_vf_tx_rate")
            self = .txRate(vf: try L.u32(payload, \.vf), rate: try L.u32(payload, \.rate))
        case Int(IFLA_VF_RATE):
            typealias L = UAPIStructure<ifla_vf_rate>
            try L.check(payload, space: space, type: raw.type, name: "ifla_vf_rate")
            self = .rate(vf: try L.u32(payload, \.vf), minimum: try L.u32(payload, \.min_tx_rate), maximum: try L.u32(payload, \.max_tx_rate))
        case Int(IFLA_VF_SPOOFCHK):
            typealias L = UAPIStructure<ifla_vf_spoofchk>
            try L.check(payload, space: space, type: raw.type, name: "ifla_vf_spoofchk")
            self = .spoofCheck(vf: try L.u32(payload, \.vf), setting: try L.u32(payload, \.setting))
        case Int(IFLA_VF_LINK_STATE):
            typealias L = UAPIStructure<ifla_vf_link_state>
            try L.check(payload, space: space, type: raw.type, name: "ifla_vf_link_state")
            self = .linkState(vf: try L.u32(payload, \.vf), state: try L.u32(payload, \.link_state))
        case Int(IFLA_VF_RSS_QUERY_EN):
            typealias L = UAPIStructure<ifla_vf_rss_query_en>
            try L.check(payload, space: space, type: raw.type, name: "ifla_vf_rss_query_en")
            self = .rssQuery(vf: try L.u32(payload, \.vf), setting: try L.u32(payload, \.setting))
        case Int(IFLA_VF_TRUST):
            typealias L = UAPIStructure<ifla_vf_trust>
            try L.check(payload, space: space, type: raw.type, name: "ifla_vf_trust")
            self = .trust(vf: try L.u32(payload, \.vf), setting: try L.u32(payload, \.setting))
        case Int(IFLA_VF_STATS):
            self = .statistics(try VFStatisticsAttribute.decodeAll(try raw.asNested("IFLA_VF_STATS")))
        default:
            self = .unknown(raw)
        }
    }

    public var raw: RawAttribute {
        switch self {
        case let .mac(vf, address):
            attr(IFLA_VF_MAC, UAPIStructure<ifla_vf_mac>.encode([(\.vf, vf)], bytes: [(\.mac, address)]))
        case let .vlan(vf, vlan, qos):
            attr(IFLA_VF_VLAN, UAPIStructure<ifla_vf_vlan>.encode([(\.vf, vf), (\.vlan, vlan), (\.qos, qos)]))
        case let .vlanList(entries):
            attr(IFLA_VF_VLAN_LIST, VFVLANListAttribute.encodeAll(entries))
        case let .txRate(vf, rate):
            attr(IFLA_VF_TX_RATE, UAPIStructure<ifla_vf_tx_rate>.encode([(\.vf, vf), (\.rate, rate)]))
        case let .rate(vf, minimum, maximum):
            attr(IFLA_VF_RATE, UAPIStructure<ifla_vf_rate>.encode([(\.vf, vf), (\.min_tx_rate, minimum), (\.max_tx_rate, maximum)]))
        case let .spoofCheck(vf, setting):
            attr(IFLA_VF_SPOOFCHK, UAPIStructure<ifla_vf_spoofchk>.encode([(\.vf, vf), (\.setting, setting)]))
        case let .linkState(vf, state):
            attr(IFLA_VF_LINK_STATE, UAPIStructure<ifla_vf_link_state>.encode([(\.vf, vf), (\.link_state, state)]))
        case let .rssQuery(vf, setting):
            attr(IFLA_VF_RSS_QUERY_EN, UAPIStructure<ifla_vf_rss_query_en>.encode([(\.vf, vf), (\.setting, setting)]))
        case let .trust(vf, setting):
            attr(IFLA_VF_TRUST, UAPIStructure<ifla_vf_trust>.encode([(\.vf, vf), (\.setting, setting)]))
        case let .statistics(counters):
            attr(IFLA_VF_STATS, VFStatisticsAttribute.encodeAll(counters))
        case let .unknown(raw): raw
        }
    }
}

/// Entries of IFLA_VFINFO_LIST: one IFLA_VF_INFO nest per VF.
public enum VFInfoListAttribute: AttributeSpace {
    case info([VFAttribute])
    case unknown(RawAttribute)

    public static let spaceName = "IFLA_VFINFO_LIST"

    public init(raw: RawAttribute) throws {
        guard raw.type == u16(IFLA_VF_INFO) else { self = .unknown(raw); return }
        self = .info(try VFAttribute.decodeAll(try raw.asNested("IFLA_VF_INFO")))
    }

    public var raw: RawAttribute {
        switch self {
        case let .info(attributes): attr(IFLA_VF_INFO, VFAttribute.encodeAll(attributes))
        case let .unknown(raw): raw
        }
    }
}

/// IFLA_VF_LINK_STATE values: `ip link set PF vf N state auto|enable|disable`.
public enum VFLinkState: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    /// IFLA_VF_LINK_STATE_AUTO: the VF's link follows the PF's.
    case auto
    /// IFLA_VF_LINK_STATE_ENABLE: always up.
    case enable
    /// IFLA_VF_LINK_STATE_DISABLE: always down.
    case disable

    public init?(rawValue: UInt32) {
        switch Int(rawValue) {
        case Int(IFLA_VF_LINK_STATE_AUTO): self = .auto
        case Int(IFLA_VF_LINK_STATE_ENABLE): self = .enable
        case Int(IFLA_VF_LINK_STATE_DISABLE): self = .disable
        default: return nil
        }
    }

    public var rawValue: UInt32 {
        switch self {
        case .auto: u32(IFLA_VF_LINK_STATE_AUTO)
        case .enable: u32(IFLA_VF_LINK_STATE_ENABLE)
        case .disable: u32(IFLA_VF_LINK_STATE_DISABLE)
        }
    }

    /// As `ip link show` prints it (`link-state auto`) and `state` takes it.
    public var description: String {
        switch self {
        case .auto: "auto"
        case .enable: "enable"
        case .disable: "disable"
        }
    }
}

/// IFLA_EXT_MASK bits (RTEXT_FILTER_*): what an RTM_GETLINK asks the kernel to add or leave out.
public struct ExtendedFilter: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// RTEXT_FILTER_VF: IFLA_NUM_VF and IFLA_VFINFO_LIST (per-VF settings; makes a PF's reply bigger).
    public static let virtualFunctions = ExtendedFilter(rawValue: u32(RTEXT_FILTER_VF))
    /// RTEXT_FILTER_SKIP_STATS: no IFLA_STATS*, IFLA_VF_STATS.
    public static let skipStatistics = ExtendedFilter(rawValue: u32(RTEXT_FILTER_SKIP_STATS))
}

extension LinkAttribute {
    /// IFLA_EXT_MASK with `filter` (kept as an untyped attribute, as replies never carry it).
    public static func extendedFilter(_ filter: ExtendedFilter) -> LinkAttribute {
        .unknown(RawAttribute(rawType: u16(IFLA_EXT_MASK), payload: AttributePayload.u32(filter.rawValue)))
    }
}
