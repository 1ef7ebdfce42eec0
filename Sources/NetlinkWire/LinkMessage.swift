import CLinuxNet
import QNetTypes

/// `ifi_flags` / `ifi_change` bits (IFF_* from <linux/if.h>).
public struct InterfaceFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let up = InterfaceFlags(rawValue: u32(IFF_UP))
    public static let broadcast = InterfaceFlags(rawValue: u32(IFF_BROADCAST))
    public static let loopback = InterfaceFlags(rawValue: u32(IFF_LOOPBACK))
    public static let pointToPoint = InterfaceFlags(rawValue: u32(IFF_POINTOPOINT))
    public static let running = InterfaceFlags(rawValue: u32(IFF_RUNNING))
    public static let noARP = InterfaceFlags(rawValue: u32(IFF_NOARP))
    public static let promiscuous = InterfaceFlags(rawValue: u32(IFF_PROMISC))
    public static let multicast = InterfaceFlags(rawValue: u32(IFF_MULTICAST))
    public static let lowerUp = InterfaceFlags(rawValue: IFF_LOWER_UP.rawValue)
}

/// RFC 2863 operational state (IFLA_OPERSTATE), as `ip link` prints it.
public enum OperState: UInt8, Sendable, CustomStringConvertible {
    case unknown = 0, notPresent, down, lowerLayerDown, testing, dormant, up

    public var description: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .notPresent: "NOTPRESENT"
        case .down: "DOWN"
        case .lowerLayerDown: "LOWERLAYERDOWN"
        case .testing: "TESTING"
        case .dormant: "DORMANT"
        case .up: "UP"
        }
    }
}

/// Attributes of an RTM_*LINK message (IFLA_*).
public enum LinkAttribute: SkippableAttributeSpace {
    /// IFLA_ADDRESS: the hardware address (6 bytes for Ethernet; other sizes for tunnels).
    case address([UInt8])
    /// IFLA_BROADCAST.
    case broadcast([UInt8])
    /// IFLA_IFNAME.
    case name(String)
    /// IFLA_MTU.
    case mtu(UInt32)
    /// IFLA_LINK: the lower device's index.
    case link(InterfaceIndex)
    /// IFLA_MASTER: the bridge's index; 0 detaches (`ip link set X nomaster`).
    case master(InterfaceIndex)
    /// IFLA_TXQLEN.
    case txQueueLength(UInt32)
    /// IFLA_OPERSTATE.
    case operState(UInt8)
    /// IFLA_GROUP: the interface group (`ip link set X group N`).
    case group(UInt32)
    /// IFLA_LINKINFO: kind and kind-specific data.
    case linkInfo([LinkInfoAttribute])
    /// IFLA_PROTINFO: bridge port attributes in AF_BRIDGE messages.
    case portInfo([BridgePortAttribute])
    /// IFLA_IFALIAS: the free-text alias (`ip link set X alias TEXT`).
    case alias(String)
    /// IFLA_CARRIER: 1 when the link has carrier (sent whether or not the link is up, unlike
    /// IFF_LOWER_UP).
    case carrier(UInt8)
    /// IFLA_STATS64: the link's counters (absent when the request set RTEXT_FILTER_SKIP_STATS).
    case statistics64(LinkStatistics64)
    /// IFLA_NUM_VF: how many SR-IOV virtual functions a PF has enabled (only in replies to
    /// requests with RTEXT_FILTER_VF).
    case vfCount(UInt32)
    /// IFLA_VFINFO_LIST: one IFLA_VF_INFO per VF, in requests that change a VF and in replies
    /// to requests with RTEXT_FILTER_VF.
    case vfInfoList([VFInfoListAttribute])
    /// Anything else, kept byte for byte.
    case unknown(RawAttribute)

    public static let spaceName = "IFLA"
    public static let typedTypes = TypedAttributeTypes([
        IFLA_ADDRESS, IFLA_BROADCAST, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER, IFLA_TXQLEN, IFLA_OPERSTATE,
        IFLA_GROUP, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_CARRIER, IFLA_STATS64, IFLA_NUM_VF, IFLA_VFINFO_LIST, IFLA_PROTINFO,
    ])
    /// What ``LinkMessage/init(decodingTypedOnly:)`` keeps: the typed types, and IFLA_LINK_NETNSID,
    /// which has no case of its own but is read (``LinkMessage/linkNamespaceID``).
    public static let typesRead = typedTypes.adding([Int(IFLA_LINK_NETNSID)])
    /// ``typesRead`` without IFLA_STATS64.
    public static let typesReadWithoutStatistics = typesRead.removing([Int(IFLA_STATS64)])

