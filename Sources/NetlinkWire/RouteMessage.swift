import CLinuxNet
import QNetTypes

/// Attributes of an RTM_*ROUTE message (RTA_*).
public enum RouteAttribute: AttributeSpace {
    case destination(IPAddress)
    case source(IPAddress)
    case inputInterface(InterfaceIndex)
    case outputInterface(InterfaceIndex)
    case gateway(IPAddress)
    /// RTA_PRIORITY: the metric (`ip route ... metric N`).
    case priority(UInt32)
    case preferredSource(IPAddress)
    /// RTA_TABLE: the full 32-bit table id (rtm_table holds only 8 bits).
    case table(UInt32)
    /// RTA_PREF: IPv6 router preference.
    case preference(UInt8)
    case unknown(RawAttribute)

    public static let spaceName = "RTA"

    public init(raw: RawAttribute) throws {
        let space = Self.spaceName
        func ip() throws -> IPAddress { try raw.asIPAddress(space) }
        switch UInt32(raw.type) {
        case RTA_DST.rawValue: self = .destination(try ip())
        case RTA_SRC.rawValue: self = .source(try ip())
        case RTA_IIF.rawValue: self = .inputInterface(InterfaceIndex(try raw.asU32(space)))
        case RTA_OIF.rawValue: self = .outputInterface(InterfaceIndex(try raw.asU32(space)))
        case RTA_GATEWAY.rawValue: self = .gateway(try ip())
        case RTA_PRIORITY.rawValue: self = .priority(try raw.asU32(space))
        case RTA_PREFSRC.rawValue: self = .preferredSource(try ip())
        case RTA_TABLE.rawValue: self = .table(try raw.asU32(space))
        case RTA_PREF.rawValue: self = .preference(try raw.asU8(space))
        default: self = .unknown(raw)
        }
    }

    public var raw: RawAttribute {
        switch self {
        case let .destination(ip): attr(RTA_DST.rawValue, ip.bytes)
        case let .source(ip): attr(RTA_SRC.rawValue, ip.bytes)
        case let .inputInterface(index): attr(RTA_IIF.rawValue, AttributePayload.u32(index.rawValue))
        case let .outputInterface(index): attr(RTA_OIF.rawValue, AttributePayload.u32(index.rawValue))
        case let .gateway(ip): attr(RTA_GATEWAY.rawValue, ip.bytes)
        case let .priority(value): attr(RTA_PRIORITY.rawValue, AttributePayload.u32(value))
        case let .preferredSource(ip): attr(RTA_PREFSRC.rawValue, ip.bytes)
        case let .table(value): attr(RTA_TABLE.rawValue, AttributePayload.u32(value))
        case let .preference(value): attr(RTA_PREF.rawValue, AttributePayload.u8(value))
        case let .unknown(raw): raw
        }
    }
}

/// An RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE body: `struct rtmsg` (12 bytes) + RTA_*.
public struct RouteMessage: Equatable, Sendable {
    public var family: AddressFamily
    public var destinationLength: UInt8
    public var sourceLength: UInt8
    public var tos: UInt8
    /// `rtm_table` (RT_TABLE_MAIN = 254); tables above 255 travel in RTA_TABLE.
    public var table: UInt8
    /// `rtm_protocol`: RTPROT_BOOT (3) for `ip route add`, RTPROT_KERNEL (2) for prefix routes.
    public var routeProtocol: UInt8
    /// `rtm_scope`: RT_SCOPE_UNIVERSE (0) for gateways, RT_SCOPE_LINK (253) for on-link.
    public var scope: UInt8
    /// `rtm_type`: RTN_UNICAST (1), RTN_LOCAL, ...
    public var type: UInt8
    public var flags: UInt32
    public var attributes: [RouteAttribute]

    public static let fixedLength = Int(QNET_RTMSG_LEN)
    public static let mainTable = UInt8(truncatingIfNeeded: RT_TABLE_MAIN.rawValue)
    public static let unspecifiedTable = UInt8(truncatingIfNeeded: RT_TABLE_UNSPEC.rawValue)
    public static let protocolBoot = UInt8(truncatingIfNeeded: RTPROT_BOOT)
    public static let protocolKernel = UInt8(truncatingIfNeeded: RTPROT_KERNEL)
    public static let scopeUniverse = UInt8(truncatingIfNeeded: RT_SCOPE_UNIVERSE.rawValue)
    public static let scopeLink = UInt8(truncatingIfNeeded: RT_SCOPE_LINK.rawValue)
    public static let scopeHost = UInt8(truncatingIfNeeded: RT_SCOPE_HOST.rawValue)
    public static let typeUnicast = UInt8(truncatingIfNeeded: RTN_UNICAST)

    public init(family: AddressFamily, destinationLength: UInt8 = 0, sourceLength: UInt8 = 0, tos: UInt8 = 0,
                table: UInt8 = RouteMessage.mainTable, routeProtocol: UInt8 = RouteMessage.protocolBoot,
                scope: UInt8 = RouteMessage.scopeUniverse, type: UInt8 = RouteMessage.typeUnicast,
                flags: UInt32 = 0, attributes: [RouteAttribute] = []) {
        self.family = family
        self.destinationLength = destinationLength
        self.sourceLength = sourceLength
        self.tos = tos
        self.table = table
        self.routeProtocol = routeProtocol
        self.scope = scope
        self.type = type
        self.flags = flags
        self.attributes = attributes
    }

    public init(payload: [UInt8]) throws {
        var reader = WireReader(payload)
        family = AddressFamily(rawValue: try reader.readU8("rtmsg.rtm_family"))
        destinationLength = try reader.readU8("rtmsg.rtm_dst_len")
        sourceLength = try reader.readU8("rtmsg.rtm_src_len")
        tos = try reader.readU8("rtmsg.rtm_tos")
        table = try reader.readU8("rtmsg.rtm_table")
        routeProtocol = try reader.readU8("rtmsg.rtm_protocol")
        scope = try reader.readU8("rtmsg.rtm_scope")
        type = try reader.readU8("rtmsg.rtm_type")
        flags = try reader.readU32("rtmsg.rtm_flags")
        attributes = try RouteAttribute.decodeAll(Array(payload[reader.offset...]))
    }

    public func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: 64)
        writer.writeU8(family.rawValue)
        writer.writeU8(destinationLength)
        writer.writeU8(sourceLength)
        writer.writeU8(tos)
        writer.writeU8(table)
        writer.writeU8(routeProtocol)
        writer.writeU8(scope)
        writer.writeU8(type)
        writer.writeU32(flags)
        for attribute in attributes { attribute.raw.encode(into: &writer) }
        return writer.bytes
    }

    public var destination: IPAddress? { attributes.lazy.compactMap { if case let .destination(v) = $0 { v } else { nil } }.first }
    public var gateway: IPAddress? { attributes.lazy.compactMap { if case let .gateway(v) = $0 { v } else { nil } }.first }
    public var outputInterface: InterfaceIndex? { attributes.lazy.compactMap { if case let .outputInterface(v) = $0 { v } else { nil } }.first }
    public var priority: UInt32? { attributes.lazy.compactMap { if case let .priority(v) = $0 { v } else { nil } }.first }
    public var preferredSource: IPAddress? { attributes.lazy.compactMap { if case let .preferredSource(v) = $0 { v } else { nil } }.first }
    /// The table id: RTA_TABLE when present, else `rtm_table`.
    public var fullTable: UInt32 {
        attributes.lazy.compactMap { if case let .table(v) = $0 { v } else { nil } }.first ?? UInt32(table)
    }
}
