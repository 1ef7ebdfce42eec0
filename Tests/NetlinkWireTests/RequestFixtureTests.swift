import NetlinkTestSupport
import NetlinkWire
import QNetTypes
import Testing

// Requests captured from iproute2 (see Fixtures.swift), checked in both directions:
// decode(bytes) == typed value, and encode(typed value) == bytes.

@Suite("iproute2 requests")
struct RequestFixtureTests {
    /// `nlmsg_seq` iproute2 used for most captures (time-based).
    static let seq: UInt32 = 0x6b06_a113
    static let newFlags: MessageFlags = [.request, .acknowledge, .exclusive, .create]

    @Test("ip link add br0 type bridge stp_state 1 forward_delay 400")
    func addBridge() throws {
        let fixture = Fixture.linkAddBridge
        let message = try singleMessage(fixture)
        let header = NetlinkHeader(length: 76, type: .newLink, flags: Self.newFlags, sequence: 0x6b06_a112)
        #expect(message.header == header)
        #expect(message.header.flags.rawValue == 0x0605)

        let expected = LinkMessage(attributes: [
            .name("br0"),
            .linkInfo([.kind("bridge"), .bridgeData([.stpState(1), .forwardDelay(400)])]),
        ])
        let decoded = try LinkMessage(payload: message.payload)
        #expect(decoded == expected)
        #expect(decoded.name == "br0")
        #expect(decoded.kind == "bridge")
        #expect(decoded.bridgeAttributes == [.stpState(1), .forwardDelay(400)])

        // Exactly iproute2's bytes when the kind is sent the iproute2 way (no NUL) ...
        let asIproute2 = LinkMessage(attributes: [
            .name("br0"),
            .linkInfo([iproute2Kind("bridge"), .bridgeData([.stpState(1), .forwardDelay(400)])]),
        ])
        expectBytes(framed(header, asIproute2.encoded()), fixture)
        // ... and qnet's own encoding differs in one byte only: IFLA_INFO_KIND's nla_len is
        // 11 ("bridge\0") instead of 10; the NUL lands in what was padding.
        #expect(fixture[44] == 10)
        var withNUL = fixture
        withNUL[44] = 11
        expectBytes(framed(header, expected.encoded()), withNUL)
        #expect(try LinkMessage(payload: try singleMessage(withNUL).payload) == expected)
    }

    @Test("ip link set dev veth0 master br0")
    func setMaster() throws {
        let message = try singleMessage(Fixture.setMaster)
        let header = NetlinkHeader(length: 40, type: .newLink, flags: [.request, .acknowledge], sequence: 0x6b06_a112)
        #expect(message.header == header)
        let expected = LinkMessage(index: 4, attributes: [.master(2)])
        let decoded = try LinkMessage(payload: message.payload)
        #expect(decoded == expected)
        #expect(decoded.masterIndex == 2)
        expectBytes(framed(header, expected.encoded()), Fixture.setMaster)
    }

    @Test("ip link set dev veth0 up")
    func setUp() throws {
        let message = try singleMessage(Fixture.setUp)
        let header = NetlinkHeader(length: 32, type: .newLink, flags: [.request, .acknowledge], sequence: Self.seq)
        #expect(message.header == header)
        let expected = LinkMessage(index: 4, flags: .up, change: .up)
        #expect(try LinkMessage(payload: message.payload) == expected)
        expectBytes(framed(header, expected.encoded()), Fixture.setUp)
    }

    @Test("ip link set veth0 type bridge_slave cost 10 isolated on")
    func setBridgePortOptions() throws {
        let message = try singleMessage(Fixture.setBridgePort)
        let header = NetlinkHeader(length: 72, type: .newLink, flags: [.request, .acknowledge], sequence: Self.seq)
        #expect(message.header == header)

        // iproute2 names the kind "bridge_slave" in IFLA_INFO_KIND (no IFLA_INFO_SLAVE_KIND),
        // so the decoder, which types IFLA_INFO_SLAVE_DATA only under IFLA_INFO_SLAVE_KIND
        // "bridge" (the form the kernel reports), keeps the slave data raw.
        let portData = BridgePortAttribute.encodeAll([.cost(10), .isolated(1)])
        let slaveData = RawAttribute(rawType: 5 /* IFLA_INFO_SLAVE_DATA */, payload: portData)
        let decoded = try LinkMessage(payload: message.payload)
        #expect(decoded == LinkMessage(index: 4, attributes: [.linkInfo([.kind("bridge_slave"), .unknown(slaveData)])]))
        #expect(decoded.kind == "bridge_slave")
        // The port attributes themselves decode with the typed bridge-port space.
        guard case let .unknown(raw)? = decoded.linkInfo.last else {
            Issue.record("IFLA_INFO_SLAVE_DATA missing")
            return
        }
        #expect(try BridgePortAttribute.decodeAll(raw.payload) == [.cost(10), .isolated(1)])

        let asIproute2 = LinkMessage(index: 4, attributes: [.linkInfo([iproute2Kind("bridge_slave"), .unknown(slaveData)])])
        expectBytes(framed(header, asIproute2.encoded()), Fixture.setBridgePort)
    }