    public init(raw: RawAttribute) throws {
        let space = Self.spaceName
        switch Int(raw.type) {
        case Int(IFLA_ADDRESS): self = .address(raw.payload)
        case Int(IFLA_BROADCAST): self = .broadcast(raw.payload)
        case Int(IFLA_IFNAME): self = .name(try raw.asString(space))
        case Int(IFLA_MTU): self = .mtu(try raw.asU32(space))
        case Int(IFLA_LINK): self = .link(InterfaceIndex(UInt32(bitPattern: try raw.asI32(space))))
        case Int(IFLA_MASTER): self = .master(InterfaceIndex(try raw.asU32(space)))
        case Int(IFLA_TXQLEN): self = .txQueueLength(try raw.asU32(space))
        case Int(IFLA_OPERSTATE): self = .operState(try raw.asU8(space))
        case Int(IFLA_GROUP): self = .group(try raw.asU32(space))
        case Int(IFLA_LINKINFO): self = .linkInfo(try LinkInfoAttribute.decodeLinkInfo(try raw.asNested("IFLA_LINKINFO")))
        case Int(IFLA_IFALIAS): self = .alias(try raw.asString(space))
        case Int(IFLA_CARRIER): self = .carrier(try raw.asU8(space))
        case Int(IFLA_STATS64): self = .statistics64(try LinkStatistics64(payload: raw.payload))
        case Int(IFLA_NUM_VF): self = .vfCount(try raw.asU32(space))
        case Int(IFLA_VFINFO_LIST):
            // A malformed VF nest (a driver's or a truncated one) must not hide the PF itself
            // from `show`: it stays raw, and the link decodes without its VF list.
            if let list = try? VFInfoListAttribute.decodeAll(try raw.asNested("IFLA_VFINFO_LIST")) {
                self = .vfInfoList(list)
            } else {
                self = .unknown(raw)
            }
        case Int(IFLA_PROTINFO) where raw.isNested:
            self = .portInfo(try BridgePortAttribute.decodeAll(try raw.asNested("IFLA_PROTINFO")))
        default: self = .unknown(raw)
        }
    }

    public var raw: RawAttribute {
        switch self {
        case let .address(bytes): attr(IFLA_ADDRESS, bytes)
        case let .broadcast(bytes): attr(IFLA_BROADCAST, bytes)
        case let .name(name): attr(IFLA_IFNAME, AttributePayload.string(name))
        case let .mtu(value): attr(IFLA_MTU, AttributePayload.u32(value))
        case let .link(index): attr(IFLA_LINK, AttributePayload.i32(Int32(bitPattern: index.rawValue)))
        case let .master(index): attr(IFLA_MASTER, AttributePayload.u32(index.rawValue))
        case let .txQueueLength(value): attr(IFLA_TXQLEN, AttributePayload.u32(value))
        case let .operState(value): attr(IFLA_OPERSTATE, AttributePayload.u8(value))
        case let .group(value): attr(IFLA_GROUP, AttributePayload.u32(value))
        case let .linkInfo(info): attr(IFLA_LINKINFO, AttributePayload.nested(info.map(\.raw)))
        // Kernel quirk: IFLA_PROTINFO must carry NLA_F_NESTED when sent with AF_BRIDGE,
        // or the kernel takes the payload as a single legacy port-state byte.
        case let .portInfo(attributes):
            RawAttribute(rawType: u16(IFLA_PROTINFO) | u16(NLA_F_NESTED), payload: BridgePortAttribute.encodeAll(attributes))
        // An empty payload clears the alias (a lone NUL would set an empty one).
        case let .alias(text): attr(IFLA_IFALIAS, text.isEmpty ? [] : AttributePayload.string(text))
        case let .carrier(value): attr(IFLA_CARRIER, AttributePayload.u8(value))
        case let .statistics64(statistics): attr(IFLA_STATS64, statistics.payload)
        case let .vfCount(value): attr(IFLA_NUM_VF, AttributePayload.u32(value))
        case let .vfInfoList(entries): attr(IFLA_VFINFO_LIST, VFInfoListAttribute.encodeAll(entries))
        case let .unknown(raw): raw
        }
    }
}

