import Glibc
import Synchronization
import SystemPackage

/// An open directory, and file operations relative to it (`openat`, `mkdirat`, `renameat`,
/// `unlinkat`, `fstatat`) that can refuse symlinks and entries owned by the wrong user.
///
/// Working through a directory descriptor instead of paths means a directory renamed or
/// replaced by a symlink after it was opened cannot redirect later operations: what was
/// checked is what is used. Names are single path components (no "/", not "." or "..").
/// The descriptor is close-on-exec and closed when the value is released.
public final class DirectoryDescriptor: Sendable {
    /// The open directory (O_DIRECTORY | O_CLOEXEC).
    public let fd: Int32
    /// The path it was opened at, for messages.
    public let path: String

    /// Opens the directory at `path`. Without `followSymlinks`, a symlink as the last
    /// component is refused (O_NOFOLLOW: ELOOP); with `expectedOwner`, a directory owned by
    /// another uid is refused (EPERM).
    public init(opening path: String, followSymlinks: Bool = false, expectedOwner: uid_t? = nil) throws {
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followSymlinks ? 0 : O_NOFOLLOW)
        let fd = open(path, flags)
        guard fd >= 0 else { throw Self.openError(path: path) }
        if let expectedOwner {
            do { try Self.checkOwner(of: fd, expected: expectedOwner, path: path) } catch { close(fd); throw error }
        }
        self.fd = fd
        self.path = path
    }

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Opens the subdirectory `name` (never through a symlink), optionally refusing one
    /// owned by another uid.
    public func openDirectory(_ name: String, expectedOwner: uid_t? = nil) throws -> DirectoryDescriptor {
        let fd = try openFile(name, flags: O_RDONLY | O_DIRECTORY, expectedOwner: expectedOwner)
        return DirectoryDescriptor(fd: fd, path: child(name))
    }

    /// `openat(fd, name, flags | O_CLOEXEC [| O_NOFOLLOW], mode)`; the caller owns the
    /// returned descriptor. Without `followSymlinks`, a symlink at `name` is refused (ELOOP);
    /// with `expectedOwner`, an entry owned by another uid is refused (EPERM) after it was
    /// opened, so the check and the use are the same file.
    public func openFile(_ name: String, flags: Int32, mode: mode_t = 0o600, followSymlinks: Bool = false,
                         expectedOwner: uid_t? = nil) throws -> Int32 {
        try Self.validate(name)
        let fd = openat(self.fd, name, flags | O_CLOEXEC | (followSymlinks ? 0 : O_NOFOLLOW), mode)
        guard fd >= 0 else { throw Self.openError(path: child(name)) }
        if let expectedOwner {
            do { try Self.checkOwner(of: fd, expected: expectedOwner, path: child(name)) } catch { close(fd); throw error }
        }
        return fd
    }

    /// The whole file `name` (never through a symlink).
    public func readBytes(_ name: String, expectedOwner: uid_t? = nil) throws -> [UInt8] {
        let fd = try openFile(name, flags: O_RDONLY, expectedOwner: expectedOwner)
        defer { close(fd) }
        return try FileSystem.readAll(fd, path: child(name))
    }

    /// `stat` of the entry itself (`fstatat(AT_SYMLINK_NOFOLLOW)`: a symlink is reported as
    /// one); nil when there is none.
    public func status(_ name: String) throws -> stat? {
        try Self.validate(name)
        var info = stat()
        guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw SystemError.lastError("stat", path: child(name))
        }
        return info
    }

    /// `mkdir -m MODE DIR/NAME` (exactly `mode`, whatever the umask). An existing directory
    /// that is not a symlink is accepted when it has the expected owner.
    public func makeDirectory(_ name: String, mode: mode_t = 0o755, expectedOwner: uid_t? = nil) throws {
        try Self.validate(name)
        if mkdirat(fd, name, mode) == 0 {
            guard fchmodat(fd, name, mode, 0) == 0 else { throw SystemError.lastError("chmod", path: child(name)) }
            return
        }
        guard errno == EEXIST else { throw SystemError.lastError("create directory", path: child(name)) }
        // Opening it checks that it is a directory, not a symlink, with the right owner.
        _ = try openDirectory(name, expectedOwner: expectedOwner)
    }

    /// `rm DIR/NAME` (`unlinkat`); `directory` removes an empty directory (`rmdir`).
    /// A missing entry is not an error.
    public func remove(_ name: String, directory: Bool = false) throws {
        try Self.validate(name)
        guard unlinkat(fd, name, directory ? AT_REMOVEDIR : 0) == 0 || errno == ENOENT else {
            throw SystemError.lastError(directory ? "remove directory" : "remove", path: child(name))
        }
    }

    /// The name of the temporary file `writeAtomically(name, ...)` writes first:
    /// `.NAME.tmp-PID`, next to `name`.
    public static func temporaryName(for name: String) -> String { ".\(name).tmp-\(getpid())" }

    /// Writes `bytes` to `name` atomically: a temporary file created with
    /// O_CREAT | O_EXCL | O_NOFOLLOW (never an existing file, never through a planted symlink),
    /// written, fchmod'ed to `mode`, fsync'ed, renamed over `name`, then the directory fsync'ed
    /// so the rename survives a crash. The temporary file is removed when any step fails.
    ///
    /// `durable: false` leaves out both fsyncs: other processes still see the old file or the
    /// new one, never a part, and a killed writer loses nothing (the data is in the page
    /// cache); only a crash of the whole machine may lose the file. For what describes state
    /// that does not survive a crash either (the host-change journal).
    public func writeAtomically(_ name: String, _ bytes: [UInt8], mode: mode_t = 0o644, durable: Bool = true) throws {
        try Self.validate(name)
        // One writer at a time in this process: all use the same temporary name.
        try atomicWriters.withLock { _ in
            let temporary = Self.temporaryName(for: name)
            let fd = try createExclusively(temporary, mode: mode)
            do {
                defer { close(fd) }
                try FileSystem.writeAll(fd, bytes, path: child(temporary))
                guard fchmod(fd, mode) == 0 else { throw SystemError.lastError("chmod", path: child(temporary)) }
                guard !durable || fsync(fd) == 0 else { throw SystemError.lastError("fsync", path: child(temporary)) }
            } catch {
                unlinkat(self.fd, temporary, 0)
                throw error
            }
            guard renameat(self.fd, temporary, self.fd, name) == 0 else {
                let failure = SystemError.lastError("rename \(child(temporary)) to", path: child(name))
                unlinkat(self.fd, temporary, 0)
                throw failure
            }
            guard !durable || fsync(self.fd) == 0 else { throw SystemError.lastError("fsync", path: path) }
        }
    }

    /// Creates `temporary` exclusively. An existing regular file of ours with that name was
    /// left by a writer that had this pid and was killed: it is removed and the creation
    /// retried once. Anything else there (a symlink, another user's file) is refused.
    private func createExclusively(_ temporary: String, mode: mode_t) throws -> Int32 {
        for attempt in 0..<2 {
            let fd = openat(self.fd, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            guard errno == EEXIST, attempt == 0 else { break }
            var info = stat()
            guard fstatat(self.fd, temporary, &info, AT_SYMLINK_NOFOLLOW) == 0,
                  info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid() else {
                throw SystemError(errno: .fileExists, operation: "create temporary file (something else is there; refused)",
                                  path: child(temporary))
            }
            unlinkat(self.fd, temporary, 0)
        }
        throw SystemError.lastError("create temporary file", path: child(temporary))
    }

    /// DIR/NAME for messages.
    func child(_ name: String) -> String { path == "/" ? "/\(name)" : "\(path)/\(name)" }

    /// A single path component: not empty, no "/", not "." or "..".
    static func validate(_ name: String) throws {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw SystemError(errno: .invalidArgument, operation: "use as a file name (one path component)", path: name)
        }
    }

    /// Refuses `fd` unless its owner is `expected` (fstat of the open file, not of the path).
    static func checkOwner(of fd: Int32, expected: uid_t, path: String) throws {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemError.lastError("stat", path: path) }
        guard info.st_uid == expected else {
            throw SystemError(errno: .notPermitted,
                              operation: "trust (owned by uid \(info.st_uid), expected uid \(expected))", path: path)
        }
    }

    /// ELOOP from O_NOFOLLOW says "too many levels of symbolic links"; say what happened.
    static func openError(path: String) -> SystemError {
        errno == ELOOP ? SystemError.lastError("open (a symbolic link; refused)", path: path)
                       : SystemError.lastError("open", path: path)
    }
}

/// Serializes atomic writes within this process (they share one temporary name per file).
private let atomicWriters = Mutex(())
