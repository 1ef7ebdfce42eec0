import Glibc
import SystemPackage

/// A system call that failed: which call (or step), on what path, and the kernel's errno.
///
/// Every file, process, lock and signal helper in QNetSystem throws this one type, so callers
/// can tell `ENOENT` from `EACCES` from `EEXIST` by the `errno` rather than by parsing text.
/// Its description is one line: `open /run/qnet/vms/a/state.json: No such file or directory`.
public struct SystemError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// What the kernel answered.
    public var errno: Errno
    /// The call or step, as a verb phrase ("open", "rename .x.tmp to", "spawn").
    public var operation: String
    /// The path (or program) it was about, when there is one.
    public var path: String?

    public init(errno: Errno, operation: String, path: String? = nil) {
        self.errno = errno
        self.operation = operation
        self.path = path
    }

    /// The failure the C library just reported through `errno`.
    public static func lastError(_ operation: String, path: String? = nil) -> SystemError {
        SystemError(errno: Errno(rawValue: Glibc.errno), operation: operation, path: path)
    }

    /// `open /x: No such file or directory`: the step, the path, and the kernel's reason.
    public var description: String {
        let subject = path.map { "\(operation) \($0)" } ?? operation
        return "\(subject): \(errno.description)"
    }
}

/// Retries `body` while it fails with EINTR (a signal arrived during a slow call). `body`
/// returns the call's result; a negative value means failure with `errno` set.
func retryingOnInterrupt<Result: SignedInteger>(_ body: () -> Result) -> Result {
    while true {
        let result = body()
        if result >= 0 || Glibc.errno != EINTR { return result }
    }
}