/// Attributes nested in IFLA_LINKINFO (IFLA_INFO_*). The data's layout depends on the
/// kind, so the bridge and bridge-port data are decoded into their own typed spaces.
public enum LinkInfoAttribute: Equatable, Sendable {
    /// IFLA_INFO_KIND: "bridge", "veth", "tun", ...
    case kind(String)
    /// IFLA_INFO_DATA of a bridge (IFLA_BR_*).
    case bridgeData([BridgeAttribute])
    /// IFLA_INFO_SLAVE_KIND: the master's kind, "bridge" for a bridge port.
    case portKind(String)
    /// IFLA_INFO_SLAVE_DATA of a bridge port (IFLA_BRPORT_*).
    case bridgePortData([BridgePortAttribute])
    /// IFLA_INFO_DATA of a TUN/TAP device (IFLA_TUN_*).
    case tunData([TunAttribute])
    /// IFLA_INFO_DATA of a VXLAN device (IFLA_VXLAN_*).
    case vxlanData([VXLANAttribute])
    /// IFLA_INFO_DATA / IFLA_INFO_SLAVE_DATA of kinds qnet does not interpret, and any
    /// other IFLA_INFO_* attribute.
    case unknown(RawAttribute)

    /// Decodes a whole IFLA_LINKINFO nest: the data's meaning comes from the kind.
    public static func decodeLinkInfo(_ raws: [RawAttribute]) throws -> [LinkInfoAttribute] {
        var kind: String?
        var portKind: String?
        for raw in raws {
            if raw.type == u16(IFLA_INFO_KIND) { kind = try raw.asString("IFLA_INFO") }
            if raw.type == u16(IFLA_INFO_SLAVE_KIND) { portKind = try raw.asString("IFLA_INFO") }
        }
        return try raws.map { raw in
            switch Int(raw.type) {
            case Int(IFLA_INFO_KIND): return .kind(try raw.asString("IFLA_INFO"))
            case Int(IFLA_INFO_SLAVE_KIND): return .portKind(try raw.asString("IFLA_INFO"))
            case Int(IFLA_INFO_DATA) where kind == "bridge":
                return .bridgeData(try BridgeAttribute.decodeAll(try raw.asNested("IFLA_INFO_DATA")))
            case Int(IFLA_INFO_DATA) where kind == "tun":
                return .tunData(try TunAttribute.decodeAll(try raw.asNested("IFLA_INFO_DATA")))
            case Int(IFLA_INFO_DATA) where kind == "vxlan":
                return .vxlanData(try VXLANAttribute.decodeAll(try raw.asNested("IFLA_INFO_DATA")))
            case Int(IFLA_INFO_SLAVE_DATA) where portKind == "bridge":
                return .bridgePortData(try BridgePortAttribute.decodeAll(try raw.asNested("IFLA_INFO_SLAVE_DATA")))
            default: return .unknown(raw)
            }
        }
    }

