import SystemPackage
import QNetSystem

/// Why building a QEMU command line, finding QEMU, or making or reading a disk image failed.
/// Each description is one line that names the bad value and says what is allowed.
public enum QEMUError: UserFacingError, Equatable {
    /// A value QEMU's option syntax cannot carry (a control character such as a newline).
    case inexpressibleValue(option: String, value: String, reason: String)
    /// A value outside what qnet or QEMU allows.
    case invalidValue(what: String, value: String, allowed: String)
    /// None of the named programs is installed.
    case programNotFound(names: [String], hint: String)
    /// A program's `--version` output could not be read.
    case unrecognizedVersion(program: String, output: String)
    /// `qnet disk create` without `--force` on a path that exists.
    case fileExists(path: String)
    /// The file is not there.
    case fileNotFound(path: String, what: String)
    /// `--force` on something that is not a regular file (a block device, a directory).
    case notARegularFile(path: String)
    /// A system call on a disk image failed.
    case fileOperation(operation: String, path: String, errno: Errno)
    /// A spawned tool (qemu-img) failed; `message` is the last line of its stderr.
    case toolFailed(program: String, arguments: [String], status: Int32, message: String)
    /// A spawned tool could not be started.
    case spawnFailed(program: String, errno: Errno)
    /// A tool's output could not be understood.
    case unexpectedOutput(program: String, reason: String)

    /// Bad input (exit status 2) rather than a failed operation (exit status 1).
    public var isUsageError: Bool {
        switch self {
        case .inexpressibleValue, .invalidValue, .fileExists, .fileNotFound, .notARegularFile: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .inexpressibleValue(option, value, reason):
            return "cannot pass \(option) '\(printable(value))' to QEMU: \(reason)"
        case let .invalidValue(what, value, allowed):
            return "invalid \(what) '\(printable(value))': \(allowed)"
        case let .programNotFound(names, hint):
            return "\(names.joined(separator: " or ")) not found in PATH; \(hint)"
        case let .unrecognizedVersion(program, output):
            return "cannot read the version of \(program) from '\(printable(output))'"
        case let .fileExists(path):
            return "'\(printable(path))' already exists; pass --force to replace it, or pick another path"
        case let .fileNotFound(path, what):
            return "\(what) '\(printable(path))' does not exist"
        case let .notARegularFile(path):
            return "'\(printable(path))' is not a regular file; refusing to replace it even with --force"
        case let .fileOperation(operation, path, errno):
            var hint = ""
            switch errno {
            case .noSuchFileOrDirectory: hint = " (does the directory exist?)"
            case .fileTooLarge: hint = " (the size is more than this filesystem allows)"
            case .noSpace: hint = " (no space left on the filesystem)"
            case .permissionDenied, .notPermitted, .readOnlyFileSystem: hint = " (check permissions of the file and its directory)"
            default: break
            }
            return "\(operation) '\(printable(path))' failed: \(errno)\(hint)"
        case let .toolFailed(program, arguments, status, message):
            let command = ([program] + arguments).joined(separator: " ")
            return "\(command) failed (exit status \(status))" + (message.isEmpty ? "" : ": \(message)")
        case let .spawnFailed(program, errno):
            return "cannot run \(program): \(errno)"
        case let .unexpectedOutput(program, reason):
            return "unexpected output from \(program): \(reason)"
        }
    }
}
