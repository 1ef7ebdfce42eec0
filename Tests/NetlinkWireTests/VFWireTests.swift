import NetlinkTestSupport
import NetlinkWire
import Testing

/// `ifla_vf_mac.mac` as the kernel and ip fill it: the 6 bytes, then zeros to MAX_ADDR_LEN.
private func macField(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: vfMACFieldLength - bytes.count) }

private let mac = macField([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])

@Suite("SR-IOV VF settings on the wire (IFLA_VFINFO_LIST)")
struct VFWireTests {
    /// Each captured `ip link set v0 vf 1 ...` request and the VF attributes it carries.
    static let requests: [(name: String, bytes: [UInt8], attributes: [VFAttribute])] = [
        ("mac", Fixture.vfSetMAC, [.mac(vf: 1, address: mac)]),
        ("vlan 10 qos 3", Fixture.vfSetVLAN, [.vlan(vf: 1, vlan: 10, qos: 3)]),
        ("vlan 10 qos 3 proto 802.1ad", Fixture.vfSetVLAN8021AD,
         [.vlanList([.info(VFVLANInfo(vf: 1, vlan: 10, qos: 3, proto: VFVLANInfo.proto8021AD))])]),
        ("vlan 0", Fixture.vfSetVLANOff, [.vlan(vf: 1, vlan: 0, qos: 0)]),
        ("rate 100", Fixture.vfSetTxRate, [.txRate(vf: 1, rate: 100)]),
        ("max_tx_rate 500 min_tx_rate 100", Fixture.vfSetRate, [.rate(vf: 1, minimum: 100, maximum: 500)]),
        ("spoofchk on", Fixture.vfSpoofCheckOn, [.spoofCheck(vf: 1, setting: 1)]),
        ("spoofchk off", Fixture.vfSpoofCheckOff, [.spoofCheck(vf: 1, setting: 0)]),
        ("trust on", Fixture.vfTrustOn, [.trust(vf: 1, setting: 1)]),
        ("trust off", Fixture.vfTrustOff, [.trust(vf: 1, setting: 0)]),
        ("state auto", Fixture.vfStateAuto, [.linkState(vf: 1, state: VFLinkState.auto.rawValue)]),
        ("state enable", Fixture.vfStateEnable, [.linkState(vf: 1, state: VFLinkState.enable.rawValue)]),
        ("state disable", Fixture.vfStateDisable, [.linkState(vf: 1, state: VFLinkState.disable.rawValue)]),
        ("mac vlan qos spoofchk trust state max_tx_rate min_tx_rate", Fixture.vfSetAll,
         [.mac(vf: 1, address: mac), .vlan(vf: 1, vlan: 10, qos: 3), .spoofCheck(vf: 1, setting: 0), .trust(vf: 1, setting: 1),
          .linkState(vf: 1, state: VFLinkState.enable.rawValue), .rate(vf: 1, minimum: 100, maximum: 500)]),
    ]

    @Test("ip link set v0 vf 1 ...: decodes to the typed VF attributes and encodes back byte for byte",
          arguments: requests.indices)
    func request(index: Int) throws {
        let (name, bytes, attributes) = Self.requests[index]
        let message = try singleMessage(bytes)
        #expect(message.header.type == .newLink, "\(name)")
        #expect(message.header.flags == [.request, .acknowledge], "\(name)")
        let expected = LinkMessage(index: 3, attributes: [.vfInfoList([.info(attributes)])])
        let decoded = try LinkMessage(payload: message.payload)
        #expect(decoded == expected, "\(name)")
        #expect(decoded.virtualFunctions == [attributes], "\(name)")
        expectBytes(framed(message.header, expected.encoded()), bytes, "\(name)")
    }