    /// ``decodeLinkInfo(_:)`` of the IFLA_LINKINFO nest at `bytes[range]` for
    /// ``LinkMessage/init(decodingTypedOnly:)``: read in place, keeping the kinds and the typed
    /// attributes of the kind's data (checked as `decodeLinkInfo` checks them), dropping the rest.
    static func decodeTypedLinkInfo(_ bytes: [UInt8], _ range: Range<Int>) throws -> [LinkInfoAttribute] {
        var entries: [LinkInfoEntry] = []
        entries.reserveCapacity(4)
        var kind: String?
        var portKind: String?
        var scratch = RawAttribute.Scratch()
        try RawAttribute.walk(bytes, range, space: "IFLA_LINKINFO") { rawType, payload in
            let type = rawType & QNET_NLA_TYPE_MASK
            var text: String?
            if type == u16(IFLA_INFO_KIND) || type == u16(IFLA_INFO_SLAVE_KIND) {
                text = try scratch.load(rawType, bytes[payload]).asString("IFLA_INFO")
                if type == u16(IFLA_INFO_KIND) { kind = text } else { portKind = text }
            }
            entries.append(LinkInfoEntry(type: type, start: payload.lowerBound, end: payload.upperBound, text: text))
        }
        var info: [LinkInfoAttribute] = []
        info.reserveCapacity(entries.count)
        for entry in entries {
            let type = entry.type, payload = entry.start..<entry.end, text = entry.text
            switch Int(type) {
            case Int(IFLA_INFO_KIND): info.append(.kind(text ?? ""))
            case Int(IFLA_INFO_SLAVE_KIND): info.append(.portKind(text ?? ""))
            case Int(IFLA_INFO_DATA) where kind == "bridge":
                info.append(.bridgeData(try BridgeAttribute.decodeTyped(bytes, payload, framing: "IFLA_INFO_DATA")))
            case Int(IFLA_INFO_DATA) where kind == "tun":
                info.append(.tunData(try TunAttribute.decodeTyped(bytes, payload, framing: "IFLA_INFO_DATA")))
            case Int(IFLA_INFO_DATA) where kind == "vxlan":
                info.append(.vxlanData(try VXLANAttribute.decodeTyped(bytes, payload, framing: "IFLA_INFO_DATA")))
            case Int(IFLA_INFO_SLAVE_DATA) where portKind == "bridge":
                info.append(.bridgePortData(try BridgePortAttribute.decodeTyped(bytes, payload, framing: "IFLA_INFO_SLAVE_DATA")))
            default: break
            }
        }
        return info
    }

    public var raw: RawAttribute {
        switch self {
        case let .kind(kind): attr(IFLA_INFO_KIND, AttributePayload.string(kind))
        case let .portKind(kind): attr(IFLA_INFO_SLAVE_KIND, AttributePayload.string(kind))
        case let .bridgeData(attributes): attr(IFLA_INFO_DATA, BridgeAttribute.encodeAll(attributes))
        case let .bridgePortData(attributes): attr(IFLA_INFO_SLAVE_DATA, BridgePortAttribute.encodeAll(attributes))
        case let .tunData(attributes): attr(IFLA_INFO_DATA, TunAttribute.encodeAll(attributes))
        case let .vxlanData(attributes): attr(IFLA_INFO_DATA, VXLANAttribute.encodeAll(attributes))
        case let .unknown(raw): raw
        }
    }
}

/// TUN/TAP attributes (IFLA_TUN_*), as the kernel reports them for `ip -d link show`.
public enum TunAttribute: SkippableAttributeSpace {
    case owner(UInt32)
    case group(UInt32)
    /// IFF_TUN (1) or IFF_TAP (2).
    case type(UInt8)
    case packetInfo(UInt8)
    case vnetHeader(UInt8)
    case persist(UInt8)
    case multiQueue(UInt8)
    case queueCount(UInt32)
    case disabledQueueCount(UInt32)
    case unknown(RawAttribute)

    public static let spaceName = "IFLA_TUN"
    public static let typedTypes = TypedAttributeTypes([
        IFLA_TUN_OWNER, IFLA_TUN_GROUP, IFLA_TUN_TYPE, IFLA_TUN_PI, IFLA_TUN_VNET_HDR, IFLA_TUN_PERSIST,
        IFLA_TUN_MULTI_QUEUE, IFLA_TUN_NUM_QUEUES, IFLA_TUN_NUM_DISABLED_QUEUES,
    ])

    public init(raw: RawAttribute) throws {
        let space = Self.spaceName
        switch Int(raw.type) {
        case Int(IFLA_TUN_OWNER): self = .owner(try raw.asU32(space))
        case Int(IFLA_TUN_GROUP): self = .group(try raw.asU32(space))
        case Int(IFLA_TUN_TYPE): self = .type(try raw.asU8(space))
        case Int(IFLA_TUN_PI): self = .packetInfo(try raw.asU8(space))
        case Int(IFLA_TUN_VNET_HDR): self = .vnetHeader(try raw.asU8(space))
        case Int(IFLA_TUN_PERSIST): self = .persist(try raw.asU8(space))
        case Int(IFLA_TUN_MULTI_QUEUE): self = .multiQueue(try raw.asU8(space))
        case Int(IFLA_TUN_NUM_QUEUES): self = .queueCount(try raw.asU32(space))
        case Int(IFLA_TUN_NUM_DISABLED_QUEUES): self = .disabledQueueCount(try raw.asU32(space))
        default: self = .unknown(raw)
        }
    }

