import Foundation
import QNetTestSupport
import Testing

/// `qnet [--netns NS] [--state-dir DIR] tap create NAME [--bridge BR]` runs without the
/// argument parser (FastPath). Each plain form must do what the parsed command does (a form
/// with another option, which the parser runs): the same kernel state (`ip -d -j`), the
/// same output line, and for bad input the same status and error line, nothing left made.
@Suite(.serialized, Privileged.enabled)
struct TapCreateFastPathTests {
    @Test func plainFormsDoWhatTheParsedCommandDoes() throws {
        let ns = try TestNamespace("tapfast")
        #expect(try qnet(["bridge", "create", "br0", "--mtu", "1400", "--netns", ns.name]).status == 0)
        let stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-tapfast-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }

        /// What a TAP looks like to `ip`: kind, persistence, master, MTU, up, MAC prefix.
        func shape(_ name: String) throws -> String {
            let link = try #require(try ns.link(name))
            let info = link["linkinfo"] as? [String: Any]
            let data = info?["info_data"] as? [String: Any]
            return "\(info?["info_kind"] ?? "-") \(data?["pi"] ?? "-") \(data?["persist"] ?? "-") master=\(link["master"] ?? "-") "
                + "mtu=\(link["mtu"] ?? "-") up=\((link["flags"] as? [String])?.contains("UP") == true) "
                + "fe=\((link["address"] as? String)?.hasPrefix("fe:") == true)"
        }
        func outputShape(_ stdout: String) -> String {
            stdout.replacingOccurrences(of: #"mac [0-9a-f:]{17}"#, with: "mac M", options: .regularExpression)
        }

        // Parsed (`--vnet-hdr=false` is not a plain form, `--queues 1` is the default) against
        // the fast forms, with and without a bridge, global options before or after.
        let parsed = try qnet(["--netns", ns.name, "tap", "create", "tp0", "--bridge", "br0", "--queues", "1"])
        #expect(parsed.status == 0, "\(parsed.stderr)")
        let fastForms: [[String]] = [
            ["--netns", ns.name, "tap", "create", "tf0", "--bridge", "br0"],
            ["tap", "create", "tf1", "--bridge", "br0", "--netns", ns.name],
            ["--netns", ns.name, "--state-dir", stateDirectory, "tap", "create", "tf2", "--bridge", "br0"],
        ]
        for (index, arguments) in fastForms.enumerated() {
            let fast = try qnet(arguments)
            #expect(fast.status == 0, "\(arguments): \(fast.stderr)")
            #expect(fast.stderr.isEmpty, "\(arguments): \(fast.stderr)")
            #expect(outputShape(fast.stdout) == outputShape(parsed.stdout).replacingOccurrences(of: "tp0", with: "tf\(index)"),
                    "\(arguments): \(fast.stdout)")
            #expect(try shape("tf\(index)") == shape("tp0"), "\(arguments)")
        }
        #expect(try shape("tf0").hasPrefix("tun "))
        #expect(try shape("tf0").contains("master=br0 mtu=1400 up=true fe=true"))
        // --state-dir is honoured: the namespace's lock is taken under it.
        let locks = (try? FileManager.default.contentsOfDirectory(atPath: "\(stateDirectory)/run/locks")) ?? []
        #expect(locks.contains { $0.hasPrefix("netns-") }, "no lock under \(stateDirectory)")

        // Without a bridge: parsed and fast agree too.
        let parsedBare = try qnet(["--netns", ns.name, "tap", "create", "tp1", "--queues", "1"])
        let fastBare = try qnet(["--netns", ns.name, "tap", "create", "tf3"])
        #expect(parsedBare.status == 0 && fastBare.status == 0, "\(parsedBare.stderr) \(fastBare.stderr)")
        #expect(outputShape(fastBare.stdout) == outputShape(parsedBare.stdout).replacingOccurrences(of: "tp1", with: "tf3"))
        #expect(try shape("tf3") == shape("tp1"))
        #expect(try shape("tf3").contains("master=- "))

        // Bad input: the same status and line either way, and nothing left behind.
        let before = try ns.linkNames()
        let failures: [([String], [String], Int32)] = [
            (["tap", "create", "tf0", "--bridge", "br0"], ["tap", "create", "tf0", "--bridge", "br0", "--queues", "1"], 1),
            (["tap", "create", "tf9", "--bridge", "nosuch"], ["tap", "create", "tf9", "--bridge", "nosuch", "--queues", "1"], 1),
            (["tap", "create", "tf9", "--bridge", "tf3"], ["tap", "create", "tf9", "--bridge", "tf3", "--queues", "1"], 1),
        ]
        for (fastArguments, parsedArguments, status) in failures {
            let fast = try qnet(["--netns", ns.name] + fastArguments)
            let slow = try qnet(["--netns", ns.name] + parsedArguments)
            #expect(fast.status == status && slow.status == status, "\(fastArguments): \(fast.stderr) / \(slow.stderr)")
            #expect(fast.stderr == slow.stderr, "\(fastArguments)")
            #expect(fast.stderr.split(separator: "\n").count == 1, "\(fastArguments): \(fast.stderr)")
            #expect(fast.stdout.isEmpty)
        }
        // Forms the fast path leaves to the parser: usage errors exit 2 with its message.
        for arguments in [["tap", "create", "tf9", "--bridge"], ["tap", "create", "bad name"]] {
            let result = try qnet(["--netns", ns.name] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
        }
        #expect(try ns.linkNames() == before)
    }
}
