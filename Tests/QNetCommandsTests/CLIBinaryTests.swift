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

    /// `vm run -f` refuses a file with an unknown key or a bad value before touching anything:
    /// exit 2, one line with the file, line, key path and what is allowed.
    @Test func vmFileWithUnknownKeyOrBadModelIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-vmfile-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = directory.appendingPathComponent("script.yaml").path
        try "name: web\nnics:\n  - bridge: br0\n    script: /bin/sh\n".write(toFile: script, atomically: true, encoding: .utf8)
        let unknown = try qnet(["vm", "run", "-f", script, "--accel", "tcg"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr == "qnet: error: \(script), line 4: unknown key nics[0].script; allowed: bridge, network, user, pci, vf, vlan, model, mac, queues, filter, ip\n")
        let model = directory.appendingPathComponent("model.yaml").path
        try "name: web\nnics:\n  - bridge: br0\n    model: bogus\n".write(toFile: model, atomically: true, encoding: .utf8)
        let bad = try qnet(["vm", "run", "-f", model])
        #expect(bad.status == 2)
        #expect(bad.stderr == "qnet: error: \(model), line 4: nics[0].model: invalid NIC model 'bogus': use virtio, e1000, e1000e or rtl8139\n")
        #expect(!bad.stderr.contains("not valid YAML"))
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