    public var raw: RawAttribute {
        switch self {
        case let .owner(value): attr(IFLA_TUN_OWNER, AttributePayload.u32(value))
        case let .group(value): attr(IFLA_TUN_GROUP, AttributePayload.u32(value))
        case let .type(value): attr(IFLA_TUN_TYPE, AttributePayload.u8(value))
        case let .packetInfo(value): attr(IFLA_TUN_PI, AttributePayload.u8(value))
        case let .vnetHeader(value): attr(IFLA_TUN_VNET_HDR, AttributePayload.u8(value))
        case let .persist(value): attr(IFLA_TUN_PERSIST, AttributePayload.u8(value))
        case let .multiQueue(value): attr(IFLA_TUN_MULTI_QUEUE, AttributePayload.u8(value))
        case let .queueCount(value): attr(IFLA_TUN_NUM_QUEUES, AttributePayload.u32(value))
        case let .disabledQueueCount(value): attr(IFLA_TUN_NUM_DISABLED_QUEUES, AttributePayload.u32(value))
        case let .unknown(raw): raw
        }
    }
}

/// Bridge attributes (IFLA_BR_*). Times are in the kernel's clock_t units: hundredths
/// of a second (USER_HZ = 100), as `ip link ... type bridge forward_delay` takes them.
public enum BridgeAttribute: SkippableAttributeSpace {
    case forwardDelay(UInt32)
    case helloTime(UInt32)
    case maxAge(UInt32)
    case ageingTime(UInt32)
    /// 0 off, 1 kernel STP (2 would be user-space STP and is only reported).
    case stpState(UInt32)
    case priority(UInt16)
    case vlanFiltering(UInt8)
    /// IFLA_BR_BRIDGE_ID: `struct ifla_bridge_id` (priority big-endian, MAC).
    case bridgeID(priority: UInt16, address: [UInt8])
    case unknown(RawAttribute)

    public static let spaceName = "IFLA_BR"
    public static let typedTypes = TypedAttributeTypes([
        IFLA_BR_FORWARD_DELAY, IFLA_BR_HELLO_TIME, IFLA_BR_MAX_AGE, IFLA_BR_AGEING_TIME, IFLA_BR_STP_STATE,
        IFLA_BR_PRIORITY, IFLA_BR_VLAN_FILTERING, IFLA_BR_BRIDGE_ID,
    ])

    public init(raw: RawAttribute) throws {
        let space = Self.spaceName
        switch Int(raw.type) {
        case Int(IFLA_BR_FORWARD_DELAY): self = .forwardDelay(try raw.asU32(space))
        case Int(IFLA_BR_HELLO_TIME): self = .helloTime(try raw.asU32(space))
        case Int(IFLA_BR_MAX_AGE): self = .maxAge(try raw.asU32(space))
        case Int(IFLA_BR_AGEING_TIME): self = .ageingTime(try raw.asU32(space))
        case Int(IFLA_BR_STP_STATE): self = .stpState(try raw.asU32(space))
        case Int(IFLA_BR_PRIORITY): self = .priority(try raw.asU16(space))
        case Int(IFLA_BR_VLAN_FILTERING): self = .vlanFiltering(try raw.asU8(space))
        case Int(IFLA_BR_BRIDGE_ID):
            guard raw.payload.count == 8 else {
                throw WireError.badAttribute(space: space, type: raw.type, reason: "bridge id is \(raw.payload.count) bytes, expected 8")
            }
            self = .bridgeID(priority: UInt16(raw.payload[0]) << 8 | UInt16(raw.payload[1]), address: Array(raw.payload[2...]))
        default: self = .unknown(raw)
        }
    }

