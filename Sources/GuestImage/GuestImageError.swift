import QNetSystem

/// Why building or driving the micro-VM image failed. Each description is one line that
/// names the bad value and what would be accepted.
public enum GuestImageError: UserFacingError, Equatable, Sendable {
    /// A required input file is missing or unreadable (kernel, busybox, modules tree...).
    case missingInput(what: String, path: String, hint: String)
    /// The file is not a Linux x86 boot image (bzImage), so its version cannot be read.
    case notAKernelImage(path: String, reason: String)
    /// The busybox given is dynamically linked; the initramfs has no libraries for it.
    case dynamicallyLinked(path: String, needed: [String])
    /// No /boot/vmlinuz-* to default to.
    case noKernelFound(directory: String)
    /// The kernel's modules tree lacks a module the image needs.
    case moduleNotFound(name: String, modulesDirectory: String)
    /// A module is stored compressed (.ko.xz/.ko.zst/.ko.gz); busybox insmod cannot load it.
    case compressedModule(name: String, path: String)
    /// modules.dep is malformed or has a dependency cycle.
    case invalidModuleIndex(path: String, reason: String)
    /// An ELF file (iperf3 or one of its libraries) could not be read.
    case invalidELF(path: String, reason: String)
    /// A shared library a program needs was not found on the host.
    case libraryNotFound(name: String, neededBy: String)
    /// An entry could not be added to the cpio archive.
    case invalidArchiveEntry(path: String, reason: String)
    /// A probe plan value is malformed.
    case invalidPlan(key: String, value: String, allowed: String)
    /// The image would exceed its size budget.
    case tooLarge(bytes: Int, limit: Int)
    /// A file system operation failed.
    case fileOperation(operation: String, path: String, errno: Int32)

    /// True for bad user input (CLI exit status 2), false for failed operations (exit 1).
    public var isUsageError: Bool {
        switch self {
        case .missingInput, .notAKernelImage, .dynamicallyLinked, .noKernelFound, .invalidPlan: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .missingInput(what, path, hint):
            "\(what) '\(path)' not found or unreadable: \(hint)"
        case let .notAKernelImage(path, reason):
            "'\(path)' is not a Linux x86 kernel image (bzImage): \(reason); use a /boot/vmlinuz-* file"
        case let .dynamicallyLinked(path, needed):
            "busybox '\(path)' is dynamically linked (needs \(needed.isEmpty ? "an interpreter" : needed.joined(separator: ", "))): use a static one (install busybox-static)"
        case let .noKernelFound(directory):
            "no kernel found in \(directory) (looked for vmlinuz-*): install linux-image-amd64 or pass --kernel PATH"
        case let .moduleNotFound(name, directory):
            "kernel module '\(name)' not found in \(directory)/modules.dep: the kernel's modules package must match the kernel image"
        case let .compressedModule(name, path):
            "kernel module '\(name)' is compressed (\(path)): busybox insmod loads only plain .ko files; use a kernel whose modules are uncompressed (Debian 12's are)"
        case let .invalidModuleIndex(path, reason):
            "invalid module index \(path): \(reason)"
        case let .invalidELF(path, reason):
            "cannot read ELF file \(path): \(reason)"
        case let .libraryNotFound(name, neededBy):
            "shared library \(name) (needed by \(neededBy)) not found in the host's library directories"
        case let .invalidArchiveEntry(path, reason):
            "cannot add '\(path)' to the initramfs: \(reason)"
        case let .invalidPlan(key, value, allowed):
            "invalid \(key) '\(value)': \(allowed)"
        case let .tooLarge(bytes, limit):
            "the guest image would be \(bytes) bytes, over its limit of \(limit) bytes"
        case let .fileOperation(operation, path, code):
            "\(operation) \(path) failed: \(errnoText(code))"
        }
    }
}

#if canImport(Glibc)
import Glibc
func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }
#else
func errnoText(_ code: Int32) -> String { "errno \(code)" }
#endif
