import Testing
import NetlinkTestSupport
import NetlinkWire

@Suite("IFLA_STATS64")
struct LinkStatisticsTests {
    @Test("ip -s link show dev veth0: the counters decode to what ip printed, and re-encode byte for byte")
    func capturedReplyDecodes() throws {
        let message = try singleMessage(Fixture.newLinkVeth0StatsReply)
        let link = try LinkMessage(payload: message.payload)
        #expect(link.name == "veth0")
        let statistics = try #require(link.statistics64)
        #expect(statistics.counters.count == 25)
        #expect(statistics.rxPackets == 7)
        #expect(statistics.txPackets == 10)
        #expect(statistics.rxBytes == 586)
        #expect(statistics.txBytes == 712)
        #expect(statistics.rxErrors == 0 && statistics.txErrors == 0)
        #expect(statistics.rxDropped == 0 && statistics.txDropped == 0)
        expectBytes(framed(message.header, link.encoded()), Fixture.newLinkVeth0StatsReply)
    }

    @Test("every named counter reads its own slot of struct rtnl_link_stats64")
    func fieldsMapToTheirSlots() throws {
        // Counter i holds i + 1, so each accessor names the slot it reads.
        let statistics = LinkStatistics64(counters: (1...25).map(UInt64.init))
        #expect([statistics.rxPackets, statistics.txPackets, statistics.rxBytes, statistics.txBytes,
                 statistics.rxErrors, statistics.txErrors, statistics.rxDropped, statistics.txDropped,
                 statistics.multicast, statistics.collisions] == Array(1...10))
        #expect(statistics.rxOverErrors == 12)
        #expect(statistics.rxMissed == 16)
        #expect(statistics.txCarrierErrors == 18)
        #expect(try LinkStatistics64(payload: statistics.payload) == statistics)
    }

    @Test("an older kernel's 23 counters decode; the missing ones read 0")
    func shorterPayloadDecodes() throws {
        let statistics = try LinkStatistics64(payload: LinkStatistics64(counters: Array(repeating: 5, count: 23)).payload)
        #expect(statistics.counters.count == 23)
        #expect(statistics[\.rx_nohandler] == 0)
        #expect(statistics.rxPackets == 5)
    }

    @Test("a payload that is not whole counters, or too short, is rejected without trapping",
          arguments: [0, 7, 8, 183, 184 - 8, 185, 201])
    func badLengthsThrow(length: Int) {
        #expect(throws: WireError.self) { try LinkStatistics64(payload: Array(repeating: 0xff, count: length)) }
        let attribute = RawAttribute(rawType: 23, payload: Array(repeating: 0, count: length))
        #expect(throws: WireError.self) { try LinkAttribute(raw: attribute) }
    }
}
