import Foundation
import QNetTestSupport
import Testing

/// `qnet [--netns NS] [--state-dir DIR] show [BRIDGE]` runs without the argument parser
/// (FastPath) and reads one bridge through a dump filtered by master. Each plain form must print
/// what the parsed command prints (`show --netns NS ...`, global options after the verb, is not
/// a plain form: the parser runs it), errors included; the ports are the ones `ip -j link show
/// master BR` (the witness) lists.
@Suite(.serialized, Privileged.enabled)
struct ShowFastPathTests {
    @Test func plainFormsPrintWhatTheParsedCommandPrints() throws {
        let ns = try TestNamespace("showfast")
        #expect(try qnet(["bridge", "create", "br0", "--netns", ns.name]).status == 0)
        #expect(try qnet(["bridge", "create", "br1", "--netns", ns.name]).status == 0)
        for (tap, bridge) in [("tb0", "br0"), ("ta1", "br0"), ("tc2", "br1")] {
            #expect(try qnet(["--netns", ns.name, "tap", "create", tap, "--bridge", bridge]).status == 0)
        }
        try ns.ip("link", "add", "ve0", "type", "veth", "peer", "name", "ve1")
        try ns.ip("link", "set", "ve0", "master", "br0")
        // An ownerless TAP: both forms warn about it on stderr.
        try ns.ip("tuntap", "add", "to3", "mode", "tap")
        try ns.ip("link", "set", "to3", "master", "br0")

        // A TAP whose descriptor `tap create` closed loses its carrier asynchronously (the
        // kernel's linkwatch), so its port goes from forwarding to disabled a little after the
        // command returned: wait until every port has (witness: `ip -d`), so that both forms
        // read the same settled state.
        let settled = try waitUntil(timeout: 5, interval: 0.02) {
            try ["br0", "br1"].allSatisfy { bridge in
                try ns.json("-d", "link", "show", "master", bridge).allSatisfy { port in
                    ((port["linkinfo"] as? [String: Any])?["info_slave_data"] as? [String: Any])?["state"] as? String == "disabled"
                }
            }
        }
        #expect(settled, "every port disabled (no carrier)")

        for bridge in [["br0"], ["br1"], [], ["nosuch"], ["ve1"]] {
            let fast = try qnet(["--netns", ns.name, "show"] + bridge)
            let parsed = try qnet(["show", "--netns", ns.name] + bridge)
            #expect(fast.status == parsed.status, "\(bridge)")
            #expect(fast.stdout == parsed.stdout, "\(bridge)")
            #expect(fast.stderr == parsed.stderr, "\(bridge)")
        }
        let table = try qnet(["--netns", ns.name, "show", "br0"])
        let witness = try ns.json("link", "show", "master", "br0").compactMap { $0["ifname"] as? String }.sorted()
        #expect(witness == ["ta1", "tb0", "to3", "ve0"])
        let listed = table.stdout.split(separator: "\n").dropFirst().compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("t") || $0.hasPrefix("ve") }.map(String.init)
        }
        #expect(listed == witness, "\(table.stdout)")
        #expect(table.stderr.contains("TAP to3 has neither owner nor group"))
        let missing = try qnet(["--netns", ns.name, "show", "nosuch"])
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("qnet: error: ") && missing.stderr.contains("nosuch"), "\(missing.stderr)")
    }
}
