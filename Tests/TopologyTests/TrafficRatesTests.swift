import QNetTypes
import Testing
@testable import Topology

/// Rates between two readings and the `qnet top` screen (tier 1, no root).
@Suite struct TrafficRatesTests {
    static func bridge(_ ports: [(String, UInt32, rxPackets: UInt64, rxBytes: UInt64, drops: UInt64)]) -> [BridgeTraffic] {
        [BridgeTraffic(name: "br0", own: LinkCounters(), ports: ports.map { name, index, packets, bytes, drops in
            PortTraffic(name: name, index: InterfaceIndex(index), vm: name == "tap1" ? "web" : nil, nic: name == "tap1" ? 0 : nil,
                        counters: LinkCounters(rx: DirectionCounters(packets: packets, bytes: bytes, dropped: drops)))
        })]
    }

    @Test func ratesAreDeltasOverTimeBusiestFirst() {
        let before = Self.bridge([("tap0", 5, 100, 10_000, 0), ("tap1", 6, 0, 0, 0), ("eth0", 7, 50, 5000, 3)])
        let after = Self.bridge([("tap0", 5, 300, 30_000, 0), ("tap1", 6, 1000, 1_000_000, 0), ("eth0", 7, 50, 5000, 7)])
        let rates = TrafficRates.between(before, after, seconds: 2)
        #expect(rates.map(\.port) == ["tap1", "tap0", "eth0"])
        #expect(rates[0].rxPacketsPerSecond == 500 && rates[0].rxBitsPerSecond == 4_000_000 && rates[0].vm == "web")
        #expect(rates[1].rxPacketsPerSecond == 100 && rates[1].rxBitsPerSecond == 80_000)
        #expect(rates[2].dropsPerSecond == 2 && rates[2].bitsPerSecond == 0)
    }

    @Test func aRecreatedPortOrAFallingCounterGivesNoBogusRate() {
        let before = Self.bridge([("tap0", 5, 1000, 100_000, 0), ("tap1", 6, 1000, 100_000, 0)])
        // tap0 was deleted and made again (new index); tap1's counters went down.
        let after = Self.bridge([("tap0", 9, 10, 1000, 0), ("tap1", 6, 10, 1000, 0)])
        let rates = TrafficRates.between(before, after, seconds: 1)
        #expect(rates.map(\.port) == ["tap1"])
        #expect(rates[0].rxPacketsPerSecond == 0 && rates[0].rxBitsPerSecond == 0)
    }

    @Test(arguments: [40, 60, 80, 200])
    func theScreenFitsTheWidth(width: Int) {
        let rates = (0..<30).map { (index: Int) -> PortRate in
            PortRate(bridge: "br-very-long0", port: "tap-long-name\(index)", vm: "a-virtual-machine-with-a-long-name", nic: index,
                     rxPacketsPerSecond: 123_456, txPacketsPerSecond: 9, rxBitsPerSecond: 9_876_543_210, txBitsPerSecond: 0.5,
                     dropsPerSecond: 0, errorsPerSecond: 0)
        }
        let lines = TopScreen.render(rates, title: "qnet top — all bridges — every 1 s", width: width)
        #expect(lines.count == 32)
        #expect(lines.allSatisfy { $0.count <= width }, "\(lines.filter { $0.count > width })")
        // From 60 columns on, the numbers are never what gets cut.
        if width >= 60 { #expect(lines[2].contains("123.46k") && lines[2].contains("9.88G"), "\(lines[2])") }
    }

    @Test func humanUnits() {
        #expect(TopScreen.human(0) == "0")
        #expect(TopScreen.human(0.5) == "0.5")
        #expect(TopScreen.human(999) == "999")
        #expect(TopScreen.human(1000) == "1.00k")
        #expect(TopScreen.human(1_234_567) == "1.23M")
        #expect(TopScreen.human(10_050) == "10.05k")
    }
}