    @Test("qnet's own bridge-port form (IFLA_INFO_SLAVE_KIND \"bridge\") round-trips typed")
    func bridgePortQnetForm() throws {
        let message = LinkMessage(index: 4, attributes: [.linkInfo([.portKind("bridge"), .bridgePortData([.cost(10), .isolated(1)])])])
        let bytes = message.encoded()
        expectBytes(bytes, hex(
            "00000000 04000000 00000000 00000000",  // ifinfomsg (16 B): index 4
            "24001200",                             // IFLA_LINKINFO (36 B)
            "0b000400 62726964 67650000",           //   IFLA_INFO_SLAVE_KIND 'bridge'
            "14000500",                             //   IFLA_INFO_SLAVE_DATA (20 B)
            "08000300 0a000000",                    //     IFLA_BRPORT_COST 10
            "05002100 01000000",                    //     IFLA_BRPORT_ISOLATED 1
        ))
        let decoded = try LinkMessage(payload: bytes)
        #expect(decoded == message)
        #expect(decoded.portKind == "bridge")
        #expect(decoded.bridgePortAttributes == [.cost(10), .isolated(1)])
    }

    @Test("ip addr add 192.168.1.10/24 dev veth0")
    func addIPv4Address() throws {
        let message = try singleMessage(Fixture.addAddressV4)
        let header = NetlinkHeader(length: 40, type: .newAddress, flags: Self.newFlags, sequence: Self.seq)
        #expect(message.header == header)
        let address = try #require(IPAddress("192.168.1.10"))
        // iproute2's order: IFA_LOCAL, then IFA_ADDRESS.
        let expected = AddressMessage(family: .inet, prefixLength: 24, index: 4, attributes: [.local(address), .address(address)])
        let decoded = try AddressMessage(payload: message.payload)
        #expect(decoded == expected)
        #expect(decoded.prefix == IPPrefix("192.168.1.10/24"))
        #expect(decoded.allFlags == 0)
        expectBytes(framed(header, expected.encoded()), Fixture.addAddressV4)
    }

    @Test("ip -6 addr add 2001:db8::1/64 dev veth0")
    func addIPv6Address() throws {
        let message = try singleMessage(Fixture.addAddressV6)
        let header = NetlinkHeader(length: 64, type: .newAddress, flags: Self.newFlags, sequence: Self.seq)
        #expect(message.header == header)
        let address = try #require(IPAddress("2001:db8::1"))
        let expected = AddressMessage(family: .inet6, prefixLength: 64, index: 4, attributes: [.local(address), .address(address)])
        let decoded = try AddressMessage(payload: message.payload)
        #expect(decoded == expected)
        #expect(decoded.prefix?.description == "2001:db8::1/64")
        expectBytes(framed(header, expected.encoded()), Fixture.addAddressV6)
    }

    @Test("ip route add default via 192.168.1.254 dev veth0 metric 100")
    func addDefaultRoute() throws {
        let message = try singleMessage(Fixture.addDefaultRoute)
        let header = NetlinkHeader(length: 52, type: .newRoute, flags: Self.newFlags, sequence: Self.seq)
        #expect(message.header == header)
        let gateway = try #require(IPAddress("192.168.1.254"))
        // RouteMessage's defaults are what `ip route add` sends: main table, RTPROT_BOOT,
        // universe scope, unicast.
        let expected = RouteMessage(family: .inet, attributes: [.gateway(gateway), .priority(100), .outputInterface(4)])
        let decoded = try RouteMessage(payload: message.payload)
        #expect(decoded == expected)
        #expect(decoded.table == 254 && decoded.routeProtocol == 3 && decoded.scope == 0 && decoded.type == 1)
        #expect(decoded.destination == nil)
        #expect(decoded.gateway == gateway)
        #expect(decoded.priority == 100)
        #expect(decoded.outputInterface == 4)
        #expect(decoded.fullTable == 254)
        expectBytes(framed(header, expected.encoded()), Fixture.addDefaultRoute)
    }