    public var raw: RawAttribute {
        switch self {
        case let .forwardDelay(value): attr(IFLA_BR_FORWARD_DELAY, AttributePayload.u32(value))
        case let .helloTime(value): attr(IFLA_BR_HELLO_TIME, AttributePayload.u32(value))
        case let .maxAge(value): attr(IFLA_BR_MAX_AGE, AttributePayload.u32(value))
        case let .ageingTime(value): attr(IFLA_BR_AGEING_TIME, AttributePayload.u32(value))
        case let .stpState(value): attr(IFLA_BR_STP_STATE, AttributePayload.u32(value))
        case let .priority(value): attr(IFLA_BR_PRIORITY, AttributePayload.u16(value))
        case let .vlanFiltering(value): attr(IFLA_BR_VLAN_FILTERING, AttributePayload.u8(value))
        case let .bridgeID(priority, address):
            attr(IFLA_BR_BRIDGE_ID, [UInt8(priority >> 8), UInt8(priority & 0xff)] + address)
        case let .unknown(raw): raw
        }
    }
}

/// Bridge port attributes (IFLA_BRPORT_*), as `ip link set X type bridge_slave ...` sends.
public enum BridgePortAttribute: SkippableAttributeSpace {
    /// BR_STATE_*: 0 disabled, 1 listening, 2 learning, 3 forwarding, 4 blocking.
    case state(UInt8)
    case priority(UInt16)
    case cost(UInt32)
    case learning(UInt8)
    case unicastFlood(UInt8)
    case multicastFlood(UInt8)
    case broadcastFlood(UInt8)
    case isolated(UInt8)
    case hairpin(UInt8)
    case unknown(RawAttribute)

    public static let spaceName = "IFLA_BRPORT"
    public static let typedTypes = TypedAttributeTypes([
        IFLA_BRPORT_STATE, IFLA_BRPORT_PRIORITY, IFLA_BRPORT_COST, IFLA_BRPORT_LEARNING, IFLA_BRPORT_UNICAST_FLOOD,
        IFLA_BRPORT_MCAST_FLOOD, IFLA_BRPORT_BCAST_FLOOD, IFLA_BRPORT_ISOLATED, IFLA_BRPORT_MODE,
    ])

    public init(raw: RawAttribute) throws {
        let space = Self.spaceName
        switch Int(raw.type) {
        case Int(IFLA_BRPORT_STATE): self = .state(try raw.asU8(space))
        case Int(IFLA_BRPORT_PRIORITY): self = .priority(try raw.asU16(space))
        case Int(IFLA_BRPORT_COST): self = .cost(try raw.asU32(space))
        case Int(IFLA_BRPORT_LEARNING): self = .learning(try raw.asU8(space))
        case Int(IFLA_BRPORT_UNICAST_FLOOD): self = .unicastFlood(try raw.asU8(space))
        case Int(IFLA_BRPORT_MCAST_FLOOD): self = .multicastFlood(try raw.asU8(space))
        case Int(IFLA_BRPORT_BCAST_FLOOD): self = .broadcastFlood(try raw.asU8(space))
        case Int(IFLA_BRPORT_ISOLATED): self = .isolated(try raw.asU8(space))
        case Int(IFLA_BRPORT_MODE): self = .hairpin(try raw.asU8(space))
        default: self = .unknown(raw)
        }
    }

    public var raw: RawAttribute {
        switch self {
        case let .state(value): attr(IFLA_BRPORT_STATE, AttributePayload.u8(value))
        case let .priority(value): attr(IFLA_BRPORT_PRIORITY, AttributePayload.u16(value))
        case let .cost(value): attr(IFLA_BRPORT_COST, AttributePayload.u32(value))
        case let .learning(value): attr(IFLA_BRPORT_LEARNING, AttributePayload.u8(value))
        case let .unicastFlood(value): attr(IFLA_BRPORT_UNICAST_FLOOD, AttributePayload.u8(value))
        case let .multicastFlood(value): attr(IFLA_BRPORT_MCAST_FLOOD, AttributePayload.u8(value))
        case let .broadcastFlood(value): attr(IFLA_BRPORT_BCAST_FLOOD, AttributePayload.u8(value))
        case let .isolated(value): attr(IFLA_BRPORT_ISOLATED, AttributePayload.u8(value))
        case let .hairpin(value): attr(IFLA_BRPORT_MODE, AttributePayload.u8(value))
        case let .unknown(raw): raw
        }
    }
}

