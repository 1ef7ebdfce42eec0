import Testing
import NetlinkTestSupport
import NetlinkWire
import QNetTypes

// Captured as Fixtures.swift describes (Linux 6.18, iproute2 6.1.0), in a throwaway namespace:
//     ip -n qnet-fx-fdb link add vx42 type vxlan id 42 remote 192.0.2.7 dstport 4789 nolearning   (vx42 = index 2)
//     ip -n qnet-fx-fdb link set vx42 up
//     ip netns exec qnet-fx-fdb bridge fdb append 00:00:00:00:00:00 dev vx42 dst 192.0.2.8
//     ip netns exec qnet-fx-fdb strace -e trace=sendto,recvmsg -e write=all -e read=all -xx bridge fdb show dev vx42
// which printed "00:00:00:00:00:00 dst 192.0.2.7 self permanent" and the same with dst 192.0.2.8.
extension Fixture {
    /// `bridge fdb show dev vx42`: the RTM_GETNEIGH dump request (iproute2 pads its buffer;
    /// the message is the first 28 bytes).
    static let fdbShowRequest: [UInt8] = hex(
        "1c000000 1e000103 7bf80c6b 00000000",  // nlmsghdr (16 B): len 28, RTM_GETNEIGH, REQUEST|DUMP (0x301), seq 0x6b0cf87b, pid 0
        "07000000 02000000 00000000",           // ndmsg (12 B): family AF_BRIDGE, ifindex 2, state 0, flags 0, type 0
    )

    /// `bridge fdb show dev vx42`: the kernel's reply, two RTM_NEWNEIGH in one datagram.
    static let fdbShowReply: [UInt8] = hex(
        "44000000 1c000200 7bf80c6b 76060000",  // nlmsghdr (16 B): len 68, RTM_NEWNEIGH, MULTI, seq 0x6b0cf87b, pid 1654
        "07000000 02000000 c0000201",           // ndmsg (12 B): AF_BRIDGE, ifindex 2, NUD_NOARP|NUD_PERMANENT, NTF_SELF, RTN_UNICAST
        "0a000200 00000000 00000000",           // NDA_LLADDR 00:00:00:00:00:00
        "08000100 c0000207",                    // NDA_DST 192.0.2.7
        "14000300 00000000 00000000 01000000 00000000",  // NDA_CACHEINFO (confirmed 0, used 0, updated 1, refcnt 0)
        "44000000 1c000200 7bf80c6b 76060000",  // nlmsghdr (16 B): len 68, RTM_NEWNEIGH, MULTI, seq 0x6b0cf87b, pid 1654
        "07000000 02000000 c0000201",           // ndmsg (12 B): as above
        "0a000200 00000000 00000000",           // NDA_LLADDR 00:00:00:00:00:00
        "08000100 c0000208",                    // NDA_DST 192.0.2.8
        "14000300 00000000 00000000 01000000 00000000",  // NDA_CACHEINFO
    )
}

@Suite("bridge fdb (RTM_*NEIGH)")
struct NeighbourFixtureTests {
    @Test("bridge fdb show dev vx42: the request qnet builds is iproute2's, byte for byte")
    func requestEncodes() throws {
        let message = try singleMessage(Fixture.fdbShowRequest)
        #expect(message.header.type == .getNeighbour)
        let request = NeighbourMessage(family: .bridge, index: 2)
        expectBytes(request.encoded(), message.payload)
        #expect(try NeighbourMessage(payload: message.payload) == request)
    }

    @Test("bridge fdb show dev vx42: both VTEPs decode, and the reply re-encodes byte for byte")
    func replyDecodes() throws {
        let messages = try NetlinkMessage.parseAll(Fixture.fdbShowReply)
        #expect(messages.count == 2)
        var reencoded: [UInt8] = []
        var destinations: [IPAddress] = []
        for message in messages {
            #expect(message.header.type == .newNeighbour)
            let entry = try NeighbourMessage(payload: message.payload)
            #expect(entry.family == .bridge && entry.index == 2 && entry.state == 0xc0 && entry.flags == 0x02 && entry.type == 1)
            #expect(entry.linkLayerAddress == [0, 0, 0, 0, 0, 0])
            if let destination = entry.destination { destinations.append(destination) }
            reencoded += framed(message.header, entry.encoded())
        }
        #expect(destinations == [IPAddress("192.0.2.7")!, IPAddress("192.0.2.8")!])
        expectBytes(reencoded, Fixture.fdbShowReply)
    }

    @Test("a short ndmsg or a bad NDA_DST throws instead of trapping", arguments: [0, 5, 11])
    func truncatedThrows(length: Int) throws {
        let message = try NetlinkMessage.parseAll(Fixture.fdbShowReply)[0]
        #expect(throws: WireError.self) { try NeighbourMessage(payload: Array(message.payload.prefix(length))) }
        #expect(throws: WireError.self) { try NeighbourAttribute(raw: RawAttribute(rawType: 1, payload: [192, 0, 2])) }
    }
}
