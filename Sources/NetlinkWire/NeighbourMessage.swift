import CLinuxNet
import QNetTypes

/// Attributes of an RTM_*NEIGH message (NDA_*): neighbour table and bridge/VXLAN forwarding
/// database entries (`ip neigh`, `bridge fdb`).
public enum NeighbourAttribute: AttributeSpace {
    /// NDA_DST: the neighbour's IP address; for a VXLAN FDB entry, the remote VTEP.
    case destination(IPAddress)
    /// NDA_LLADDR: the MAC address (all zeros for a VXLAN's default destination).
    case linkLayerAddress([UInt8])
    /// NDA_VNI: a VXLAN entry's VNI, when it differs from the device's.
    case vni(UInt32)
    /// NDA_PORT: a VXLAN entry's UDP port (network byte order on the wire).
    case port(UInt16)
    case unknown(RawAttribute)

    public static let spaceName = "NDA"

    public init(raw: RawAttribute) throws {
        let space = Self.spaceName
        switch Int(raw.type) {
        case Int(NDA_DST): self = .destination(try raw.asIPAddress(space))
        case Int(NDA_LLADDR): self = .linkLayerAddress(raw.payload)
        case Int(NDA_VNI): self = .vni(try raw.asU32(space))
        case Int(NDA_PORT):
            guard raw.payload.count == 2 else {
                throw WireError.badAttribute(space: space, type: raw.type, reason: "payload is \(raw.payload.count) bytes, expected 2")
            }
            var reader = WireReader(raw.payload)
            self = .port(try reader.readU16BigEndian("NDA_PORT"))
        default: self = .unknown(raw)
        }
    }

    public var raw: RawAttribute {
        switch self {
        case let .destination(address): attr(NDA_DST, address.bytes)
        case let .linkLayerAddress(bytes): attr(NDA_LLADDR, bytes)
        case let .vni(value): attr(NDA_VNI, AttributePayload.u32(value))
        case let .port(value): attr(NDA_PORT, [UInt8(value >> 8), UInt8(value & 0xff)])
        case let .unknown(raw): raw
        }
    }
}

/// An RTM_NEWNEIGH / RTM_GETNEIGH body: `struct ndmsg` (12 bytes) followed by NDA_* attributes.
public struct NeighbourMessage: Equatable, Sendable {
    public var family: AddressFamily
    /// `ndm_ifindex`: the device the entry belongs to.
    public var index: InterfaceIndex
    /// `ndm_state`: NUD_* bits (NUD_PERMANENT, NUD_NOARP, NUD_REACHABLE, ...).
    public var state: UInt16
    /// `ndm_flags`: NTF_* bits (NTF_SELF for entries of the device itself, NTF_MASTER for its bridge's).
    public var flags: UInt8
    /// `ndm_type`: RTN_* (RTN_UNICAST).
    public var type: UInt8
    public var attributes: [NeighbourAttribute]

    public static let fixedLength = Int(QNET_NDMSG_LEN)
    /// NUD_NOARP | NUD_PERMANENT: a static entry (what `bridge fdb append|add` makes by default).
    public static let statePermanent = u16(NUD_NOARP) | u16(NUD_PERMANENT)
    /// NTF_SELF: the entry is in the device's own table (a VXLAN device's FDB), not its bridge's.
    public static let flagSelf = u8(NTF_SELF)
    /// NTF_EXT_LEARNED: put there by a control plane (FRR's zebra for EVPN: `extern_learn`), not learnt from traffic.
    public static let flagExternLearned = u8(NTF_EXT_LEARNED)

    public init(family: AddressFamily = .unspecified, index: InterfaceIndex = 0, state: UInt16 = 0, flags: UInt8 = 0, type: UInt8 = 0,
                attributes: [NeighbourAttribute] = []) {
        self.family = family
        self.index = index
        self.state = state
        self.flags = flags
        self.type = type
        self.attributes = attributes
    }

    public init(payload: [UInt8]) throws {
        var reader = WireReader(payload)
        family = AddressFamily(rawValue: try reader.readU8("ndmsg.ndm_family"))
        try reader.skip(3, "ndmsg padding")
        index = InterfaceIndex(UInt32(bitPattern: try reader.readI32("ndmsg.ndm_ifindex")))
        state = try reader.readU16("ndmsg.ndm_state")
        flags = try reader.readU8("ndmsg.ndm_flags")
        type = try reader.readU8("ndmsg.ndm_type")
        attributes = try NeighbourAttribute.decodeAll(Array(payload[reader.offset...]))
    }

    public func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: 32)
        writer.writeU8(family.rawValue)
        writer.writeU8(0)
        writer.writeU16(0)
        writer.writeI32(Int32(bitPattern: index.rawValue))
        writer.writeU16(state)
        writer.writeU8(flags)
        writer.writeU8(type)
        for attribute in attributes { attribute.raw.encode(into: &writer) }
        return writer.bytes
    }

    public var destination: IPAddress? {
        attributes.lazy.compactMap { if case let .destination(v) = $0 { v } else { nil } }.first
    }
    public var linkLayerAddress: [UInt8]? {
        attributes.lazy.compactMap { if case let .linkLayerAddress(v) = $0 { v } else { nil } }.first
    }
}
