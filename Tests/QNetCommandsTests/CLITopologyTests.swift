import Foundation
import QNetTestSupport
import Testing

/// `qnet show --graph` on a fixed topology built in a namespace (tier 3): the DOT text against
/// a golden file, the SVG through Graphviz. The topology, checked by `bridge -j link` first:
///   br0    bridge (STP off) that took over uplink veth eth0 (10.9.0.2/24, default route);
///          eth0's peer lan0 stays outside; ports tap0 and tap1 (TAPs of VM "web", NICs 0 and 1,
///          by their alias) and vx42 (VXLAN 42 to 192.0.2.7 over lan0, FDB peer 192.0.2.8)
///   stp0   bridge with STP on and forward_delay 30 s, port sp0 still listening
///   lab    qnet NAT network 10.77.0.0/24 on its bridge qn-lab (started: dnsmasq, nftables)
@Suite(.serialized, Privileged.enabled)
struct CLITopologyTests {
    final class Fixture {
        let ns: TestNamespace
        let state: String

        init() throws {
            ns = try TestNamespace("graph")
            state = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-graph-\(getpid())").path
            try ns.exec("sysctl", ["-qw", "net.ipv6.conf.all.disable_ipv6=1"])
            try ns.exec("sysctl", ["-qw", "net.ipv6.conf.default.disable_ipv6=1"])
            try ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "lan0")
            try ns.ip("addr", "add", "10.9.0.2/24", "dev", "eth0")
            for device in ["eth0", "lan0"] { try ns.ip("link", "set", device, "up") }
            try ns.ip("route", "add", "default", "via", "10.9.0.254", "dev", "eth0")
            try qnetOK(["bridge", "create", "br0", "--uplink", "eth0"])
            for (index, tap) in ["tap0", "tap1"].enumerated() {
                try qnetOK(["tap", "create", tap, "--bridge", "br0"])
                try ns.ip("link", "set", tap, "alias", "qnet:vm=web/\(index)")
            }
            try ns.ip("link", "add", "vx42", "type", "vxlan", "id", "42", "remote", "192.0.2.7", "dstport", "4789", "dev", "lan0")
            try ns.ip("link", "set", "vx42", "master", "br0", "up")
            // A second VTEP from the FDB (head-end replication), as an EVPN or a hand-made mesh adds it.
            let append = try ns.exec("bridge", ["fdb", "append", "00:00:00:00:00:00", "dev", "vx42", "dst", "192.0.2.8"])
            guard append.status == 0 else { throw TestSupportError("bridge fdb append failed: \(append.stderr)") }
            try qnetOK(["bridge", "create", "stp0", "--stp", "on", "--forward-delay", "30"])
            try ns.ip("link", "add", "sp0", "type", "veth", "peer", "name", "sp1")
            try ns.ip("link", "set", "sp0", "master", "stp0", "up")
            try ns.ip("link", "set", "sp1", "up")
            try ns.ip("link", "set", "stp0", "up")
            try qnetOK(["net", "create", "lab", "--mode", "nat", "--subnet", "10.77.0.0/24"])
            try qnetOK(["net", "start", "lab"])
            // Port states settle after linkwatch (up to a second): poll the witness until each
            // port is where the golden file expects it (listening lasts forward_delay = 30 s).
            let expected = ["eth0": "forwarding", "vx42": "forwarding", "tap0": "disabled", "tap1": "disabled", "sp0": "listening"]
            var states: [String: String] = [:]
            let settled = try waitUntil(timeout: 10, interval: 0.05) {
                let result = try ns.exec("bridge", ["-j", "link", "show"])
                let ports = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]) ?? []
                states = Dictionary(ports.compactMap { port in (port["ifname"] as? String).map { ($0, port["state"] as? String ?? "") } },
                                    uniquingKeysWith: { a, _ in a })
                return expected.allSatisfy { states[$0.key] == $0.value }
            }
            guard settled else { throw TestSupportError("port states did not settle: \(states)") }
        }

        @discardableResult
        func qnetOK(_ arguments: [String]) throws -> String {
            let result = try qnet(arguments + ["--netns", ns.name, "--state-dir", state])
            guard result.status == 0 else { throw TestSupportError("qnet \(arguments.joined(separator: " ")) failed: \(result.stderr)") }
            return result.stdout
        }

        deinit {
            _ = try? qnet(["net", "stop", "lab", "--netns", ns.name, "--state-dir", state])
            ns.remove()
            try? FileManager.default.removeItem(atPath: state)
        }

        /// DOT text with the namespace's random name replaced by NS.
        func dot(_ extra: [String] = []) throws -> String {
            try qnetOK(["show", "--graph", "--format", "dot"] + extra).replacingOccurrences(of: ns.name, with: "NS")
        }
    }

    /// Every name the picture must show.
    static let names = ["br0", "eth0", "lan0", "tap0", "tap1", "vx42", "192.0.2.7", "192.0.2.8", "stp0", "sp0", "sp1", "qn-lab", "lab",
                        "VM web", "10.77.0.0/24", "10.9.0.2/24"]

    @Test func goldenDOTAndSVG() throws {
        let fixture = try Fixture()
        let dot = try fixture.dot()
        try GoldenFile.check("topology.dot", dot, suite: "CLITopologyTests")
        // The listening port stands out: red, bold, its state in capitals.
        let edge = dot.split(separator: "\n").first { $0.contains("-- \"NS/sp0\"") }
        #expect(edge?.contains("LISTENING") == true && edge?.contains("#cc0000") == true, "\(edge ?? "no edge to sp0")")

        // One bridge or network: only its part (a network brings its bridge and NAT uplink).
        let lab = try fixture.dot(["lab"])
        #expect(lab.contains("network lab") && lab.contains("\"NS/qn-lab\" [") && !lab.contains("\"NS/tap0\""), "\(lab)")
        let unknown = try qnet(["show", "--graph", "nosuch", "--netns", fixture.ns.name, "--state-dir", fixture.state])
        #expect(unknown.status == 2 && unknown.stderr.contains("nosuch"), "\(unknown.stderr)")

        // Without Graphviz: the DOT text on standard output, one hint line on stderr, no file.
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-nodot-\(getpid()).svg").path
        let withoutDot = try qnet(["show", "--graph", "-o", missing, "--netns", fixture.ns.name, "--state-dir", fixture.state],
                                  environment: ["PATH": "/nonexistent"])
        #expect(withoutDot.status == 0, "\(withoutDot.stderr)")
        #expect(withoutDot.stdout.replacingOccurrences(of: fixture.ns.name, with: "NS") == dot)
        let hint = withoutDot.stderr.split(separator: "\n")
        #expect(hint.count == 1 && hint.first?.contains("graphviz") == true, "\(withoutDot.stderr)")
        #expect(!FileManager.default.fileExists(atPath: missing))

        guard (try? locate("dot")) != nil || Privileged.required else { return }
        let svg = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-graph-\(getpid()).svg").path
        defer { try? FileManager.default.removeItem(atPath: svg) }
        try fixture.qnetOK(["show", "--graph", "-o", svg])
        // Graphviz writes "-" in SVG text as the entity &#45;.
        let text = try String(contentsOfFile: svg, encoding: .utf8).replacingOccurrences(of: "&#45;", with: "-")
        #expect(text.contains("<svg"), "not an SVG: \(text.prefix(200))")
        for name in Self.names {
            #expect(text.contains(name), "the SVG does not show \(name)")
        }
    }

    @Test func allNamespacesJoinsVethPairs() throws {
        let fixture = try Fixture()
        let peer = try TestNamespace("graphpeer")
        try fixture.ns.ip("link", "add", "out0", "type", "veth", "peer", "name", "in0", "netns", peer.name)
        let dot = try fixture.dot(["--all-namespaces"]).replacingOccurrences(of: peer.name, with: "PEER")
        #expect(dot.contains("\"NS/out0\" -- \"PEER/in0\" [label=\"veth pair\"") || dot.contains("\"PEER/in0\" -- \"NS/out0\" [label=\"veth pair\""),
                "\(dot)")
        #expect(dot.contains("subgraph \"cluster_PEER\""))
    }
}
