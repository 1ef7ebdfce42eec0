import Foundation
import QNetTestSupport
import Testing

/// The executable's contract that needs no privileges: help, version, exit statuses,
/// one-line errors, completions.
struct CLIBinaryTests {
    @Test func helpAndVersionExitZero() throws {
        for arguments in [["--help"], ["bridge", "--help"], ["bridge", "create", "--help"], ["tap", "list", "--help"],
                          ["show", "--help"], ["ifup", "--help"], ["help", "bridge"]] {
            let result = try qnet(arguments)
            #expect(result.status == 0, "\(arguments)")
            #expect(result.stdout.contains("USAGE:"), "\(arguments)")
        }
        let version = try qnet(["--version"])
        #expect(version.status == 0 && version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
    }

    @Test func completionScripts() throws {
        for shell in ["bash", "zsh", "fish"] {
            let result = try qnet(["--generate-completion-script", shell])
            #expect(result.status == 0 && result.stdout.contains("bridge"), "\(shell)")
        }
    }

    @Test func usageErrorsAreOneLineWithExitTwo() throws {
        for arguments in [["bridge", "create"], ["bridge", "create", "br0", "--mtu", "1"], ["tap", "create", "x", "--queues", "0"],
                          ["frobnicate"], ["bridge", "create", "a:b"], ["show", "--bogus"]] {
            let result = try qnet(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("qnet: error: "), "\(arguments)")
        }
    }
}
