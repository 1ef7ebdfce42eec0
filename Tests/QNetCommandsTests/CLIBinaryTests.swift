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

    /// The global options are listed in the root help, not only in each verb's.
    @Test func rootHelpShowsTheGlobalOptions() throws {
        let help = try qnet(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--netns <name>"), "\(help.stdout)")
        #expect(help.stdout.contains("--state-dir <dir>"), "\(help.stdout)")
    }

    /// `disk info --json` has the schema version and fixed keys like every other JSON output.
    @Test func diskInfoJSONHasSchemaVersionAndNulls() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-diskinfo-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("d.img").path
        #expect(try qnet(["disk", "create", path, "1M", "--format", "raw"]).status == 0)
        let info = try qnet(["disk", "info", path, "--json"])
        #expect(info.status == 0, "\(info.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])
        #expect(report["schemaVersion"] as? Int == 1)
        #expect(report["virtualSize"] as? Int == 1 << 20)
        #expect(report["format"] as? String == "raw")
        #expect(report["backingFile"] is NSNull, "\(info.stdout)")
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
