import CLinuxNet
import QNetTypes

/// Attributes of an RTM_*ADDR message (IFA_*).
public enum AddressAttribute: AttributeSpace {
    /// IFA_ADDRESS: the prefix address (the peer on point-to-point links).
    case address(IPAddress)
    /// IFA_LOCAL: the local address.
    case local(IPAddress)
    /// IFA_BROADCAST.
    case broadcast(IPAddress)
    /// IFA_LABEL: IPv4 label such as `eth0:1`.
    case label(String)
    /// IFA_FLAGS: the 32-bit flags (IFA_F_*), superseding `ifa_flags`.
    case flags(UInt32)
    /// IFA_RT_PRIORITY: the metric of the prefix route (`ip addr add ... metric N`).
    case routePriority(UInt32)
    /// IFA_CACHEINFO: preferred/valid lifetimes, created/updated timestamps.
    case cacheInfo(preferred: UInt32, valid: UInt32, created: UInt32, updated: UInt32)
    case unknown(RawAttribute)

    public static let spaceName = "IFA"

    public init(raw: RawAttribute) throws {
        let space = Self.spaceName
        func ip() throws -> IPAddress { try raw.asIPAddress(space) }
        switch Int(raw.type) {
        case Int(IFA_ADDRESS): self = .address(try ip())
        case Int(IFA_LOCAL): self = .local(try ip())
        case Int(IFA_BROADCAST): self = .broadcast(try ip())
        case Int(IFA_LABEL): self = .label(try raw.asString(space))
        case Int(IFA_FLAGS): self = .flags(try raw.asU32(space))
        case Int(IFA_RT_PRIORITY): self = .routePriority(try raw.asU32(space))
        case Int(IFA_CACHEINFO):
            guard raw.payload.count == 16 else {
                throw WireError.badAttribute(space: space, type: raw.type, reason: "cacheinfo is \(raw.payload.count) bytes, expected 16")
            }
            var reader = WireReader(raw.payload)
            self = .cacheInfo(preferred: try reader.readU32(), valid: try reader.readU32(),
                              created: try reader.readU32(), updated: try reader.readU32())
        default: self = .unknown(raw)
        }
    }

    public var raw: RawAttribute {
        switch self {
        case let .address(ip): attr(IFA_ADDRESS, ip.bytes)
        case let .local(ip): attr(IFA_LOCAL, ip.bytes)
        case let .broadcast(ip): attr(IFA_BROADCAST, ip.bytes)
        case let .label(text): attr(IFA_LABEL, AttributePayload.string(text))
        case let .flags(value): attr(IFA_FLAGS, AttributePayload.u32(value))
        case let .routePriority(value): attr(IFA_RT_PRIORITY, AttributePayload.u32(value))
        case let .cacheInfo(preferred, valid, created, updated):
            attr(IFA_CACHEINFO, AttributePayload.u32(preferred) + AttributePayload.u32(valid)
                + AttributePayload.u32(created) + AttributePayload.u32(updated))
        case let .unknown(raw): raw
        }
    }
}

/// An RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR body: `struct ifaddrmsg` (8 bytes) + IFA_*.
public struct AddressMessage: Equatable, Sendable {
    public var family: AddressFamily
    public var prefixLength: UInt8
    /// `ifa_flags` (the low 8 bits of IFA_F_*).
    public var flags: UInt8
    /// RT_SCOPE_*: 0 universe, 253 link, 254 host.
    public var scope: UInt8
    public var index: InterfaceIndex
    public var attributes: [AddressAttribute]

    public static let fixedLength = Int(QNET_IFADDRMSG_LEN)

    public init(family: AddressFamily, prefixLength: UInt8 = 0, flags: UInt8 = 0, scope: UInt8 = 0,
                index: InterfaceIndex = 0, attributes: [AddressAttribute] = []) {
        self.family = family
        self.prefixLength = prefixLength
        self.flags = flags
        self.scope = scope
        self.index = index
        self.attributes = attributes
    }

    public init(payload: [UInt8]) throws {
        var reader = WireReader(payload)
        family = AddressFamily(rawValue: try reader.readU8("ifaddrmsg.ifa_family"))
        prefixLength = try reader.readU8("ifaddrmsg.ifa_prefixlen")
        flags = try reader.readU8("ifaddrmsg.ifa_flags")
        scope = try reader.readU8("ifaddrmsg.ifa_scope")
        index = InterfaceIndex(try reader.readU32("ifaddrmsg.ifa_index"))
        attributes = try AddressAttribute.decodeAll(Array(payload[reader.offset...]))
    }

    public func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: 48)
        writer.writeU8(family.rawValue)
        writer.writeU8(prefixLength)
        writer.writeU8(flags)
        writer.writeU8(scope)
        writer.writeU32(index.rawValue)
        for attribute in attributes { attribute.raw.encode(into: &writer) }
        return writer.bytes
    }

    /// The local address (IFA_LOCAL, else IFA_ADDRESS) with its prefix length.
    public var prefix: IPPrefix? {
        let local = attributes.lazy.compactMap { if case let .local(v) = $0 { v } else { nil } }.first
        let address = attributes.lazy.compactMap { if case let .address(v) = $0 { v } else { nil } }.first
        guard let ip = local ?? address else { return nil }
        return IPPrefix(address: ip, length: prefixLength)
    }

    public var label: String? { attributes.lazy.compactMap { if case let .label(v) = $0 { v } else { nil } }.first }
    public var allFlags: UInt32 {
        attributes.lazy.compactMap { if case let .flags(v) = $0 { v } else { nil } }.first ?? UInt32(flags)
    }
    public var routePriority: UInt32? {
        attributes.lazy.compactMap { if case let .routePriority(v) = $0 { v } else { nil } }.first
    }
}
