import Testing
import NetlinkTestSupport
import NetlinkWire

// Kernel replies captured from iproute2 sessions (see Fixtures.swift).

@Suite("kernel replies")
struct ReplyFixtureTests {
    static let br0MAC: [UInt8] = [0x52, 0xfd, 0x91, 0x89, 0x9b, 0x86]

    @Test("ip link show br0: RTM_NEWLINK reply decodes name, MTU, kind and bridge attributes")
    func bridgeReplyDecodes() throws {
        let message = try singleMessage(Fixture.newLinkBr0Reply)
        #expect(message.header == NetlinkHeader(length: 1880, type: .newLink, flags: [], sequence: 0x6b06_a113, portID: 4508))

        let link = try LinkMessage(payload: message.payload)
        #expect(link.family == .unspecified)
        #expect(link.deviceType == 1)  // ARPHRD_ETHER
        #expect(link.index == 2)
        #expect(link.flags == [.broadcast, .multicast])
        #expect(link.change == [])
        #expect(link.name == "br0")
        #expect(link.mtu == 1500)
        #expect(link.group == 0)
        #expect(link.operState == .down)
        #expect(link.masterIndex == nil)
        #expect(link.hardwareAddress == Self.br0MAC)
        #expect(link.attributes.contains(.broadcast([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])))
        #expect(link.attributes.contains(.txQueueLength(1000)))
        #expect(link.kind == "bridge")
        #expect(link.portKind == nil)

        let bridge = link.bridgeAttributes
        for attribute: BridgeAttribute in [
            .forwardDelay(400), .helloTime(200), .maxAge(2000), .ageingTime(30000), .stpState(1),
            .priority(0x8000), .vlanFiltering(0), .bridgeID(priority: 0x8000, address: Self.br0MAC),
        ] {
            #expect(bridge.contains(attribute), "missing \(attribute)")
        }
        // IFLA_BR_ROOT_ID (10) has the same layout but is not typed.
        #expect(bridge.contains(.unknown(RawAttribute(rawType: 10, payload: [0x80, 0x00] + Self.br0MAC))))
        let unknownBridge = bridge.filter { if case .unknown = $0 { true } else { false } }
        #expect(unknownBridge.count == 34)
    }

    @Test("ip link show br0: unknown attributes survive, encode(decode(reply)) == reply")
    func bridgeReplyRoundTrips() throws {
        let message = try singleMessage(Fixture.newLinkBr0Reply)
        let link = try LinkMessage(payload: message.payload)

        let unknown = link.attributes.compactMap { if case let .unknown(raw) = $0 { raw } else { nil } }
        #expect(unknown.count == 29)  // IFLA_STATS64 is typed
        #expect(link.statistics64 == LinkStatistics64(counters: Array(repeating: 0, count: 25)))
        #expect(link.carrier == false)
        // IFLA_QDISC 'noop', kept raw with its NUL.
        #expect(unknown.contains(RawAttribute(rawType: 6, payload: Array("noop".utf8) + [0])))
        // Attributes newer than the host's headers, flags included: an empty nested
        // IFLA_DEVLINK_PORT (62) and IFLA_DPLL_PIN (65), and a u16 IFLA_HEADROOM (68).
        #expect(unknown.contains(RawAttribute(rawType: 0x803e, payload: [])))
        #expect(unknown.contains(RawAttribute(rawType: 0x8041, payload: [])))
        #expect(unknown.contains(RawAttribute(rawType: 68, payload: [0, 0])))
        let afSpec = try #require(unknown.first { $0.type == 26 })
        #expect(afSpec.payload.count == 812)

        expectBytes(link.encoded(), message.payload)
        expectBytes(framed(message.header, link.encoded()), Fixture.newLinkBr0Reply)
        // Decoding the re-encoding gives the same value again.
        #expect(try LinkMessage(payload: link.encoded()) == link)
    }

    @Test("ip link show br0: every attribute space round-trips on its own")
    func bridgeReplyRawLayer() throws {
        let message = try singleMessage(Fixture.newLinkBr0Reply)
        let attributeBytes = Array(message.payload[LinkMessage.fixedLength...])
        let raws = try RawAttribute.parseAll(attributeBytes, space: "IFLA")
        #expect(raws.count == 39)
        expectBytes(AttributePayload.nested(raws), attributeBytes)
        let typed = try LinkAttribute.decodeAll(attributeBytes)
        #expect(typed.map(\.raw) == raws)
        expectBytes(LinkAttribute.encodeAll(typed), attributeBytes)
    }

    @Test("acks from iproute2 sessions decode and re-encode", arguments: [
        (Fixture.linkAddBridgeAck, Fixture.linkAddBridge),
        (Fixture.setMasterAck, Fixture.setMaster),
        (Fixture.deleteLinkAck, Fixture.deleteLink),
    ])
    func acks(ack: [UInt8], request: [UInt8]) throws {
        let message = try singleMessage(ack)
        #expect(message.header.type == .error)
        // The kernel flags an ack NLM_F_CAPPED even without NETLINK_CAP_ACK.
        #expect(message.header.flags == .capped)
        let requestHeader = try singleMessage(request).header
        #expect(message.header.sequence == requestHeader.sequence)
        let decoded = try ErrorMessage(payload: message.payload, flags: message.header.flags)
        #expect(decoded == ErrorMessage(code: 0, request: requestHeader))
        expectBytes(decoded.encoded(), message.payload)
        expectBytes(framed(message.header, decoded.encoded()), ack)
    }

