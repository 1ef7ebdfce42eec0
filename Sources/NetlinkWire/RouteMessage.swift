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
    /// RTA_METRICS: the route's RTAX_* values (`mtu 1400`, `initcwnd 10`, ...), kept as
    /// the nested attributes' bytes (each RTAX_* a u32, RTAX_CC_ALGO a string).
    case metrics([UInt8])
    /// RTA_MULTIPATH: the nexthops of a multipath route (`nexthop via GW dev NAME weight W ...`).
    case multipath([RouteNexthop])
    /// RTA_FLOW: the realms (`realm`).
    case flow(UInt32)
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
        case RTA_METRICS.rawValue:
            _ = try raw.asNested(space)  // well-formed, or refused
            self = .metrics(raw.payload)
        case RTA_MULTIPATH.rawValue: self = .multipath(try RouteNexthop.decodeAll(raw.payload))
        case RTA_FLOW.rawValue: self = .flow(try raw.asU32(space))
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
        case let .metrics(payload): attr(RTA_METRICS.rawValue, payload)
        case let .multipath(nexthops): attr(RTA_MULTIPATH.rawValue, RouteNexthop.encodeAll(nexthops))
        case let .flow(value): attr(RTA_FLOW.rawValue, AttributePayload.u32(value))
        case let .unknown(raw): raw
        }
    }
}

/// One nexthop of a multipath route: `struct rtnexthop` (length, RTNH_F_* flags, hops =
/// weight - 1, interface index; 8 bytes) followed by its own RTA_* attributes (RTA_GATEWAY,
/// RTA_FLOW, ...), each nexthop aligned to 4 bytes (RTNH_ALIGN).
/// `ip route add 10.0.0.0/8 nexthop via 192.0.2.1 dev eth0 weight 2 nexthop via ...`.
public struct RouteNexthop: Equatable, Sendable {
    public var flags: UInt8
    /// `rtnh_hops`: the weight minus one.
    public var hops: UInt8
    public var interfaceIndex: InterfaceIndex
    public var attributes: [RouteAttribute]

    public static let headerLength = Int(QNET_RTNEXTHOP_LEN)
    /// RTNH_F_ONLINK: the gateway is on-link whatever the addresses say (`onlink`).
    public static let flagOnLink = UInt8(truncatingIfNeeded: RTNH_F_ONLINK)

    public init(flags: UInt8 = 0, hops: UInt8 = 0, interfaceIndex: InterfaceIndex, attributes: [RouteAttribute] = []) {
        self.flags = flags
        self.hops = hops
        self.interfaceIndex = interfaceIndex
        self.attributes = attributes
    }

    public var gateway: IPAddress? { attributes.lazy.compactMap { if case let .gateway(v) = $0 { v } else { nil } }.first }

    /// Every nexthop in an RTA_MULTIPATH payload; throws `WireError` on a bad length.
    public static func decodeAll(_ bytes: [UInt8]) throws -> [RouteNexthop] {
        var reader = WireReader(bytes)
        var result: [RouteNexthop] = []
        while reader.remaining > 0 {
            let available = reader.remaining
            let length = Int(try reader.readU16("rtnexthop.rtnh_len"))
            guard length >= headerLength, length <= available else {
                throw WireError.badLength(what: "rtnexthop.rtnh_len", length: length, available: available)
            }
            let flags = try reader.readU8("rtnexthop.rtnh_flags")
            let hops = try reader.readU8("rtnexthop.rtnh_hops")
            let index = InterfaceIndex(try reader.readU32("rtnexthop.rtnh_ifindex"))
            let attributes = try RouteAttribute.decodeAll(try reader.readBytes(length - headerLength, "rtnexthop attributes"))
            result.append(RouteNexthop(flags: flags, hops: hops, interfaceIndex: index, attributes: attributes))
            reader.skipAlignment()
        }
        return result
    }

    public static func encodeAll(_ nexthops: [RouteNexthop]) -> [UInt8] {
        var writer = WireWriter(capacity: 32 * nexthops.count)
        for nexthop in nexthops {
            let start = writer.count
            writer.writeU16(0)  // rtnh_len, patched below
            writer.writeU8(nexthop.flags)
            writer.writeU8(nexthop.hops)
            writer.writeU32(nexthop.interfaceIndex.rawValue)
            for attribute in nexthop.attributes { attribute.raw.encode(into: &writer) }
            writer.patchU16(at: start, UInt16(writer.count - start))
            writer.pad()
        }
        return writer.bytes
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
    public var metrics: [UInt8]? { attributes.lazy.compactMap { if case let .metrics(v) = $0 { v } else { nil } }.first }
    public var multipath: [RouteNexthop]? { attributes.lazy.compactMap { if case let .multipath(v) = $0 { v } else { nil } }.first }
    public var preference: UInt8? { attributes.lazy.compactMap { if case let .preference(v) = $0 { v } else { nil } }.first }
    public var flow: UInt32? { attributes.lazy.compactMap { if case let .flow(v) = $0 { v } else { nil } }.first }
    /// The table id: RTA_TABLE when present, else `rtm_table`.
    public var fullTable: UInt32 {
        attributes.lazy.compactMap { if case let .table(v) = $0 { v } else { nil } }.first ?? UInt32(table)
    }
}
