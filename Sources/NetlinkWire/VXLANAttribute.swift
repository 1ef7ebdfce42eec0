import CLinuxNet
import QNetTypes

/// VXLAN attributes (IFLA_VXLAN_*) that say where a VXLAN device sends, as `ip -d link show`
/// prints them (`vxlan id 42 remote 192.0.2.1 local 192.0.2.2 dev eth0 dstport 4789`).
public enum VXLANAttribute: SkippableAttributeSpace {
    /// IFLA_VXLAN_ID: the VNI.
    case id(UInt32)
    /// IFLA_VXLAN_GROUP / IFLA_VXLAN_GROUP6: the remote (unicast) or multicast group address.
    case group(IPAddress)
    /// IFLA_VXLAN_LOCAL / IFLA_VXLAN_LOCAL6: the source address.
    case local(IPAddress)
    /// IFLA_VXLAN_LINK: the underlay device's index.
    case link(InterfaceIndex)
    /// IFLA_VXLAN_PORT: the destination UDP port (network byte order on the wire).
    case port(UInt16)
    /// IFLA_VXLAN_LEARNING: 1 learns remote MACs from received packets (the kernel's default),
    /// 0 is `nolearning` (peers and MACs come from static or control-plane FDB entries).
    case learning(UInt8)
    case unknown(RawAttribute)

    public static let spaceName = "IFLA_VXLAN"
    public static let typedTypes = TypedAttributeTypes([
        IFLA_VXLAN_ID, IFLA_VXLAN_GROUP, IFLA_VXLAN_GROUP6, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LOCAL6, IFLA_VXLAN_LINK,
        IFLA_VXLAN_LEARNING, IFLA_VXLAN_PORT,
    ])

    public init(raw: RawAttribute) throws {
        let space = Self.spaceName
        switch Int(raw.type) {
        case Int(IFLA_VXLAN_ID): self = .id(try raw.asU32(space))
        case Int(IFLA_VXLAN_GROUP), Int(IFLA_VXLAN_GROUP6): self = .group(try raw.asIPAddress(space))
        case Int(IFLA_VXLAN_LOCAL), Int(IFLA_VXLAN_LOCAL6): self = .local(try raw.asIPAddress(space))
        case Int(IFLA_VXLAN_LINK): self = .link(InterfaceIndex(try raw.asU32(space)))
        case Int(IFLA_VXLAN_LEARNING): self = .learning(try raw.asU8(space))
        case Int(IFLA_VXLAN_PORT):
            guard raw.payload.count == 2 else {
                throw WireError.badAttribute(space: space, type: raw.type, reason: "payload is \(raw.payload.count) bytes, expected 2")
            }
            var reader = WireReader(raw.payload)
            self = .port(try reader.readU16BigEndian("IFLA_VXLAN_PORT"))
        default: self = .unknown(raw)
        }
    }

    public var raw: RawAttribute {
        switch self {
        case let .id(value): attr(IFLA_VXLAN_ID, AttributePayload.u32(value))
        case let .group(address): attr(address.isIPv4 ? u16(IFLA_VXLAN_GROUP) : u16(IFLA_VXLAN_GROUP6), address.bytes)
        case let .local(address): attr(address.isIPv4 ? u16(IFLA_VXLAN_LOCAL) : u16(IFLA_VXLAN_LOCAL6), address.bytes)
        case let .link(index): attr(IFLA_VXLAN_LINK, AttributePayload.u32(index.rawValue))
        case let .port(value): attr(IFLA_VXLAN_PORT, [UInt8(value >> 8), UInt8(value & 0xff)])
        case let .learning(value): attr(IFLA_VXLAN_LEARNING, AttributePayload.u8(value))
        case let .unknown(raw): raw
        }
    }
}
