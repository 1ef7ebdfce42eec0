/// A 48-bit Ethernet address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let bytes: [UInt8]

    /// Wraps exactly six bytes; returns nil otherwise.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (or with `-`), case-insensitive, two hex digits per byte.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).count == 6
            ? text.split(separator: ":", omittingEmptySubsequences: false)
            : text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            // Swift's integer parsing accepts a sign ("+f"); a MAC takes hex digits only.
            guard part.count == 2, part.allSatisfy(\.isHexDigit), let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    /// Lower-case hex pairs joined by ':' (`52:54:00:12:34:56`), as `ip link` prints them.
    /// Written into one byte buffer: `qnet show` prints 500 of them, and a String per byte
    /// joined afterwards cost 5,800 instructions per address (callgrind).
    public var description: String {
        let digits: StaticString = "0123456789abcdef"
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 3)
        digits.withUTF8Buffer { hex in
            for (position, byte) in bytes.enumerated() {
                if position > 0 { text.append(UInt8(ascii: ":")) }
                text.append(hex[Int(byte >> 4)])
                text.append(hex[Int(byte & 0x0f)])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The I/G bit: set for multicast and broadcast addresses.
    public var isMulticast: Bool { bytes[0] & 0x01 != 0 }
    public var isZero: Bool { bytes.allSatisfy { $0 == 0 } }
    /// Usable as a NIC's own address: not multicast/broadcast, not all zero.
    public var isValidUnicast: Bool { !isMulticast && !isZero }

    public static func < (lhs: MACAddress, rhs: MACAddress) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}

/// An IPv4 or IPv6 address in network byte order.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4([UInt8])
    case v6([UInt8])

    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: self = .v4(bytes)
        case 16: self = .v6(bytes)
        default: return nil
        }
    }

    public var bytes: [UInt8] {
        switch self {
        case let .v4(bytes), let .v6(bytes): bytes
        }
    }

    public var isIPv4: Bool { if case .v4 = self { true } else { false } }
    public var bitWidth: Int { isIPv4 ? 32 : 128 }

    public init?(_ text: String) {
        if text.contains(":") {
            guard let bytes = IPAddress.parseIPv6(text) else { return nil }
            self = .v6(bytes)
        } else {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var bytes: [UInt8] = []
            for part in parts {
                guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }), let value = UInt8(part) else { return nil }
                bytes.append(value)
            }
            self = .v4(bytes)
        }
    }

    private static func parseIPv6(_ text: String) -> [UInt8]? {
        // Embedded IPv4 tails (::ffff:1.2.3.4) are not accepted: write them in hex.
        let text = Substring(text)
        let halves = text.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else { return nil }
        func groups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(group.count), group.allSatisfy(\.isHexDigit), let value = UInt16(group, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        let tailGroups = 0
        var words: [UInt16]
        if halves.count == 2 {
            guard let head = groups(halves[0]), let rest = groups(halves[1]) else { return nil }
            let missing = 8 - tailGroups - head.count - rest.count
            guard missing >= 1 else { return nil }
            words = head + Array(repeating: 0, count: missing) + rest
        } else {
            guard let all = groups(halves[0]), all.count + tailGroups == 8 else { return nil }
            words = all
        }
        var bytes: [UInt8] = []
        for word in words { bytes.append(UInt8(word >> 8)); bytes.append(UInt8(word & 0xff)) }
        return bytes
    }

    public var description: String {
        switch self {
        case let .v4(bytes):
            return bytes.map(String.init).joined(separator: ".")
        case let .v6(bytes):
            // The enum's cases accept any byte count; print malformed values as hex
            // rather than trapping.
            guard bytes.count == 16 else { return bytes.map { String($0, radix: 16) }.joined(separator: ":") }
            var words: [UInt16] = []
            for index in stride(from: 0, to: 16, by: 2) { words.append(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])) }
            // RFC 5952: compress the longest run (length >= 2) of zero groups.
            var bestStart = -1, bestLength = 0, index = 0
            while index < 8 {
                if words[index] == 0 {
                    let start = index
                    while index < 8 && words[index] == 0 { index += 1 }
                    if index - start > bestLength { bestStart = start; bestLength = index - start }
                } else {
                    index += 1
                }
            }
            let hex = words.map { String($0, radix: 16) }
            if bestLength < 2 { return hex.joined(separator: ":") }
            let head = hex[0..<bestStart].joined(separator: ":")
            let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
            return head + "::" + tail
        }
    }
}

extension IPAddress {
    /// 224.0.0.0/4 or ff00::/8: a group address, never an interface's own.
    public var isMulticast: Bool {
        switch self {
        case let .v4(bytes): bytes.count == 4 && bytes[0] & 0xf0 == 0xe0
        case let .v6(bytes): bytes.count == 16 && bytes[0] == 0xff
        }
    }

    /// 0.0.0.0 or `::`: "any address", never an interface's own.
    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }

    /// 127.0.0.0/8 or ::1.
    public var isLoopback: Bool {
        switch self {
        case let .v4(bytes): bytes.count == 4 && bytes[0] == 127
        case let .v6(bytes): bytes.count == 16 && bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1
        }
    }

    /// 169.254.0.0/16 or fe80::/10.
    public var isLinkLocal: Bool {
        switch self {
        case let .v4(bytes): bytes.count == 4 && bytes[0] == 169 && bytes[1] == 254
        case let .v6(bytes): bytes.count == 16 && bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80
        }
    }

    /// 255.255.255.255, the IPv4 limited broadcast (IPv6 has none).
    public var isLimitedBroadcast: Bool {
        if case let .v4(bytes) = self { bytes.count == 4 && bytes.allSatisfy { $0 == 0xff } } else { false }
    }
}

extension Substring {
    /// Splits at the first "::" (an IPv6 zero-run); more than one gives three or more parts.
    fileprivate func components(separatedByDoubleColon: ()) -> [Substring] {
        var parts: [Substring] = []
        var rest = self[...]
        while let range = rest.firstRange(of: "::") {
            parts.append(rest[..<range.lowerBound])
            rest = rest[range.upperBound...]
        }
        parts.append(rest)
        return parts
    }
}

/// An address with a prefix length, as in `192.168.1.10/24` (iproute2's `PREFIX`).
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var length: UInt8

    public init(address: IPAddress, length: UInt8) {
        self.address = address
        self.length = length
    }

    /// Parses `ADDRESS/LENGTH`; a bare address gets the full length (/32 or /128).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        var length = address.bitWidth
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(parts[1]), value <= address.bitWidth else { return nil }
            length = value
        }
        self.address = address
        self.length = UInt8(length)
    }

    public var description: String { "\(address)/\(length)" }

    /// The network address: host bits cleared.
    public var network: IPAddress {
        var bytes = address.bytes
        guard bytes.count == 4 || bytes.count == 16 else { return address }
        for index in 0..<bytes.count {
            let bitsBefore = index * 8
            if bitsBefore >= Int(length) { bytes[index] = 0 }
            else if bitsBefore + 8 > Int(length) {
                let keep = Int(length) - bitsBefore
                bytes[index] &= UInt8(truncatingIfNeeded: 0xff << (8 - keep))
            }
        }
        return IPAddress(bytes: bytes)!
    }

    public func contains(_ other: IPAddress) -> Bool {
        guard other.isIPv4 == address.isIPv4 else { return false }
        return IPPrefix(address: other, length: length).network == network
    }
}
