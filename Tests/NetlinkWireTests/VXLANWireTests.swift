import NetlinkTestSupport
import NetlinkWire
import QNetTypes
import Testing

@Suite("VXLAN device and FDB entries on the wire")
struct VXLANWireTests {
    static let newFlags: MessageFlags = [.request, .acknowledge, .exclusive, .create]

    @Test("ip link add vx0 type vxlan id 42 local 192.0.2.1 dev u0 dstport 4789 nolearning")
    func linkAddVXLAN() throws {
        let message = try singleMessage(Fixture.linkAddVXLAN)
        let header = NetlinkHeader(length: 100, type: .newLink, flags: Self.newFlags, sequence: 0x6b0c_f39d)
        #expect(message.header == header)
        let data: [VXLANAttribute] = [.link(3), .id(42), .local(IPAddress("192.0.2.1")!), .learning(0), .port(4789)]
        let decoded = try LinkMessage(payload: message.payload)
        #expect(decoded == LinkMessage(attributes: [.name("vx0"), .linkInfo([.kind("vxlan"), .vxlanData(data)])]))
        #expect(decoded.vxlanAttributes == data)
        let asIproute2 = LinkMessage(attributes: [.name("vx0"), .linkInfo([iproute2Kind("vxlan"), .vxlanData(data)])])
        expectBytes(framed(header, asIproute2.encoded()), Fixture.linkAddVXLAN)
    }

    @Test("bridge fdb append 00:00:00:00:00:00 dev vx0 dst 192.0.2.2 (head-end replication entry)")
    func fdbAppend() throws {
        let message = try singleMessage(Fixture.fdbAppendDefault)
        let header = NetlinkHeader(length: 48, type: .newNeighbour, flags: [.request, .acknowledge, .create, .append],
                                   sequence: 0x6b0c_f39e)
        #expect(message.header == header)
        let expected = NeighbourMessage(family: .bridge, index: 4, state: NeighbourMessage.statePermanent, flags: NeighbourMessage.flagSelf,
                                        attributes: [.linkLayerAddress([0, 0, 0, 0, 0, 0]), .destination(IPAddress("192.0.2.2")!)])
        let decoded = try NeighbourMessage(payload: message.payload)
        #expect(decoded == expected)
        #expect(decoded.linkLayerAddress == [0, 0, 0, 0, 0, 0])
        expectBytes(framed(header, expected.encoded()), Fixture.fdbAppendDefault)
    }

    @Test("bridge fdb del 00:00:00:00:00:00 dev vx0 dst 192.0.2.2")
    func fdbDelete() throws {
        let message = try singleMessage(Fixture.fdbDeleteDefault)
        let header = NetlinkHeader(length: 48, type: .delNeighbour, flags: [.request, .acknowledge], sequence: 0x6b0c_f3a0)
        #expect(message.header == header)
        let decoded = try NeighbourMessage(payload: message.payload)
        #expect(decoded.destination == IPAddress("192.0.2.2"))
        expectBytes(framed(header, decoded.encoded()), Fixture.fdbDeleteDefault)
    }

    @Test("a short ndmsg or a bad NDA_DST / NDA_PORT is rejected without trapping",
          arguments: [[UInt8](repeating: 0, count: 11),
                      [7, 0, 0, 0, 4, 0, 0, 0, 0xc0, 0, 2, 0, 7, 0, 1, 0, 1, 2, 3, 0],
                      [7, 0, 0, 0, 4, 0, 0, 0, 0xc0, 0, 2, 0, 5, 0, 6, 0, 1, 0, 0, 0]])
    func malformed(bytes: [UInt8]) {
        #expect(throws: WireError.self) { try NeighbourMessage(payload: bytes) }
    }

    @Test("a VXLAN port and learning flag of the wrong size are rejected")
    func badVXLANAttributes() {
        #expect(throws: WireError.self) { try VXLANAttribute(raw: RawAttribute(rawType: 15, payload: [0x12])) }
        #expect(throws: WireError.self) { try VXLANAttribute(raw: RawAttribute(rawType: 7, payload: [0, 0])) }
    }
}