    @Test("the MAC is padded to MAX_ADDR_LEN when given as 6 bytes, as ip pads it")
    func shortMACIsPadded() throws {
        let short = LinkMessage(index: 3, attributes: [.vfInfoList([.info([.mac(vf: 1, address: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56])])])])
        let message = try singleMessage(Fixture.vfSetMAC)
        expectBytes(framed(message.header, short.encoded()), Fixture.vfSetMAC)
    }

    @Test("the kernel's EOPNOTSUPP answer to a VF change on a device without SR-IOV")
    func notSupported() throws {
        let message = try singleMessage(Fixture.vfSetMACNotSupported)
        let error = try ErrorMessage(payload: message.payload, flags: message.header.flags)
        #expect(error.code == -95)  // EOPNOTSUPP
        #expect(error.request == (try singleMessage(Fixture.vfSetMAC).header))
        // The echo is the whole request, byte for byte (iproute2 sets no NETLINK_CAP_ACK).
        expectBytes(Array(message.payload[4...]), Fixture.vfSetMAC)
    }

    @Test("ip's PF look-up asks for VF info with IFLA_EXT_MASK = RTEXT_FILTER_VF|RTEXT_FILTER_SKIP_STATS")
    func getLinkWithVFs() throws {
        let message = try singleMessage(Fixture.getLinkWithVFs)
        let expected = LinkMessage(attributes: [.extendedFilter([.virtualFunctions, .skipStatistics]), .name("v0")])
        #expect(try LinkMessage(payload: message.payload) == expected)
        expectBytes(framed(message.header, expected.encoded()), Fixture.getLinkWithVFs)
    }

    static let vf0: [VFAttribute] = [
        .mac(vf: 0, address: mac),
        .unknown(RawAttribute(rawType: 13, payload: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + [UInt8](repeating: 0, count: 26))),
        .vlan(vf: 0, vlan: 10, qos: 3), .rate(vf: 0, minimum: 0, maximum: 0), .txRate(vf: 0, rate: 0),
        .spoofCheck(vf: 0, setting: 1), .linkState(vf: 0, state: 0), .rssQuery(vf: 0, setting: 0), .trust(vf: 0, setting: 0),
        .vlanList([.info(VFVLANInfo(vf: 0, vlan: 10, qos: 3, proto: VFVLANInfo.proto8021Q))]),
        .statistics([.rxPackets(120), .txPackets(80), .rxBytes(15360), .txBytes(10240), .broadcast(4), .multicast(6),
                      .rxDropped(1), .txDropped(0)]),
    ]

    static let vf1: [VFAttribute] = [
        .mac(vf: 1, address: macField([0, 0, 0, 0, 0, 0])),
        .unknown(RawAttribute(rawType: 13, payload: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + [UInt8](repeating: 0, count: 26))),
        .vlan(vf: 1, vlan: 100, qos: 0), .rate(vf: 1, minimum: 100, maximum: 1000), .txRate(vf: 1, rate: 1000),
        .spoofCheck(vf: 1, setting: 0), .linkState(vf: 1, state: 2), .rssQuery(vf: 1, setting: 0), .trust(vf: 1, setting: 1),
        .vlanList([.info(VFVLANInfo(vf: 1, vlan: 100, qos: 0, proto: VFVLANInfo.proto8021AD))]),
        .statistics([.rxPackets(0), .txPackets(0), .rxBytes(0), .txBytes(0), .broadcast(0), .multicast(0), .rxDropped(0), .txDropped(0)]),
    ]

    @Test("a PF's dump entry with 2 VFs decodes every VF setting and encodes back byte for byte")
    func pfWithTwoVFs() throws {
        let message = try singleMessage(Fixture.pfWithTwoVFs)
        let link = try LinkMessage(payload: message.payload)
        #expect(link.name == "enp1s0f0")
        #expect(link.vfCount == 2)
        #expect(link.virtualFunctions == [Self.vf0, Self.vf1])
        expectBytes(framed(message.header, link.encoded()), Fixture.pfWithTwoVFs)
    }

    @Test("link-state values come from the header's IFLA_VF_LINK_STATE_* and unknown ones are refused")
    func linkStates() {
        #expect(VFLinkState.allCases.map(\.rawValue) == [0, 1, 2])
        #expect(VFLinkState(rawValue: 3) == nil)
        #expect(VFVLANInfo.proto8021Q == 0x8100 && VFVLANInfo.proto8021AD == 0x88a8)
    }
}

