import Glibc
import Synchronization
import SystemPackage

/// Another process (or another open of the same file) holds the lock.
public struct FileLockBusy: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    /// The pid the holder wrote into the lock file; nil when it had not written it yet.
    public var holder: pid_t?
    /// What the holder wrote after its pid (qnet writes its command line); nil when nothing.
    public var holderNote: String?

    public init(path: String, holder: pid_t?, holderNote: String? = nil) {
        self.path = path
        self.holder = holder
        self.holderNote = holderNote
    }

    /// `/run/qnet/net.lock is held by pid 4242`.
    public var description: String {
        "\(path) is held by \(holder.map { "pid \($0)" } ?? "another process")"
    }
}

/// An exclusive advisory lock on a file (flock(2) LOCK_EX), held until `release()` or until
/// the value is released. Equivalent to `flock --exclusive --nonblock PATH` (or
/// `--wait SECONDS`). The holder writes its pid into the file, so a process that loses can
/// say who holds it; the lock itself is the kernel's and disappears when the holder dies,
/// whatever the file says.
///
/// The descriptor is close-on-exec: children (dnsmasq, QEMU) never inherit the lock.
/// flock locks belong to the open file description, so two `FileLock`s on one path
/// exclude each other even within one process.
public final class FileLock: Sendable {
    public let path: String
    private let descriptor: Mutex<Int32>

    private init(path: String, fd: Int32) {
        self.path = path
        self.descriptor = Mutex(fd)
    }

    deinit { release() }

    /// Takes the lock if nobody holds it; throws `FileLockBusy` if somebody does, and
    /// `SystemError` when the file cannot be opened or written. The file is created with
    /// `mode` when missing and never opened through a symlink. `note` (one line, e.g. the
    /// command) is recorded after the pid for whoever finds the lock taken.
    public static func tryAcquire(_ path: String, mode: mode_t = 0o644, note: String? = nil) throws -> FileLock {
        try acquire(path, timeout: .zero, mode: mode, note: note)
    }

    /// Takes the lock, waiting up to `timeout` for the holder to let go; then throws
    /// `FileLockBusy` naming the holder's pid. `whileWaiting` is called once, with who
    /// holds the lock, when the first attempt finds it taken (to tell the user why nothing
    /// happens yet).
    public static func acquire(_ path: String, timeout: Duration, mode: mode_t = 0o644, note: String? = nil,
                               whileWaiting: ((FileLockBusy) -> Void)? = nil) throws -> FileLock {
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw errno == ELOOP ? SystemError.lastError("open lock file (a symbolic link; refused)", path: path)
                                 : SystemError.lastError("open lock file", path: path)
        }
        return try lock(fd, path: path, timeout: timeout, note: note, whileWaiting: whileWaiting)
    }

    /// Takes the lock on the state file `name` in `directory` (see `acquire(_:timeout:...)`),
    /// opened relative to the directory's descriptor: a symlink there (ELOOP), or a file that
    /// is not a regular one of qnet's user with one link (EPERM), is refused and left as it
    /// is, never written (`DirectoryDescriptor.openStateFile`).
    public static func acquire(_ name: String, in directory: DirectoryDescriptor, timeout: Duration, mode: mode_t = 0o644,
                               note: String? = nil, whileWaiting: ((FileLockBusy) -> Void)? = nil) throws -> FileLock {
        let fd = try directory.openStateFile(name, flags: O_RDWR | O_CREAT, mode: mode, kind: "lock file")
        return try lock(fd, path: directory.child(name), timeout: timeout, note: note, whileWaiting: whileWaiting)
    }

    /// flock(fd) with the wait above; records the holder. Takes ownership of `fd`.
    private static func lock(_ fd: Int32, path: String, timeout: Duration, note: String?,
                             whileWaiting: ((FileLockBusy) -> Void)?) throws -> FileLock {
        let deadline = Deadline.after(timeout)
        var whileWaiting = whileWaiting
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else {
                close(fd)
                throw SystemError(errno: Errno(rawValue: code), operation: "lock", path: path)
            }
            if deadline.hasPassed {
                let (holder, holderNote) = record(readingFrom: fd)
                close(fd)
                throw FileLockBusy(path: path, holder: holder, holderNote: holderNote)
            }
            if let report = whileWaiting {
                whileWaiting = nil
                let (holder, holderNote) = record(readingFrom: fd)
                report(FileLockBusy(path: path, holder: holder, holderNote: holderNote))
            }
            usleep(10_000)  // poll interval while another process holds the lock; bounded by the deadline
        }
        // Ours now: record who holds it (`echo $$ > PATH` without reopening the file).
        // Written over the old record, then cut to its length: truncating to 0 first makes
        // ext4 free the block and, on the rewrite, flush the file at close (its
        // auto_da_alloc rule for truncate-and-rewrite), 4-6 ms a lock where the runtime
        // directory is on ext4 (measured here, /run on the root file system); this way
        // costs 10 µs. The record is a pid and one line, so a shorter old one is overwritten.
        var record = Array("\(getpid())\n".utf8)
        if let note {
            record += note.utf8.map { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") ? UInt8(ascii: " ") : $0 }
            record.append(UInt8(ascii: "\n"))
        }
        guard pwrite(fd, record, record.count, 0) == record.count, ftruncate(fd, off_t(record.count)) == 0 else {
            let failure = SystemError.lastError("record holder pid in", path: path)
            close(fd)
            throw failure
        }
        return FileLock(path: path, fd: fd)
    }

    /// The pid written into the lock file at `path` (nil when there is none): who holds it
    /// or held it last. Whether it is still held is for `tryAcquire` to say.
    public static func recordedHolder(_ path: String) -> pid_t? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return record(readingFrom: fd).holder
    }

    /// Lets go of the lock (closing the descriptor releases it). Idempotent.
    public func release() {
        descriptor.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    /// The pid on the first line of the lock file and the note on the second.
    private static func record(readingFrom fd: Int32) -> (holder: pid_t?, note: String?) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return (nil, nil) }
        let lines = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let holder = pid_t(lines.first ?? "").flatMap { $0 > 0 ? $0 : nil }
        let note = lines.count > 1 && !lines[1].isEmpty ? String(lines[1]) : nil
        return (holder, note)
    }
}