    @Test("ip route add 10.0.0.0/8 via 192.168.99.1")
    func addNetworkRoute() throws {
        let message = try singleMessage(Fixture.unreachableGatewayRoute)
        let header = NetlinkHeader(length: 44, type: .newRoute, flags: Self.newFlags, sequence: Self.seq)
        #expect(message.header == header)
        let expected = RouteMessage(family: .inet, destinationLength: 8, attributes: [
            .destination(try #require(IPAddress("10.0.0.0"))), .gateway(try #require(IPAddress("192.168.99.1"))),
        ])
        #expect(try RouteMessage(payload: message.payload) == expected)
        expectBytes(framed(header, expected.encoded()), Fixture.unreachableGatewayRoute)
    }

    @Test("ip link del veth0")
    func deleteLink() throws {
        let message = try singleMessage(Fixture.deleteLink)
        let header = NetlinkHeader(length: 32, type: .delLink, flags: [.request, .acknowledge], sequence: 0x6b06_a184)
        #expect(message.header == header)
        let expected = LinkMessage(index: 4)
        #expect(try LinkMessage(payload: message.payload) == expected)
        expectBytes(framed(header, expected.encoded()), Fixture.deleteLink)
    }

    @Test("ip link show br0 (RTM_GETLINK by name)")
    func getLinkByName() throws {
        let message = try singleMessage(Fixture.getLinkBr0)
        let header = NetlinkHeader(length: 48, type: .getLink, flags: [.request], sequence: Self.seq)
        #expect(message.header == header)
        // ifi_family AF_PACKET (17); IFLA_EXT_MASK (29) = RTEXT_FILTER_VF is not typed.
        let expected = LinkMessage(family: AddressFamily(rawValue: 17), attributes: [
            .name("br0"), .unknown(RawAttribute(rawType: 29, payload: AttributePayload.u32(1))),
        ])
        #expect(try LinkMessage(payload: message.payload) == expected)
        expectBytes(framed(header, expected.encoded()), Fixture.getLinkBr0)
    }

    @Test("ip link show (RTM_GETLINK dump)")
    func dumpLinks() throws {
        let message = try singleMessage(Fixture.dumpLinks)
        let header = NetlinkHeader(length: 40, type: .getLink, flags: [.request, .dump], sequence: Self.seq)
        #expect(message.header == header)
        #expect(message.header.flags.rawValue == 0x0301)
        let expected = LinkMessage(family: AddressFamily(rawValue: 17), attributes: [
            .unknown(RawAttribute(rawType: 29, payload: AttributePayload.u32(1))),
        ])
        #expect(try LinkMessage(payload: message.payload) == expected)
        expectBytes(framed(header, expected.encoded()), Fixture.dumpLinks)
    }

    @Test("gso_max_size request carries attributes in iproute2's order")
    func attributeOrderIsKept() throws {
        // `ip link add br1 gso_max_size 1 type bridge`: IFLA_GSO_MAX_SIZE (41) comes before
        // IFLA_IFNAME; the typed value keeps that order and so re-encodes identically.
        let message = try singleMessage(Fixture.gsoOutOfRange)
        let header = NetlinkHeader(length: 64, type: .newLink, flags: Self.newFlags, sequence: 0x6b06_a178)
        #expect(message.header == header)
        let gso = RawAttribute(rawType: 41, payload: AttributePayload.u32(1))
        let decoded = try LinkMessage(payload: message.payload)
        #expect(decoded == LinkMessage(attributes: [.unknown(gso), .name("br1"), .linkInfo([.kind("bridge")])]))
        let asIproute2 = LinkMessage(attributes: [.unknown(gso), .name("br1"), .linkInfo([iproute2Kind("bridge")])])
        expectBytes(framed(header, asIproute2.encoded()), Fixture.gsoOutOfRange)
    }
}
