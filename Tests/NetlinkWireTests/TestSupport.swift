import Testing
import NetlinkWire
import NetlinkTestSupport

/// The one netlink message a captured datagram holds.
func singleMessage(_ datagram: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> NetlinkMessage {
    let messages = try NetlinkMessage.parseAll(datagram)
    try #require(messages.count == 1, "expected one message in the datagram", sourceLocation: sourceLocation)
    return messages[0]
}

/// Frames `payload` under `header` the way qnet sends it (nlmsg_len computed by the encoder).
func framed(_ header: NetlinkHeader, _ payload: [UInt8]) -> [UInt8] {
    NetlinkMessage(header: header, payload: payload).encoded()
}

/// The kind string as iproute2 sends it: IFLA_INFO_KIND without a terminating NUL
/// (`addattr_l(..., type, strlen(type))`). qnet's `.kind` NUL-terminates; the kernel's
/// NLA_STRING policy accepts both.
func iproute2Kind(_ kind: String) -> LinkInfoAttribute {
    .unknown(RawAttribute(rawType: 1 /* IFLA_INFO_KIND */, payload: Array(kind.utf8)))
}

/// `swift test` prints `[UInt8]` as a decimal list; compare as hex so a mismatch is readable.
func expectBytes(_ actual: [UInt8], _ expected: [UInt8], _ comment: Comment? = nil,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(hexString(actual) == hexString(expected), comment, sourceLocation: sourceLocation)
}

/// A small deterministic PRNG (SplitMix64), so fuzz failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
