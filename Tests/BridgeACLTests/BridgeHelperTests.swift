import Foundation
import QNetTestSupport
import Testing

/// qnet-bridge-helper end to end: an unprivileged user's QEMU (uid 65534, no capability)
/// runs `-netdev bridge,br=BR,helper=...` with the helper carrying only the file capability
/// cap_net_admin+ep, inside a test namespace. /etc/qemu/bridge.conf is the test's own,
/// overlaid on /etc in a private mount namespace (the host's /etc is never changed; the
/// helper itself reads no other path). Witness: `ip -j link show master BR`.
@Suite(.serialized, Privileged.enabled) struct BridgeHelperTests {
    static let aclText = """
        # written by BridgeHelperTests
        allow lab0
        allow all
        deny up0
        include users.conf

        """
    static let usersText = "deny lab1\n"

    /// A copy of the built helper in a fresh 0755 directory with cap_net_admin+ep set (as
    /// `make install` does); the directory is removed by `cleanUp`.
    final class Fixture {
        let directory: String
        let helper: String
        let namespace: TestNamespace

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-bridge-helper-\(getpid())-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: directory + "/upper/qemu", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: directory + "/work", withIntermediateDirectories: true)
            chmod(directory, 0o755)
            helper = directory + "/qnet-bridge-helper"
            try FileManager.default.copyItem(atPath: try builtExecutable("qnet-bridge-helper"), toPath: helper)
            chmod(helper, 0o755)
            let setcap = try run("setcap", ["cap_net_admin+ep", helper])
            guard setcap.status == 0 else { throw TestSupportError("setcap failed: \(setcap.stderr)") }
            try BridgeHelperTests.aclText.write(toFile: directory + "/upper/qemu/bridge.conf", atomically: true, encoding: .utf8)
            try BridgeHelperTests.usersText.write(toFile: directory + "/upper/qemu/users.conf", atomically: true, encoding: .utf8)
            namespace = try TestNamespace("brhelp")
            for bridge in ["lab0", "lab1", "up0", "other0"] {
                try namespace.ip("link", "add", bridge, "type", "bridge")
                try namespace.ip("link", "set", bridge, "up")
            }
        }

        /// `sh -c` script run by `unshare --mount`: /etc overlaid with the test's qemu/ folder,
        /// then QEMU started as uid/gid 65534 with no capabilities, in the test namespace.
        func qemuCommand(bridge: String) throws -> [String] {
            let qemu = try locate("qemu-system-x86_64")
            let script = """
                set -e
                mount --make-rprivate /
                mount -t overlay overlay -o lowerdir=/etc,upperdir=\(directory)/upper,workdir=\(directory)/work /etc
                exec ip netns exec \(namespace.name) setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all,+net_admin \
                  \(qemu) -machine none -nodefaults -display none -S -monitor none \
                  -netdev bridge,id=n0,br=\(bridge),helper=\(helper)
                """
            return ["--mount", "sh", "-c", script]
        }

        func tapsOn(_ bridge: String) throws -> [String] {
            try namespace.json("link", "show", "master", bridge).compactMap { $0["ifname"] as? String }
        }

        func cleanUp() {
            namespace.remove()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    @Test func anAllowedBridgeGetsQEMUsTAPAndDeniedOnesAreRefusedNamingTheRule() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }

        // Allowed ("allow lab0"): QEMU keeps running with its TAP on lab0.
        let qemu = Process()
        qemu.executableURL = URL(fileURLWithPath: try locate("unshare"))
        qemu.arguments = try fixture.qemuCommand(bridge: "lab0")
        let errors = Pipe()
        qemu.standardError = errors
        qemu.standardOutput = FileHandle.nullDevice
        try qemu.run()
        let attached = try waitUntil(timeout: 20, interval: 0.05) { try !fixture.tapsOn("lab0").isEmpty || !qemu.isRunning }
        let taps = try fixture.tapsOn("lab0")
        let link = try taps.first.flatMap { try fixture.namespace.link($0) }
        let stillRunning = qemu.isRunning
        if qemu.isRunning { kill(qemu.processIdentifier, SIGKILL) }
        qemu.waitUntilExit()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(attached && taps.count == 1 && stillRunning, "no TAP on lab0 (QEMU: \(output))")
        #expect((link?["flags"] as? [String])?.contains("UP") == true, "\(String(describing: link))")
        #expect((link?["address"] as? String)?.hasPrefix("fe:") == true, "\(String(describing: link))")
        // The TAP was transient: it went with QEMU.
        #expect(try waitUntil(timeout: 5) { try fixture.tapsOn("lab0").isEmpty })

        // Denied, each naming the rule that decided.
        for (bridge, reason) in [
            ("up0", "bridge 'up0' denied by \"deny up0\" (/etc/qemu/bridge.conf line 4)"),
            ("lab1", "bridge 'lab1' denied by \"deny lab1\" (/etc/qemu/users.conf line 1)"),
        ] {
            let refused = try run("unshare", try fixture.qemuCommand(bridge: bridge))
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("qnet-bridge-helper: \(reason)"), "\(refused.stderr)")
            #expect(try fixture.tapsOn(bridge).isEmpty)
        }
    }

    @Test func withoutAnAllowLineNothingIsAllowed() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try "allow lab0\n".write(toFile: fixture.directory + "/upper/qemu/bridge.conf", atomically: true, encoding: .utf8)
        let refused = try run("unshare", try fixture.qemuCommand(bridge: "other0"))
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("bridge 'other0' not allowed: no allow line matches it (default deny)"), "\(refused.stderr)")
        #expect(try fixture.tapsOn("other0").isEmpty)
    }

    @Test func anACLFileOthersCanWriteAllowsNothing() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        chmod(fixture.directory + "/upper/qemu/bridge.conf", 0o646)
        let refused = try run("unshare", try fixture.qemuCommand(bridge: "lab0"))
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("must belong to root and not be writable by others"), "\(refused.stderr)")
        #expect(try fixture.tapsOn("lab0").isEmpty)
    }
}
