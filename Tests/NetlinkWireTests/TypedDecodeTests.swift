import NetlinkTestSupport
import NetlinkWire
import Testing

/// `LinkMessage(decodingTypedOnly:)`, the decoder of `qnet show` and every link lookup: it
/// skips what has no typed case and must answer every accessor as the full decoder does.
@Suite("typed-only link decoding")
struct TypedDecodeTests {
    @Test("captured link replies: the same typed attributes, in order, as the full decode",
          arguments: [("newLinkBr0Reply", Fixture.newLinkBr0Reply), ("newLinkVeth0StatsReply", Fixture.newLinkVeth0StatsReply)])
    func capturedReplies(name: String, datagram: [UInt8]) throws {
        let payload = try singleMessage(datagram).payload
        let full = try LinkMessage(payload: payload)
        let typed = try LinkMessage(decodingTypedOnly: payload)
        #expect(typed == typedOnlyExpectation(of: full), "\(name)")
        // Without the counters: the same, less IFLA_STATS64.
        var withoutStatistics = typedOnlyExpectation(of: full)
        withoutStatistics.attributes.removeAll { if case .statistics64 = $0 { true } else { false } }
        #expect(try LinkMessage(decodingTypedOnly: payload, statistics: false) == withoutStatistics, "\(name)")
        // It does skip something (per-family settings, qdisc, ...), and answers the same.
        #expect(typed.attributes.count < full.attributes.count, "\(name)")
        #expect(typed.name == full.name && typed.mtu == full.mtu && typed.kind == full.kind && typed.portKind == full.portKind)
        #expect(typed.hardwareAddress == full.hardwareAddress && typed.operState == full.operState && typed.group == full.group)
        #expect(typed.masterIndex == full.masterIndex && typed.alias == full.alias && typed.carrier == full.carrier)
        #expect(typed.statistics64 == full.statistics64 && typed.linkNamespaceID == full.linkNamespaceID && typed.lowerIndex == full.lowerIndex)
        #expect(typed.bridgeAttributes == full.bridgeAttributes.filter { $0 != .unknown($0.raw) })
        #expect(typed.bridgePortAttributes == full.bridgePortAttributes.filter { $0 != .unknown($0.raw) })
    }

    @Test("a bridge port with TUN data: port and TUN attributes kept, their unknown ones and IFLA_AF_SPEC skipped")
    func portWithTunData() throws {
        let portData: [BridgePortAttribute] = [
            .state(3), .unknown(RawAttribute(rawType: 100, payload: [1, 2, 3, 4])), .cost(100), .priority(32), .learning(1),
            .unknown(RawAttribute(rawType: 11, payload: [0, 0, 0, 0, 0, 0, 0, 0])), .isolated(0),
        ]
        let tunData: [TunAttribute] = [.type(2), .owner(0), .unknown(RawAttribute(rawType: 99, payload: [7])), .persist(1)]
        let message = LinkMessage(index: 7, flags: [.up], attributes: [
            .name("tap0"),
            .unknown(RawAttribute(rawType: 26 /* IFLA_AF_SPEC */ | 0x8000, payload: AttributePayload.nested([
                RawAttribute(rawType: 2, payload: [1, 2, 3, 4]),
            ]))),
            .mtu(1500), .master(3), .alias("qnet:vm=web/0"),
            .linkInfo([.kind("tun"), .tunData(tunData), .portKind("bridge"), .bridgePortData(portData),
                       .unknown(RawAttribute(rawType: 3 /* IFLA_INFO_XSTATS */, payload: [0, 0, 0, 0]))]),
        ])
        let payload = message.encoded()
        let typed = try LinkMessage(decodingTypedOnly: payload)
        #expect(typed.attributes == [
            .name("tap0"), .mtu(1500), .master(3), .alias("qnet:vm=web/0"),
            .linkInfo([.kind("tun"), .tunData([.type(2), .owner(0), .persist(1)]), .portKind("bridge"),
                       .bridgePortData([.state(3), .cost(100), .priority(32), .learning(1), .isolated(0)])]),
        ])
        #expect(typedOnlyDecodeDisagreement(payload) == nil)
    }

    @Test("a malformed typed attribute is refused as the full decoder refuses it")
    func malformedTypedAttribute() {
        // IFLA_MTU with 2 bytes.
        let payload = LinkMessage(index: 1, attributes: [.unknown(RawAttribute(rawType: 4, payload: [0xdc, 0x05]))]).encoded()
        #expect(throws: WireError.self) { try LinkMessage(payload: payload) }
        #expect(throws: WireError.self) { try LinkMessage(decodingTypedOnly: payload) }
    }

    @Test("each space's list of typed types is what its decoder decodes, and none is at or above the probed range")
    func typedTypes() throws {
        #expect(LinkAttribute.typedTypes == TypedAttributeTypes(probing: LinkAttribute.self))
        #expect(BridgeAttribute.typedTypes == TypedAttributeTypes(probing: BridgeAttribute.self))
        #expect(BridgePortAttribute.typedTypes == TypedAttributeTypes(probing: BridgePortAttribute.self))
        #expect(TunAttribute.typedTypes == TypedAttributeTypes(probing: TunAttribute.self))
        #expect(VXLANAttribute.typedTypes == TypedAttributeTypes(probing: VXLANAttribute.self))
        #expect(LinkAttribute.typedTypes.contains(4))    // IFLA_MTU
        #expect(LinkAttribute.typedTypes.contains(18))   // IFLA_LINKINFO
        #expect(!LinkAttribute.typedTypes.contains(37) && LinkAttribute.typesRead.contains(37))  // IFLA_LINK_NETNSID
        #expect(!LinkAttribute.typesRead.contains(6))    // IFLA_QDISC
        #expect(!LinkAttribute.typesRead.contains(26))   // IFLA_AF_SPEC
        #expect(BridgePortAttribute.typedTypes.contains(1) && !BridgePortAttribute.typedTypes.contains(11))  // STATE; LEARNING_SYNC
        func noneAbove<Space: SkippableAttributeSpace>(_ space: Space.Type) -> [Int] {
            (TypedAttributeTypes.probedTypes...0x3fff).filter { type in
                let probe = RawAttribute(rawType: UInt16(type), payload: [])
                guard let decoded = try? Space(raw: probe) else { return true }
                return decoded != Space.unknown(probe)
            }
        }
        #expect(noneAbove(LinkAttribute.self).isEmpty)
        #expect(noneAbove(BridgeAttribute.self).isEmpty)
        #expect(noneAbove(BridgePortAttribute.self).isEmpty)
        #expect(noneAbove(TunAttribute.self).isEmpty)
        #expect(noneAbove(VXLANAttribute.self).isEmpty)
    }
}
