import Foundation
@testable import HostChecks
import QNetTestSupport
import Testing
import QNetSystem

/// A throwaway host tree (proc, sys, boot, dev, etc, run, usr/lib, bin) for one test,
/// removed when the test drops it.
final class Fixture: @unchecked Sendable {
    let path: String
    let root: HostRoot

    init() throws {
        var template = Array((NSTemporaryDirectory() + "qnet-doctor-fixture.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw FixtureError("mkdtemp failed") }
        path = String(cString: made)
        root = HostRoot(prefix: path, searchPath: [path + "/bin"])
        try makeDirectory("bin")
        // Fixture directories must be traversable by other users (tests acting as nobody).
        chmod(path, 0o755)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func makeDirectory(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
    }

    /// Writes `text` to `relative` (creating directories).
    func write(_ relative: String, _ text: String, mode: Int = 0o644) throws {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: false, encoding: .utf8)
        chmod(full, mode_t(mode))
    }

    /// An executable shell script in bin/ (a stand-in for qemu, iptables-save, ...).
    func script(_ name: String, _ body: String) throws {
        try write("bin/" + name, "#!/bin/sh\n" + body + "\n", mode: 0o755)
    }

    /// A real character device node (mknod needs root; tests using it are privileged).
    func characterDevice(_ relative: String, major: UInt32, minor: UInt32, mode: mode_t = 0o666, owner: uid_t = 0, group: gid_t = 0) throws {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let device = (UInt64(major & 0xfff) << 8) | UInt64(minor & 0xff) | (UInt64(minor & ~0xff) << 12) | (UInt64(major & ~0xfff) << 32)
        guard mknod(full, S_IFCHR | mode, dev_t(device)) == 0 else { throw FixtureError("mknod \(full): \(String(cString: strerror(errno)))") }
        chmod(full, mode)
        guard chown(full, owner, group) == 0 else { throw FixtureError("chown \(full): \(String(cString: strerror(errno)))") }
    }

    /// A kernel release in proc/sys/kernel/osrelease and, optionally, its boot/config.
    func kernel(release: String = "6.1.0-test", config: String?) throws {
        try write("proc/sys/kernel/osrelease", release + "\n")
        if let config { try write("boot/config-" + release, config) }
    }

    func full(_ relative: String) -> String { path + "/" + relative }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Root can mknod and chown; other fixture tests need nothing.
let canMakeDevices = ConditionTrait.enabled(if: geteuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true",
                                            "needs root to create device nodes (set CI=true to make this a failure instead of a skip)")

/// A user who is not root, from the user database.
func nobody() throws -> UserIdentity {
    try #require(UserIdentity.lookup("nobody"))
}
