import Foundation
import Glibc
@testable import GuestImage
import QNetTestSupport
import Testing

/// The host inputs these tests read (installed by `make test`: linux-image-amd64,
/// busybox-static, iperf3, cpio, qemu-system-x86).
enum Host {
    static let kernel = KernelImage.newest() ?? "/boot/vmlinuz-missing"
    static var release: String { (try? KernelImage(path: kernel).release) ?? "unknown" }
    static var modulesDirectory: String { "/lib/modules/\(release)" }
    static let hasGuestInputs = FileManager.default.fileExists(atPath: kernel)
        && FileManager.default.fileExists(atPath: "/bin/busybox")

    /// Trait for tests that need the Debian kernel and busybox-static (always in CI).
    static var needsGuestInputs: ConditionTrait {
        .enabled(if: hasGuestInputs || Privileged.required, "needs /boot/vmlinuz-* and busybox-static (set CI=true to make this a failure)")
    }
}

/// A scratch directory removed at deinit.
final class ScratchDirectory: @unchecked Sendable {
    let path: String
    init(_ label: String = "guest") throws {
        path = NSTemporaryDirectory() + "qnet-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// One image per test process, built through the cache API in a private cache directory
/// (the first caller builds; the others wait on the cache lock and reuse it).
enum SharedImage {
    /// Shared across test runs: the fingerprint check rebuilds it whenever an input or qnet changes.
    static let directory: String = NSTemporaryDirectory() + "qnet-guest-test-cache"
    static let buildSeconds = Mutex<Double?>(nil)

    static func get() throws -> GuestImage {
        let builder = try GuestImageBuilder(kernel: Host.kernel)
        let start = Date()
        let (image, built) = try builder.cached(in: directory)
        if built { buildSeconds.withLock { $0 = Date().timeIntervalSince(start) } }
        return image
    }
}

/// A tiny lock-protected box (Synchronization's Mutex needs macOS 15 / newer toolchains on some hosts).
final class Mutex<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}

/// A child process started with posix_spawn and reaped with waitpid by this object.
///
/// Foundation's `Process` on Linux learns of a child's exit when a socket the child
/// inherited reaches EOF, then calls a *blocking* waitpid on its monitor thread. A child
/// that closes inherited descriptors while it keeps running (dnsmasq does) therefore
/// blocks that thread, and every other `Process` stops noticing exits. Long-lived
/// helpers and QEMU are spawned here instead.
final class Child: @unchecked Sendable {
    let pid: pid_t
    private let lock = NSLock()
    private var status: Int32?

    init(_ program: String, _ arguments: [String], stdout: String? = nil, stderr: String? = nil) throws {
        let executable = program.hasPrefix("/") ? program : try locate(program)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard result == 0 else { throw TestSupportError("cannot start \(executable): \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    deinit { kill() }

    private func reap(blocking: Bool) {
        lock.lock(); defer { lock.unlock() }
        guard status == nil else { return }
        var raw: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &raw, blocking ? 0 : WNOHANG) } while result < 0 && errno == EINTR
        if result == pid {
            // WIFEXITED → exit code; killed by a signal → 128 + signal, as shells report it.
            status = raw & 0x7F == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
        } else if result < 0 {
            status = -1
        }
    }

    var isRunning: Bool { reap(blocking: false); return lock.withLock { status == nil } }

    /// Exit status once exited (128 + N when killed by signal N).
    var exitStatus: Int32? { reap(blocking: false); return lock.withLock { status } }

    /// SIGKILL and reap (idempotent).
    func kill() {
        if isRunning {
            Glibc.kill(pid, SIGKILL)
            reap(blocking: true)
        }
    }
}
