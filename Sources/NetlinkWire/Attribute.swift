import CLinuxNet
import QNetTypes

/// One `struct nlattr` as found on the wire: type (with its flag bits) and payload.
///
/// Attributes a typed enum does not know are kept in this form so they survive a
/// decode/encode round trip byte for byte.
public struct RawAttribute: Equatable, Sendable {
    /// The full 16-bit `nla_type`, including NLA_F_NESTED / NLA_F_NET_BYTEORDER.
    public var rawType: UInt16
    public var payload: [UInt8]

    public init(rawType: UInt16, payload: [UInt8]) {
        self.rawType = rawType
        self.payload = payload
    }

    /// `nla_type & NLA_TYPE_MASK`.
    public var type: UInt16 { rawType & QNET_NLA_TYPE_MASK }
    public var isNested: Bool { rawType & u16(NLA_F_NESTED) != 0 }

    /// Parses a run of attributes that fills `bytes` exactly (the last one's padding may be missing).
    public static func parseAll(_ bytes: [UInt8], space: String) throws -> [RawAttribute] {
        var reader = WireReader(bytes)
        var attributes: [RawAttribute] = []
        while reader.remaining > 0 {
            let available = reader.remaining
            let length = Int(try reader.readU16("\(space) nla_len"))
            let type = try reader.readU16("\(space) nla_type")
            guard length >= Netlink.attributeHeaderLength, length <= available else {
                throw WireError.badLength(what: "\(space) attribute \(type & QNET_NLA_TYPE_MASK) nla_len",
                                          length: length, available: available)
            }
            let payload = try reader.readBytes(length - Netlink.attributeHeaderLength, "\(space) attribute payload")
            attributes.append(RawAttribute(rawType: type, payload: payload))
            reader.skipAlignment()
        }
        return attributes
    }

    public func encode(into writer: inout WireWriter) {
        writer.writeU16(UInt16(Netlink.attributeHeaderLength + payload.count))
        writer.writeU16(rawType)
        writer.writeBytes(payload)
        writer.pad()
    }

    // MARK: typed payload readers (each checks the size exactly)

    func asU8(_ space: String) throws -> UInt8 {
        guard payload.count == 1 else { throw sizeError(space, expected: 1) }
        return payload[0]
    }

    func asU16(_ space: String) throws -> UInt16 {
        guard payload.count == 2 else { throw sizeError(space, expected: 2) }
        var reader = WireReader(payload)
        return try reader.readU16()
    }

    func asU32(_ space: String) throws -> UInt32 {
        guard payload.count == 4 else { throw sizeError(space, expected: 4) }
        var reader = WireReader(payload)
        return try reader.readU32()
    }

    func asU64(_ space: String) throws -> UInt64 {
        guard payload.count == 8 else { throw sizeError(space, expected: 8) }
        var reader = WireReader(payload)
        return try reader.readU64()
    }

    func asI32(_ space: String) throws -> Int32 { Int32(bitPattern: try asU32(space)) }

    /// A NUL-terminated string (NLA_NUL_STRING / NLA_STRING): stops at the first NUL.
    func asString(_ space: String) throws -> String {
        let content = payload.prefix { $0 != 0 }
        guard let text = String(validating: content, as: UTF8.self) else {
            throw WireError.badAttribute(space: space, type: type, reason: "string is not UTF-8")
        }
        return text
    }

    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network byte order.
    func asIPAddress(_ space: String) throws -> IPAddress {
        guard let address = IPAddress(bytes: payload) else {
            throw WireError.badAttribute(space: space, type: type, reason: "address is \(payload.count) bytes")
        }
        return address
    }

    func asNested(_ space: String) throws -> [RawAttribute] {
        try RawAttribute.parseAll(payload, space: space)
    }

    private func sizeError(_ space: String, expected: Int) -> WireError {
        .badAttribute(space: space, type: type, reason: "payload is \(payload.count) bytes, expected \(expected)")
    }
}

/// Helpers that build attribute payloads.
public enum AttributePayload {
    public static func u8(_ value: UInt8) -> [UInt8] { [value] }
    public static func u16(_ value: UInt16) -> [UInt8] { var w = WireWriter(capacity: 2); w.writeU16(value); return w.bytes }
    public static func u32(_ value: UInt32) -> [UInt8] { var w = WireWriter(capacity: 4); w.writeU32(value); return w.bytes }
    public static func u64(_ value: UInt64) -> [UInt8] { var w = WireWriter(capacity: 8); w.writeU64(value); return w.bytes }
    public static func i32(_ value: Int32) -> [UInt8] { u32(UInt32(bitPattern: value)) }
    /// NUL-terminated, as iproute2 sends IFLA_IFNAME and IFLA_INFO_KIND.
    public static func string(_ value: String) -> [UInt8] { Array(value.utf8) + [0] }
    public static func nested(_ attributes: [RawAttribute]) -> [UInt8] {
        var writer = WireWriter()
        for attribute in attributes { attribute.encode(into: &writer) }
        return writer.bytes
    }
}

/// An attribute space: a typed enum whose cases map to and from ``RawAttribute``.
public protocol AttributeSpace: Equatable, Sendable {
    static var spaceName: String { get }
    init(raw: RawAttribute) throws
    var raw: RawAttribute { get }
}

extension AttributeSpace {
    public static func decodeAll(_ bytes: [UInt8]) throws -> [Self] {
        try RawAttribute.parseAll(bytes, space: spaceName).map(Self.init(raw:))
    }

    public static func decodeAll(_ raws: [RawAttribute]) throws -> [Self] {
        try raws.map(Self.init(raw:))
    }

    public static func encodeAll(_ attributes: [Self]) -> [UInt8] {
        AttributePayload.nested(attributes.map(\.raw))
    }
}

/// Shorthand to build a raw attribute from a header constant of any integer type.
@inline(__always)
func attr<T: BinaryInteger>(_ type: T, _ payload: [UInt8]) -> RawAttribute {
    RawAttribute(rawType: u16(type), payload: payload)
}
