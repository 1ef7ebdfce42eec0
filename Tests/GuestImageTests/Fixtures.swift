import Foundation
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
    static let directory: String = NSTemporaryDirectory() + "qnet-guest-tests-\(getpid())"
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
