import Testing
import NetlinkWire

/// Which WireError case `body` threw; nil when it did not throw. Any other error fails the test.
func wireError(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> WireErrorKind? {
    do {
        try body()
        return nil
    } catch let error as WireError {
        switch error {
        case .truncated: return .truncated
        case .badLength: return .badLength
        case .badAttribute: return .badAttribute
        }
    } catch {
        Issue.record("threw \(type(of: error)) instead of WireError: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

enum WireErrorKind: Equatable { case truncated, badLength, badAttribute }

/// An attribute with an arbitrary payload, as raw bytes (header + payload + padding).
func attributeBytes(type: UInt16, _ payload: [UInt8]) -> [UInt8] {
    var writer = WireWriter()
    RawAttribute(rawType: type, payload: payload).encode(into: &writer)
    return writer.bytes
}

let emptyIfinfomsg = [UInt8](repeating: 0, count: 16)
let emptyIfaddrmsg: [UInt8] = [2, 24, 0, 0, 4, 0, 0, 0]
let emptyRtmsg: [UInt8] = [2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0]

@Suite("malformed bytes throw, never trap")
struct MalformedInputTests {
    @Test("truncated nlmsghdr")
    func truncatedHeader() throws {
        for length in 1..<16 {
            #expect(wireError { _ = try NetlinkMessage.parseAll(Array(Fixture.setUp.prefix(length))) } == .truncated,
                    "header cut to \(length) bytes")
        }
        #expect(try NetlinkMessage.parseAll([]).isEmpty)
    }

    @Test("nlmsg_len past the end of the datagram")
    func lengthPastEnd() {
        var bytes = Fixture.setUp
        bytes[0] = 33  // one more than the 32 bytes there are
        #expect(wireError { _ = try NetlinkMessage.parseAll(bytes) } == .badLength)
        bytes[0] = 0xff; bytes[1] = 0xff; bytes[2] = 0xff; bytes[3] = 0xff
        #expect(wireError { _ = try NetlinkMessage.parseAll(bytes) } == .badLength)
    }

    @Test("nlmsg_len below the header size", arguments: [0, 1, 4, 15] as [UInt8])
    func lengthBelowHeader(length: UInt8) {
        var bytes = Fixture.setUp
        bytes[0] = length
        #expect(wireError { _ = try NetlinkMessage.parseAll(bytes) } == .badLength)
    }

    @Test("bytes after the last message that cannot be a header")
    func trailingGarbage() {
        #expect(wireError { _ = try NetlinkMessage.parseAll(Fixture.setUp + [1, 2, 3, 4, 5]) } == .truncated)
    }

    @Test("truncated fixed headers: ifinfomsg, ifaddrmsg, rtmsg, nlmsgerr")
    func truncatedFixedHeaders() {
        for length in 0..<16 {
            #expect(wireError { _ = try LinkMessage(payload: Array(emptyIfinfomsg.prefix(length))) } == .truncated)
        }
        for length in 0..<8 {
            #expect(wireError { _ = try AddressMessage(payload: Array(emptyIfaddrmsg.prefix(length))) } == .truncated)
        }
        for length in 0..<12 {
            #expect(wireError { _ = try RouteMessage(payload: Array(emptyRtmsg.prefix(length))) } == .truncated)
        }
        let ack = (try? singleMessage(Fixture.setMasterAck).payload) ?? []
        for length in 0..<20 {
            #expect(wireError { _ = try ErrorMessage(payload: Array(ack.prefix(length)), flags: .capped) } == .truncated)
        }
    }

    @Test("nla_len past the end")
    func attributeLengthPastEnd() {
        var mtu = attributeBytes(type: 4, AttributePayload.u32(1500))
        mtu[0] = 9
        #expect(wireError { _ = try LinkMessage(payload: emptyIfinfomsg + mtu) } == .badLength)
        mtu[0] = 0xff; mtu[1] = 0xff
        #expect(wireError { _ = try LinkMessage(payload: emptyIfinfomsg + mtu) } == .badLength)
        #expect(wireError { _ = try RawAttribute.parseAll(mtu, space: "test") } == .badLength)
    }

    @Test("nla_len below the attribute header size", arguments: [0, 1, 2, 3] as [UInt8])
    func attributeLengthBelowHeader(length: UInt8) {
        var mtu = attributeBytes(type: 4, AttributePayload.u32(1500))
        mtu[0] = length
        #expect(wireError { _ = try LinkMessage(payload: emptyIfinfomsg + mtu) } == .badLength)
        #expect(wireError { _ = try AddressAttribute.decodeAll(mtu) } == .badLength)
    }

    @Test("attribute header cut short")
    func truncatedAttributeHeader() {
        for length in 1..<4 {
            #expect(wireError { _ = try RawAttribute.parseAll(Array(([8, 0, 4, 0] as [UInt8]).prefix(length)), space: "test") } == .truncated)
        }
    }

    @Test("the last attribute may lack its padding, but not its payload")
    func missingFinalPadding() throws {
        // IFLA_OPERSTATE (nla_len 5) as the last attribute, without its 3 bytes of padding.
        let unpadded = emptyIfinfomsg + [5, 0, 16, 0, 6]
        #expect(try LinkMessage(payload: unpadded).operState == .up)
        #expect(wireError { _ = try LinkMessage(payload: emptyIfinfomsg + [8, 0, 4, 0, 0xdc, 0x05]) } == .badLength)
    }

    @Test("bad nla_len inside a nest")
    func badNestedLength() {
        // IFLA_LINKINFO { IFLA_INFO_KIND with nla_len 0x20 in a 12-byte nest }
        let nest = attributeBytes(type: 18, [0x20, 0, 1, 0] + Array("bridge".utf8) + [0, 0])
        #expect(wireError { _ = try LinkMessage(payload: emptyIfinfomsg + nest) } == .badLength)
        // IFLA_INFO_DATA of a bridge with a 2-byte attribute header inside.
        let data = attributeBytes(type: 2, [8, 0])
        let linkInfo = attributeBytes(type: 18, attributeBytes(type: 1, AttributePayload.string("bridge")) + data)
        #expect(wireError { _ = try LinkMessage(payload: emptyIfinfomsg + linkInfo) } == .truncated)
    }

    @Test("known attributes with the wrong size")
    func badKnownAttributeSizes() {
        func link(_ type: UInt16, _ payload: [UInt8]) -> WireErrorKind? {
            wireError { _ = try LinkMessage(payload: emptyIfinfomsg + attributeBytes(type: type, payload)) }
        }
        func bridge(_ type: UInt16, _ payload: [UInt8]) -> WireErrorKind? {
            let linkInfo = attributeBytes(type: 1, AttributePayload.string("bridge")) + attributeBytes(type: 2, attributeBytes(type: type, payload))
            return wireError { _ = try LinkMessage(payload: emptyIfinfomsg + attributeBytes(type: 18, linkInfo)) }
        }
        #expect(link(4, [0xdc, 0x05]) == .badAttribute)            // IFLA_MTU, 2 bytes
        #expect(link(4, []) == .badAttribute)                      // IFLA_MTU, empty
        #expect(link(10, AttributePayload.u64(2)) == .badAttribute) // IFLA_MASTER, 8 bytes
        #expect(link(16, [6, 0]) == .badAttribute)                 // IFLA_OPERSTATE, 2 bytes
        #expect(link(3, [0x62, 0xff, 0x30, 0]) == .badAttribute)   // IFLA_IFNAME, not UTF-8
        #expect(bridge(1, [0x90, 0x01]) == .badAttribute)          // IFLA_BR_FORWARD_DELAY, 2 bytes
        #expect(bridge(6, AttributePayload.u32(0x8000)) == .badAttribute) // IFLA_BR_PRIORITY, 4 bytes
        #expect(bridge(11, [0x80, 0, 1, 2, 3, 4, 5]) == .badAttribute)    // IFLA_BR_BRIDGE_ID, 7 bytes

        let portKind = attributeBytes(type: 4, AttributePayload.string("bridge"))
        let portData = attributeBytes(type: 5, attributeBytes(type: 3, [10]))  // IFLA_BRPORT_COST, 1 byte
        #expect(wireError { _ = try LinkMessage(payload: emptyIfinfomsg + attributeBytes(type: 18, portKind + portData)) } == .badAttribute)
        // IFLA_PROTINFO (nested, AF_BRIDGE): IFLA_BRPORT_STATE with 4 bytes.
        let protinfo = attributeBytes(type: 12 | 0x8000, attributeBytes(type: 1, AttributePayload.u32(3)))
        #expect(wireError { _ = try LinkMessage(payload: emptyIfinfomsg + protinfo) } == .badAttribute)

        #expect(wireError { _ = try AddressMessage(payload: emptyIfaddrmsg + attributeBytes(type: 2, [192, 168, 1, 10, 0])) } == .badAttribute)
        #expect(wireError { _ = try AddressMessage(payload: emptyIfaddrmsg + attributeBytes(type: 6, [UInt8](repeating: 0, count: 12))) } == .badAttribute)
        #expect(wireError { _ = try AddressMessage(payload: emptyIfaddrmsg + attributeBytes(type: 8, [0x80])) } == .badAttribute)
        #expect(wireError { _ = try RouteMessage(payload: emptyRtmsg + attributeBytes(type: 5, [192, 168, 1])) } == .badAttribute)
        #expect(wireError { _ = try RouteMessage(payload: emptyRtmsg + attributeBytes(type: 4, [4, 0])) } == .badAttribute)
        #expect(wireError { _ = try RouteMessage(payload: emptyRtmsg + attributeBytes(type: 20, [0, 0])) } == .badAttribute)
    }

    @Test("NLMSG_ERROR whose echoed request does not fit")
    func errorEchoOutOfBounds() throws {
        let request = NetlinkHeader(length: 1000, type: .newLink, flags: [.request, .acknowledge])
        let payload = ErrorMessage(code: -17, request: request).encoded()
        // Not capped: the decoder looks for 1000 - 16 echoed bytes that are not there.
        #expect(wireError { _ = try ErrorMessage(payload: payload, flags: []) } == .badLength)
        // An echoed length shorter than a header.
        let short = ErrorMessage(code: -17, request: NetlinkHeader(length: 4, type: .newLink, flags: [])).encoded()
        #expect(wireError { _ = try ErrorMessage(payload: short, flags: []) } == .badLength)
        // Capped: the same bytes are fine, the length field is not trusted.
        #expect(try ErrorMessage(payload: payload, flags: .capped).code == -17)
    }

    @Test("NLMSG_ERROR with broken ext-ack TLVs")
    func badExtAck() {
        let header = NetlinkHeader(length: 32, type: .newLink, flags: [.request, .acknowledge])
        let base = ErrorMessage(code: -22, request: header).encoded()
        #expect(wireError { _ = try ErrorMessage(payload: base + [0x20, 0, 1, 0, 0x41], flags: [.capped, .acknowledgeTLVs]) } == .badLength)
        #expect(wireError { _ = try ErrorMessage(payload: base + [2, 0], flags: [.capped, .acknowledgeTLVs]) } == .truncated)
        #expect(wireError { _ = try ErrorMessage(payload: base + attributeBytes(type: 2, [1, 0]), flags: [.capped, .acknowledgeTLVs]) } == .badAttribute)
        #expect(wireError { _ = try ErrorMessage(payload: base + attributeBytes(type: 1, [0xc3, 0x28, 0]), flags: [.capped, .acknowledgeTLVs]) } == .badAttribute)
        // Without NLM_F_ACK_TLVS trailing bytes are not read at all.
        #expect(wireError { _ = try ErrorMessage(payload: base + [0x20, 0, 1, 0, 0x41], flags: .capped) } == nil)
    }

    @Test("WireReader refuses negative and oversized reads")
    func readerBounds() {
        var reader = WireReader([1, 2, 3])
        #expect(wireError { _ = try reader.readU32() } == .truncated)
        #expect(wireError { _ = try reader.readBytes(-1) } == .truncated)
        #expect(wireError { try reader.skip(-1) } == .truncated)
        #expect(wireError { _ = try reader.readBytes(4) } == .truncated)
        #expect(reader.offset == 0)
        #expect((try? reader.readU16()) == 0x0201)
        #expect(wireError { _ = try reader.readU16() } == .truncated)
        #expect((try? reader.readU8()) == 3)
        #expect(reader.isAtEnd)
        reader.skipAlignment()
        #expect(reader.offset == 3)
    }
}