    @Test("capped ack (NETLINK_CAP_ACK socket) for `ip link set dev veth0 up`")
    func cappedAck() throws {
        let message = try singleMessage(Fixture.cappedSetUpAck)
        #expect(message.header == NetlinkHeader(length: 36, type: .error, flags: .capped, sequence: 0x6b06_a113, portID: 6753))
        let decoded = try ErrorMessage(payload: message.payload, flags: message.header.flags)
        #expect(decoded == ErrorMessage(code: 0, request: try singleMessage(Fixture.setUp).header))
        expectBytes(framed(message.header, decoded.encoded()), Fixture.cappedSetUpAck)
    }

    @Test("EEXIST without ext-ack, request echoed (iproute2 does not set NETLINK_CAP_ACK)")
    func existsErrorEchoesRequest() throws {
        let message = try singleMessage(Fixture.addExistingBridgeError)
        #expect(message.header == NetlinkHeader(length: 76, type: .error, flags: [], sequence: 0x6b06_a113, portID: 4600))
        let decoded = try ErrorMessage(payload: message.payload, flags: message.header.flags)
        #expect(decoded.code == -17)  // EEXIST
        #expect(decoded.request == (try singleMessage(Fixture.addExistingBridge).header))
        #expect(decoded.extAckMessage == nil)
        #expect(decoded.extAckOffset == nil)
        #expect(decoded.missingAttribute == nil)
        // The echo is the whole request, byte for byte.
        expectBytes(Array(message.payload[4...]), Fixture.addExistingBridge)
        // qnet encodes only the capped form: error code and request header.
        expectBytes(decoded.encoded(), Array(message.payload.prefix(4 + 16)))
    }

    @Test("ENETUNREACH with ext-ack text after the echoed request")
    func unreachableGatewayUncapped() throws {
        let message = try singleMessage(Fixture.unreachableGatewayError)
        #expect(message.header == NetlinkHeader(length: 96, type: .error, flags: .acknowledgeTLVs, sequence: 0x6b06_a113, portID: 4646))
        let decoded = try ErrorMessage(payload: message.payload, flags: message.header.flags)
        #expect(decoded == ErrorMessage(code: -101, request: try singleMessage(Fixture.unreachableGatewayRoute).header,
                                        extAckMessage: "Nexthop has invalid gateway"))
        expectBytes(Array(message.payload[4..<(4 + 44)]), Fixture.unreachableGatewayRoute)
    }

    @Test("ENETUNREACH, capped, with ext-ack text: decode and encode are exact inverses")
    func unreachableGatewayCapped() throws {
        let message = try singleMessage(Fixture.cappedUnreachableGatewayError)
        #expect(message.header == NetlinkHeader(length: 68, type: .error, flags: [.capped, .acknowledgeTLVs],
                                                sequence: 0x6b06_a113, portID: 6753))
        let expected = ErrorMessage(code: -101, request: try singleMessage(Fixture.unreachableGatewayRoute).header,
                                    extAckMessage: "Nexthop has invalid gateway")
        #expect(try ErrorMessage(payload: message.payload, flags: message.header.flags) == expected)
        expectBytes(expected.encoded(), message.payload)
        expectBytes(framed(message.header, expected.encoded()), Fixture.cappedUnreachableGatewayError)
    }

    @Test("ERANGE with text, offset and policy; uncapped and capped decode the same")
    func rangeErrorWithOffset() throws {
        let request = try singleMessage(Fixture.gsoOutOfRange)
        let expected = ErrorMessage(code: -34, request: request.header, extAckMessage: "integer out of range", extAckOffset: 32)

        let uncapped = try singleMessage(Fixture.gsoOutOfRangeError)
        #expect(uncapped.header.flags == .acknowledgeTLVs)
        #expect(try ErrorMessage(payload: uncapped.payload, flags: uncapped.header.flags) == expected)

        let capped = try singleMessage(Fixture.cappedGsoOutOfRangeError)
        #expect(capped.header.flags == [.capped, .acknowledgeTLVs])
        #expect(try ErrorMessage(payload: capped.payload, flags: capped.header.flags) == expected)

        // The offset points at the offending attribute in the request: IFLA_GSO_MAX_SIZE (41).
        let offending = Array(Fixture.gsoOutOfRange[32..<40])
        expectBytes(offending, hex("08002900 01000000"))
        // NLMSGERR_ATTR_POLICY is not modelled: the re-encoding stops before it.
        let encoded = expected.encoded()
        expectBytes(encoded, Array(capped.payload.prefix(encoded.count)))
        #expect(capped.payload.count - encoded.count == 36)
    }

    @Test("ip link show: NLMSG_DONE ends the dump with error 0")
    func dumpDone() throws {
        let message = try singleMessage(Fixture.dumpLinksDone)
        #expect(message.header == NetlinkHeader(length: 20, type: .done, flags: .multipart, sequence: 0x6b06_a113, portID: 4692))
        #expect(message.payload == [0, 0, 0, 0])
        expectBytes(NetlinkMessage(type: .done, flags: .multipart, sequence: 0x6b06_a113, portID: 4692, payload: [0, 0, 0, 0]).encoded(),
                    Fixture.dumpLinksDone)
    }

    @Test("several captured messages in one datagram split back apart")
    func multipleMessagesPerDatagram() throws {
        let datagram = Fixture.setUp + Fixture.unreachableGatewayRoute + Fixture.dumpLinksDone
        let messages = try NetlinkMessage.parseAll(datagram)
        #expect(messages.map(\.header.type) == [.newLink, .newRoute, .done])
        var writer = WireWriter()
        for message in messages { message.encode(into: &writer) }
        expectBytes(writer.bytes, datagram)
    }
}
