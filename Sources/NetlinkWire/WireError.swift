/// Everything that can be wrong with bytes that claim to be netlink.
///
/// Decoding never traps: every read goes through ``WireReader``, which checks
/// bounds first and throws one of these instead.
public enum WireError: Error, Equatable, CustomStringConvertible {
    /// Fewer bytes were left than the field being read needs.
    case truncated(what: String, needed: Int, available: Int)
    /// A length field points before its own header or past the end of the buffer.
    case badLength(what: String, length: Int, available: Int)
    /// A known attribute carried a payload of the wrong size or shape.
    case badAttribute(space: String, type: UInt16, reason: String)

    public var description: String {
        switch self {
        case let .truncated(what, needed, available):
            return "truncated \(what): needs \(needed) bytes, \(available) left"
        case let .badLength(what, length, available):
            return "bad length \(length) in \(what) (\(available) bytes available)"
        case let .badAttribute(space, type, reason):
            return "malformed \(space) attribute \(type): \(reason)"
        }
    }
}