@Suite("SR-IOV VF nests that are truncated or garbage")
struct VFMalformedTests {
    /// The PF fixture's IFLA_VFINFO_LIST attribute (type 22) and where it starts in the datagram.
    static func vfListRange() throws -> Range<Int> {
        let bytes = Fixture.pfWithTwoVFs
        var offset = 32  // nlmsghdr + ifinfomsg
        while offset + 4 <= bytes.count {
            let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
            let type = Int(bytes[offset + 2]) | Int(bytes[offset + 3]) << 8
            if type == 22 { return offset..<offset + length }
            offset += (length + 3) & ~3
        }
        throw WireError.truncated(what: "IFLA_VFINFO_LIST in the fixture", needed: 4, available: 0)
    }

    @Test("every cut of the VF list inside an intact PF message: the PF still decodes, the VFs are never invented")
    func truncatedList() throws {
        let range = try Self.vfListRange()
        let original = Fixture.pfWithTwoVFs
        var decodedWithoutVFs = 0
        for cut in 4..<range.count {
            // Shorten the list's payload and its nla_len; the message after it is re-framed.
            var list = Array(original[range.lowerBound..<range.lowerBound + cut])
            list[0] = UInt8(cut & 0xff)
            list[1] = UInt8(cut >> 8)
            let before = Array(original[16..<range.lowerBound])
            let message = NetlinkMessage(type: .newLink, flags: .multipart, payload: before + list)
            let decoded = try LinkMessage(payload: try singleMessage(message.encoded()).payload)
            #expect(decoded.name == "enp1s0f0")
            #expect(decoded.vfCount == 2)
            // A cut inside a VF leaves the list undecodable (kept raw) or, at a VF boundary, fewer VFs.
            #expect(decoded.virtualFunctions.count < 2)
            if decoded.virtualFunctions.isEmpty { decodedWithoutVFs += 1 }
        }
        #expect(decodedWithoutVFs > 0)
    }

    @Test("VF structures one byte short of their UAPI size are refused",
          arguments: [(UInt16(1), 35), (UInt16(2), 11), (UInt16(3), 7), (UInt16(4), 7), (UInt16(5), 7), (UInt16(6), 11),
                      (UInt16(7), 7), (UInt16(9), 7)])
    func shortStructures(type: UInt16, length: Int) {
        #expect(throws: WireError.self) { try VFAttribute(raw: RawAttribute(rawType: type, payload: [UInt8](repeating: 1, count: length))) }
    }

    @Test("a short IFLA_VF_VLAN_INFO and a short VF counter are refused")
    func shortNested() {
        #expect(throws: WireError.self) { try VFVLANListAttribute(raw: RawAttribute(rawType: 1, payload: [UInt8](repeating: 0, count: 15))) }
        #expect(throws: WireError.self) { try VFStatisticsAttribute(raw: RawAttribute(rawType: 0, payload: [1, 2, 3, 4])) }
    }

    @Test("a garbage VF list keeps the PF decodable and the list's bytes intact")
    func garbageList() throws {
        let garbage = RawAttribute(rawType: 22, payload: [0xff, 0xff, 0x01, 0x00, 0xde, 0xad])
        let payload = LinkMessage(index: 2, attributes: [.name("pf0"), .unknown(garbage)]).encoded()
        let decoded = try LinkMessage(payload: payload)
        #expect(decoded.name == "pf0")
        #expect(decoded.virtualFunctions.isEmpty)
        #expect(decoded.attributes.contains(.unknown(garbage)))
        #expect(decoded.encoded() == payload)
    }

    @Test("longer structures from a newer kernel decode by the fields this header knows")
    func longerStructure() throws {
        let rate = try VFAttribute(raw: RawAttribute(rawType: 6, payload: [1, 0, 0, 0, 100, 0, 0, 0, 0xe8, 3, 0, 0, 9, 9, 9, 9]))
        #expect(rate == .rate(vf: 1, minimum: 100, maximum: 1000))
    }
}
