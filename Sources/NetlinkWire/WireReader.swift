/// A bounds-checked cursor over netlink bytes (host byte order, as netlink uses).
///
/// Every accessor checks the remaining length first and throws ``WireError`` on short
/// input, so malformed kernel replies or fuzzed fixtures can never trap.
public struct WireReader {
    public let bytes: [UInt8]
    public private(set) var offset: Int
    public let end: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
        self.end = bytes.count
    }

    /// A reader of `bytes[range]` only (the array is shared, not copied).
    public init(_ bytes: [UInt8], range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "WireReader range outside its bytes")
        self.bytes = bytes
        self.offset = range.lowerBound
        self.end = range.upperBound
    }

    public init<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        self.init(Array(bytes))
    }

    public var remaining: Int { end - offset }
    public var isAtEnd: Bool { offset >= end }

    @inline(__always)
    private func require(_ count: Int, _ what: @autoclosure () -> String) throws {
        guard count >= 0, remaining >= count else {
            throw WireError.truncated(what: what(), needed: count, available: remaining)
        }
    }

    public mutating func readU8(_ what: @autoclosure () -> String = "u8") throws -> UInt8 {
        try require(1, what())
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readU16(_ what: @autoclosure () -> String = "u16") throws -> UInt16 {
        try require(2, what())
        defer { offset += 2 }
        return hostOrder(UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8)
    }

    public mutating func readU32(_ what: @autoclosure () -> String = "u32") throws -> UInt32 {
        try require(4, what())
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * index) }
        offset += 4
        return hostOrder(value)
    }

    public mutating func readI32(_ what: @autoclosure () -> String = "i32") throws -> Int32 {
        Int32(bitPattern: try readU32(what()))
    }

    public mutating func readU64(_ what: @autoclosure () -> String = "u64") throws -> UInt64 {
        try require(8, what())
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * index) }
        offset += 8
        return hostOrder(value)
    }

    /// A big-endian (network order) u16, as used by ports and VLAN protocol fields.
    public mutating func readU16BigEndian(_ what: @autoclosure () -> String = "be16") throws -> UInt16 {
        try require(2, what())
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    public mutating func readBytes(_ count: Int, _ what: @autoclosure () -> String = "bytes") throws -> [UInt8] {
        try require(count, what())
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    public mutating func skip(_ count: Int, _ what: @autoclosure () -> String = "padding") throws {
        try require(count, what())
        offset += count
    }

    /// Skips the padding that aligns the next item to 4 bytes, tolerating a buffer that
    /// ends before the padding does (the kernel omits trailing padding of the last item).
    public mutating func skipAlignment() {
        let aligned = Netlink.align(offset)
        offset = min(aligned, end)
    }
}

/// Builds netlink bytes in host byte order.
public struct WireWriter {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func writeU8(_ value: UInt8) { bytes.append(value) }

    public mutating func writeU16(_ value: UInt16) {
        let value = hostOrder(value)
        bytes.append(UInt8(truncatingIfNeeded: value))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    }

    public mutating func writeU32(_ value: UInt32) {
        let value = hostOrder(value)
        for index in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }

    public mutating func writeI32(_ value: Int32) { writeU32(UInt32(bitPattern: value)) }

    public mutating func writeU64(_ value: UInt64) {
        let value = hostOrder(value)
        for index in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }

    public mutating func writeBytes<C: Collection>(_ value: C) where C.Element == UInt8 {
        bytes.append(contentsOf: value)
    }

    /// Pads with zero bytes up to the next 4-byte boundary (NLMSG_ALIGN / NLA_ALIGN).
    public mutating func pad() {
        while bytes.count % Netlink.alignment != 0 { bytes.append(0) }
    }

    /// Overwrites a little-endian u16 at `offset` (used to patch a length once known).
    public mutating func patchU16(at offset: Int, _ value: UInt16) {
        let value = hostOrder(value)
        bytes[offset] = UInt8(truncatingIfNeeded: value)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }

    public mutating func patchU32(at offset: Int, _ value: UInt32) {
        let value = hostOrder(value)
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
}

/// Netlink integers are in host byte order. The reader and writer assemble bytes
/// least-significant first, so on a big-endian host the value is swapped once here.
@inline(__always)
func hostOrder<T: FixedWidthInteger>(_ littleEndianAssembled: T) -> T {
    #if _endian(big)
    return littleEndianAssembled.byteSwapped
    #else
    return littleEndianAssembled
    #endif
}
