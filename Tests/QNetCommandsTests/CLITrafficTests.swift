import Foundation
import QNetTestSupport
import Testing

/// `qnet show --stats` and `qnet top` against real traffic through a bridge, checked
/// against `ip -s -j link` (tier 3). Topology: namespace `bridged` holds br0
/// (10.213.0.1/24) with port veth `lan0`; its peer `lan1` (10.213.0.2/24) is in `peer`.
@Suite(.serialized, Privileged.enabled)
struct CLITrafficTests {
    final class Bridged {
        let ns: TestNamespace
        let peer: TestNamespace

        init(_ label: String) throws {
            ns = try TestNamespace(label)
            peer = try TestNamespace(label + "p")
            // No IPv6: its autoconfiguration and MLD reports would move the counters on
            // their own while the test compares two readings.
            for namespace in [ns, peer] {
                try namespace.exec("sysctl", ["-qw", "net.ipv6.conf.all.disable_ipv6=1"])
                try namespace.exec("sysctl", ["-qw", "net.ipv6.conf.default.disable_ipv6=1"])
            }
            try ns.ip("link", "add", "br0", "type", "bridge")
            try ns.ip("link", "add", "lan0", "type", "veth", "peer", "name", "lan1", "netns", peer.name)
            try ns.ip("link", "set", "lan0", "master", "br0", "up")
            try ns.ip("addr", "add", "10.213.0.1/24", "dev", "br0")
            try ns.ip("link", "set", "br0", "up")
            try peer.ip("addr", "add", "10.213.0.2/24", "dev", "lan1")
            try peer.ip("link", "set", "lan1", "up")
        }

        /// Pings the peer through the bridge; throws unless every echo came back.
        func ping(count: Int) throws {
            let result = try ns.exec("ping", ["-q", "-c", "\(count)", "-i", "0.01", "-W", "2", "10.213.0.2"])
            guard result.status == 0 else { throw TestSupportError("ping through br0 failed: \(result.stdout)\(result.stderr)") }
        }

        deinit {
            ns.remove()
            peer.remove()
        }
    }

    /// `ip -s -j link show dev NAME`'s stats64 block as [direction: [counter: value]].
    static func ipCounters(_ ns: TestNamespace, _ device: String) throws -> [String: [String: Int]] {
        let link = try #require(try ns.json("-s", "link", "show", "dev", device).first)
        let stats = try #require(link["stats64"] as? [String: [String: Any]])
        return stats.mapValues { direction in direction.compactMapValues { $0 as? Int } }
    }

    @Test func statsMatchIPAfterPingingThroughTheBridge() throws {
        let setup = try Bridged("stats")
        try setup.ping(count: 20)

        // Counters are read three times (ip, qnet, ip); with IPv6 off nothing else sends, but
        // an ARP refresh could still land between readings, so a moving pair is read again.
        var matched = false
        var last = ""
        for _ in 0..<5 where !matched {
            let before = try Self.ipCounters(setup.ns, "lan0")
            let bridgeBefore = try Self.ipCounters(setup.ns, "br0")
            let result = try qnet(["show", "--stats", "--json", "--netns", setup.ns.name])
            #expect(result.status == 0, "\(result.stderr)")
            let after = try Self.ipCounters(setup.ns, "lan0")
            guard before == after, bridgeBefore == (try Self.ipCounters(setup.ns, "br0")) else { continue }
            last = result.stdout
            let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            #expect(report["schemaVersion"] as? Int == 1)
            let bridge = try #require((report["bridges"] as? [[String: Any]])?.first { $0["name"] as? String == "br0" })
            let port = try #require((bridge["ports"] as? [[String: Any]])?.first { $0["name"] as? String == "lan0" })
            let own = try #require(bridge["own"] as? [String: [String: Int]])
            let total = try #require(bridge["portTotal"] as? [String: [String: Int]])
            for direction in ["rx", "tx"] {
                let qnetPort = try #require(port[direction] as? [String: Int])
                let ip = try #require(after[direction])
                #expect(qnetPort["packets"] == ip["packets"], "\(direction) packets: qnet \(qnetPort), ip \(ip)")
                #expect(qnetPort["bytes"] == ip["bytes"], "\(direction) bytes")
                #expect(qnetPort["errors"] == ip["errors"], "\(direction) errors")
                #expect(qnetPort["dropped"] == ip["dropped"], "\(direction) dropped")
                // One port: the bridge's total is that port's counters.
                #expect(total[direction] == qnetPort)
                #expect(own[direction]?["packets"] == bridgeBefore[direction]?["packets"], "br0 \(direction) packets")
            }
            // The pings (and their ARP) crossed lan0 both ways.
            #expect((after["rx"]?["packets"] ?? 0) >= 20 && (after["tx"]?["packets"] ?? 0) >= 20, "\(after)")
            matched = true
        }
        #expect(matched, "ip -s -j link kept moving between readings; last qnet output: \(last)")

        let table = try qnet(["show", "--stats", "br0", "--netns", setup.ns.name])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("lan0") && table.stdout.contains("(ports total)"), "\(table.stdout)")
        let missing = try qnet(["show", "--stats", "nosuchbr", "--netns", setup.ns.name])
        #expect(missing.status != 0 && missing.stderr.contains("nosuchbr"), "\(missing.stderr)")
    }
}

extension CLITrafficTests {
    @Test func topShowsTheRateOfAPortCarryingAPingFlood() throws {
        let setup = try Bridged("top")
        try setup.ping(count: 1)  // ARP resolved: the flood is pure echo traffic
        let flood = Process()
        flood.executableURL = URL(fileURLWithPath: try locate("ip"))
        // -f floods; -w bounds it to 30 s even if the test dies; killed below.
        flood.arguments = ["netns", "exec", setup.ns.name, try locate("ping"), "-q", "-f", "-w", "30", "10.213.0.2"]
        flood.standardOutput = FileHandle.nullDevice
        flood.standardError = FileHandle.nullDevice
        try flood.run()
        defer { flood.terminate(); flood.waitUntilExit() }

        let result = try qnet(["top", "br0", "--iterations", "2", "--interval", "0.5", "--netns", setup.ns.name])
        #expect(result.status == 0, "\(result.stderr)")
        let lines: [Substring] = result.stdout.split(separator: "\n")
        let cells: [[Substring]] = lines.map { $0.split(separator: " ") }
        let rows = cells.filter { row in row.count >= 9 && row[0] == "br0" && row[1] == "lan0" }
        #expect(rows.count == 2, "one lan0 row per snapshot:\n\(result.stdout)")
        for row in rows {
            // Columns: BRIDGE PORT VM RX-pkt/s TX-pkt/s RX-bit/s TX-bit/s DROP/s ERR/s.
            #expect(row[3] != "0" && row[4] != "0" && row[5] != "0", "no rate for the flooded port: \(row.joined(separator: " "))")
        }
        #expect(result.stdout.contains("snapshot 2/2"))
        #expect(!result.stdout.contains("\u{1B}["), "--iterations prints plain text")
    }
}