/// An RTM_NEWLINK / RTM_DELLINK / RTM_GETLINK / RTM_SETLINK body: `struct ifinfomsg`
/// (16 bytes) followed by IFLA_* attributes.
public struct LinkMessage: Equatable, Sendable {
    public var family: AddressFamily
    /// `ifi_type`: ARPHRD_* (1 = Ethernet).
    public var deviceType: UInt16
    /// `ifi_index`, a signed int on the wire.
    public var index: InterfaceIndex
    public var flags: InterfaceFlags
    /// `ifi_change`: which bits of `flags` the request changes.
    public var change: InterfaceFlags
    public var attributes: [LinkAttribute]

    public static let fixedLength = Int(QNET_IFINFOMSG_LEN)

    public init(family: AddressFamily = .unspecified, deviceType: UInt16 = 0, index: InterfaceIndex = 0,
                flags: InterfaceFlags = [], change: InterfaceFlags = [], attributes: [LinkAttribute] = []) {
        self.family = family
        self.deviceType = deviceType
        self.index = index
        self.flags = flags
        self.change = change
        self.attributes = attributes
    }

    public init(payload: [UInt8]) throws {
        var reader = WireReader(payload)
        try self.init(header: &reader)
        attributes = try LinkAttribute.decodeAll(Array(payload[reader.offset...]))
    }

    /// The `struct ifinfomsg` at the reader (16 bytes), no attributes yet.
    private init(header reader: inout WireReader) throws {
        family = AddressFamily(rawValue: try reader.readU8("ifinfomsg.ifi_family"))
        try reader.skip(1, "ifinfomsg padding")
        deviceType = try reader.readU16("ifinfomsg.ifi_type")
        index = InterfaceIndex(UInt32(bitPattern: try reader.readI32("ifinfomsg.ifi_index")))
        flags = InterfaceFlags(rawValue: try reader.readU32("ifinfomsg.ifi_flags"))
        change = InterfaceFlags(rawValue: try reader.readU32("ifinfomsg.ifi_change"))
        attributes = []
    }

    /// Decodes what qnet reads of a received link, for the hot paths (`qnet show` of a
    /// bridge with 500 ports reads 500 messages of about 1.5 KB): the attributes with a typed
    /// case (and IFLA_LINK_NETNSID), and in IFLA_LINKINFO the typed attributes of the kind's
    /// data. Everything else (per-family settings, bridge-port timers, qdisc, ...) is
    /// skipped without being copied. What it keeps is decoded and checked as
    /// ``init(payload:)`` decodes it, so every accessor answers the same; only
    /// ``attributes`` lacks the `.unknown` entries (and re-encoding loses them).
    /// `statistics: false` skips IFLA_STATS64 as well (the kernel sends the counters with every
    /// link, RTEXT_FILTER_SKIP_STATS or not, and decoding them is a tenth of the work).
    public init(decodingTypedOnly payload: [UInt8], statistics: Bool = true) throws {
        var reader = WireReader(payload)
        try self.init(header: &reader)
        let typed = statistics ? LinkAttribute.typesRead : LinkAttribute.typesReadWithoutStatistics
        var attributes: [LinkAttribute] = []
        attributes.reserveCapacity(16)
        var scratch = RawAttribute.Scratch()
        try RawAttribute.walk(payload, reader.offset..<payload.count, space: LinkAttribute.spaceName) { rawType, range in
            guard typed.contains(rawType) else { return }
            if rawType & QNET_NLA_TYPE_MASK == u16(IFLA_LINKINFO) {
                // Read in place: the nest is most of the message (a bridge port's data).
                attributes.append(.linkInfo(try LinkInfoAttribute.decodeTypedLinkInfo(payload, range)))
            } else {
                attributes.append(try LinkAttribute(raw: scratch.load(rawType, payload[range])))
            }
        }
        self.attributes = attributes
    }

