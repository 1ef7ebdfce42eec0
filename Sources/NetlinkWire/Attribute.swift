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
        var attributes: [RawAttribute] = []
        try walk(bytes, 0..<bytes.count, space: space) { rawType, payload in
            attributes.append(RawAttribute(rawType: rawType, payload: Array(bytes[payload])))
        }
        return attributes
    }

    /// Walks a run of attributes that fills `bytes[range]` exactly, with ``parseAll(_:space:)``'s
    /// checks and errors, handing `body` each attribute's full `nla_type` and where its payload
    /// is, without copying it: readers that want a few attributes skip the rest for free.
    public static func walk(_ bytes: [UInt8], _ range: Range<Int>, space: String,
                            _ body: (_ rawType: UInt16, _ payload: Range<Int>) throws -> Void) throws {
        var reader = WireReader(bytes, range: range)
        while reader.remaining > 0 {
            let available = reader.remaining
            let length = Int(try reader.readU16("\(space) nla_len"))
            let type = try reader.readU16("\(space) nla_type")
            guard length >= Netlink.attributeHeaderLength, length <= available else {
                throw WireError.badLength(what: "\(space) attribute \(type & QNET_NLA_TYPE_MASK) nla_len",
                                          length: length, available: available)
            }
            let start = reader.offset
            try reader.skip(length - Netlink.attributeHeaderLength, "\(space) attribute payload")
            try body(type, start..<reader.offset)
            reader.skipAlignment()
        }
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
    /// The case that keeps an attribute the space has no typed case for, byte for byte.
    static func unknown(_ raw: RawAttribute) -> Self
}

/// An attribute space whose readers may skip the attributes it has no typed case for
/// (``SkippableAttributeSpace/decodeTyped(_:_:framing:)``): the spaces of a link dump, where most of each
/// message (per-family settings, timers, counters) is nothing qnet reads.
public protocol SkippableAttributeSpace: AttributeSpace {
    /// The types ``AttributeSpace/init(raw:)`` decodes into a typed case (a test checks the
    /// list against `TypedAttributeTypes(probing:)`).
    static var typedTypes: TypedAttributeTypes { get }
}

/// The attribute types of a space that have a typed case: what a typed-only decode keeps.
/// Each space lists its own next to its `init(raw:)`; `init(probing:)` finds the
/// same set by asking the space's decoder, and a test checks that the two agree, so a list
/// cannot drift from its decoder. (Probing costs thousands of thrown errors: not at run time.)
public struct TypedAttributeTypes: Equatable, Sendable {
    /// Every space's types are below this (the largest, IFLA_*, is under 100 in Linux 6.x).
    public static let probedTypes = 256
    private var typed: [Bool]

    public init<T: BinaryInteger>(_ types: [T]) {
        var typed = [Bool](repeating: false, count: Self.probedTypes)
        for type in types where type >= 0 && Int(type) < Self.probedTypes { typed[Int(type)] = true }
        self.typed = typed
    }

    /// The types `Space`'s decoder turns into a typed case: decoding an empty payload of the
    /// type, with or without NLA_F_NESTED, throws (a size check) or gives a case other than
    /// `.unknown`.
    public init<Space: AttributeSpace>(probing space: Space.Type) {
        self.init((0..<Self.probedTypes).filter { type in
            [UInt16(type), UInt16(type) | u16(NLA_F_NESTED)].contains { rawType in
                let probe = RawAttribute(rawType: rawType, payload: [])
                guard let decoded = try? Space(raw: probe) else { return true }
                return decoded != Space.unknown(probe)
            }
        })
    }

    /// Whether `rawType` (flag bits ignored) has a typed case.
    @inline(__always)
    public func contains(_ rawType: UInt16) -> Bool {
        let type = Int(rawType & QNET_NLA_TYPE_MASK)
        return type < typed.count && typed[type]
    }

    /// The same set plus `types` (types read without a case of their own).
    public func adding<T: BinaryInteger>(_ types: [T]) -> TypedAttributeTypes { setting(types, to: true) }

    /// The same set without `types` (types a reader does not need).
    public func removing<T: BinaryInteger>(_ types: [T]) -> TypedAttributeTypes { setting(types, to: false) }

    private func setting<T: BinaryInteger>(_ types: [T], to value: Bool) -> TypedAttributeTypes {
        var result = self
        for type in types where type >= 0 && Int(type) < Self.probedTypes { result.typed[Int(type)] = value }
        return result
    }
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

extension SkippableAttributeSpace {
    /// `decodeAll` of `bytes[range]` keeping only the attributes with a typed case: the others
    /// are skipped without being copied, and the typed ones are decoded (and checked) exactly
    /// as `decodeAll` decodes them, in the same order. `framing` names the nest in
    /// framing errors, as `RawAttribute.asNested` does.
    public static func decodeTyped(_ bytes: [UInt8], _ range: Range<Int>, framing: String? = nil) throws -> [Self] {
        let typed = typedTypes
        var attributes: [Self] = []
        attributes.reserveCapacity(8)
        var scratch = RawAttribute.Scratch()
        try RawAttribute.walk(bytes, range, space: framing ?? spaceName) { rawType, payload in
            guard typed.contains(rawType) else { return }
            attributes.append(try Self(raw: scratch.load(rawType, bytes[payload])))
        }
        return attributes
    }
}

extension RawAttribute {
    /// One attribute's buffer reused for every attribute of a walk: decoding an integer
    /// attribute then allocates nothing (the payload is copied into the same storage). A
    /// decoded value that keeps the payload (an address, an unknown attribute) shares the
    /// storage, and copy-on-write gives the next attribute a buffer of its own.
    struct Scratch {
        private var attribute = RawAttribute(rawType: 0, payload: [])

        init() { attribute.payload.reserveCapacity(64) }

        mutating func load(_ rawType: UInt16, _ payload: ArraySlice<UInt8>) -> RawAttribute {
            attribute.rawType = rawType
            attribute.payload.removeAll(keepingCapacity: true)
            attribute.payload.append(contentsOf: payload)
            return attribute
        }
    }
}