    public func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: 64)
        writer.writeU8(family.rawValue)
        writer.writeU8(0)
        writer.writeU16(deviceType)
        writer.writeI32(Int32(bitPattern: index.rawValue))
        writer.writeU32(flags.rawValue)
        writer.writeU32(change.rawValue)
        for attribute in attributes { attribute.raw.encode(into: &writer) }
        return writer.bytes
    }

    // MARK: convenience accessors (first matching attribute)

    public var name: String? { attributes.lazy.compactMap { if case let .name(v) = $0 { v } else { nil } }.first }
    public var mtu: UInt32? { attributes.lazy.compactMap { if case let .mtu(v) = $0 { v } else { nil } }.first }
    public var masterIndex: InterfaceIndex? { attributes.lazy.compactMap { if case let .master(v) = $0 { v } else { nil } }.first }
    public var group: UInt32? { attributes.lazy.compactMap { if case let .group(v) = $0 { v } else { nil } }.first }
    public var hardwareAddress: [UInt8]? { attributes.lazy.compactMap { if case let .address(v) = $0 { v } else { nil } }.first }
    public var operState: OperState? {
        attributes.lazy.compactMap { if case let .operState(v) = $0 { OperState(rawValue: v) ?? .unknown } else { nil } }.first
    }
    public var alias: String? { attributes.lazy.compactMap { if case let .alias(v) = $0 { v } else { nil } }.first }
    public var statistics64: LinkStatistics64? {
        attributes.lazy.compactMap { if case let .statistics64(v) = $0 { v } else { nil } }.first
    }
    /// IFLA_NUM_VF: nil unless the reply was asked for with RTEXT_FILTER_VF and the device has a parent bus device.
    public var vfCount: UInt32? { attributes.lazy.compactMap { if case let .vfCount(v) = $0 { v } else { nil } }.first }
    /// Each VF's attributes (IFLA_VFINFO_LIST's IFLA_VF_INFO nests), in the kernel's order.
    public var virtualFunctions: [[VFAttribute]] {
        let list: [VFInfoListAttribute] = attributes.lazy.compactMap { if case let .vfInfoList(v) = $0 { v } else { nil } }.first ?? []
        return list.compactMap { if case let .info(v) = $0 { v } else { nil } }
    }
    public var carrier: Bool? { attributes.lazy.compactMap { if case let .carrier(v) = $0 { v != 0 } else { nil } }.first }
    public var linkInfo: [LinkInfoAttribute] {
        attributes.lazy.compactMap { if case let .linkInfo(v) = $0 { v } else { nil } }.first ?? []
    }
    public var kind: String? { linkInfo.lazy.compactMap { if case let .kind(v) = $0 { v } else { nil } }.first }
    public var portKind: String? { linkInfo.lazy.compactMap { if case let .portKind(v) = $0 { v } else { nil } }.first }
    public var bridgeAttributes: [BridgeAttribute] {
        linkInfo.lazy.compactMap { if case let .bridgeData(v) = $0 { v } else { nil } }.first ?? []
    }
    public var tunAttributes: [TunAttribute] {
        linkInfo.lazy.compactMap { if case let .tunData(v) = $0 { v } else { nil } }.first ?? []
    }
    public var vxlanAttributes: [VXLANAttribute] {
        linkInfo.lazy.compactMap { if case let .vxlanData(v) = $0 { v } else { nil } }.first ?? []
    }
    /// IFLA_LINK: the lower device (a veth's peer, a VLAN's parent), in IFLA_LINK_NETNSID's
    /// namespace when that is present.
    public var lowerIndex: InterfaceIndex? { attributes.lazy.compactMap { if case let .link(v) = $0 { v } else { nil } }.first }
    /// IFLA_LINK_NETNSID: the peer namespace's id as this namespace numbers it (veth peers
    /// in another namespace); nil when the lower device is in this namespace.
    public var linkNamespaceID: Int32? {
        attributes.lazy.compactMap { attribute -> Int32? in
            guard case let .unknown(raw) = attribute, raw.type == u16(IFLA_LINK_NETNSID) else { return nil }
            return try? raw.asI32(LinkAttribute.spaceName)
        }.first
    }
    public var bridgePortAttributes: [BridgePortAttribute] {
        linkInfo.lazy.compactMap { if case let .bridgePortData(v) = $0 { v } else { nil } }.first ?? []
    }
}

/// One IFLA_INFO_* attribute of a link's IFLA_LINKINFO nest, as `decodeTypedLinkInfo` notes
/// it before knowing the kind. A struct of plain fields: an array of a tuple holding a
/// `Range<Int>` made the runtime look up Int's Comparable conformance on first use, which in
/// the static binary scans every conformance record (0.36 M instructions of each qnet
/// command that decodes a link, callgrind).
struct LinkInfoEntry {
    var type: UInt16
    var start: Int
    var end: Int
    var text: String?
}
