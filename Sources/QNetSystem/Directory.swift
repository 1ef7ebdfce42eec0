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
                let what = (try? foreignEntry(temporary)).flatMap { $0 } ?? "something else"
                throw SystemError(errno: .fileExists, operation: "create temporary file (\(what) is there; refused and left alone)",
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

// MARK: - State directories and files

extension DirectoryDescriptor {
    /// Opens qnet's state directory `path` (`mkdir -p -m MODE PATH` when `create`, the
    /// directories above it 0755), walking it one component at a time from `/` with
    /// `openat(O_DIRECTORY | O_NOFOLLOW)`, so that nothing another user planted on the way can
    /// redirect it. Returns nil when it is missing and `create` is false.
    ///
    /// Every directory on the way must belong to root or to qnet's user, and must not be
    /// writable by others unless it is sticky (/tmp); `path` itself must not be writable by
    /// others at all. A symlink on the way is followed only when root made it and it is not
    /// `path` itself (/var/run → /run); a symlink at `path`, or one another user made, is
    /// refused. So a --state-dir in a shared place such as /tmp/x that another user made
    /// first, or any level below it replaced by a link, is refused with one line naming it.
    ///
    /// The directories walked are remembered for the rest of the process (``TrustedDirectories``):
    /// a later call reuses the open descriptor of the deepest one still at its path (same
    /// device and inode, `fstatat(AT_SYMLINK_NOFOLLOW)`) after checking its owner and mode
    /// again, and walks only the levels below it. One command opens its lock directory and
    /// its journal directory up to six times (lock, recovery scan, each journal write, the
    /// removal); walking /run/qnet from `/` each time was 12 system calls a time.
    public static func openState(_ path: String, mode: mode_t = 0o755, create: Bool = true) throws -> DirectoryDescriptor? {
        let components = path.split(separator: "/").map(String.init).filter { $0 != "." }
        guard !components.contains("..") else {
            throw SystemError(errno: .invalidArgument, operation: "use as a state directory (no '..' allowed)", path: path)
        }
        let absolute = path.hasPrefix("/")
        var current: DirectoryDescriptor
        var start = 0
        if absolute, let (known, depth) = TrustedDirectories.deepest(components, last: components.count) {
            current = known
            start = depth
        } else {
            current = try DirectoryDescriptor(opening: absolute ? "/" : ".", followSymlinks: true)
        }
        for (index, name) in components.enumerated().dropFirst(start) {
            let last = index == components.count - 1
            let shown = current.child(name)
            var fd = openat(current.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd < 0 && errno == ENOENT {
                guard create else { return nil }
                let wanted: mode_t = last ? mode : 0o755
                let made = mkdirat(current.fd, name, wanted) == 0
                guard made || errno == EEXIST else { throw SystemError.lastError("create directory", path: shown) }
                fd = openat(current.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                // Exactly `wanted`, whatever the umask (on the descriptor: the directory just made).
                if made && fd >= 0 && fchmod(fd, wanted) != 0 {
                    let failure = SystemError.lastError("chmod", path: shown)
                    close(fd)
                    throw failure
                }
            }
            if fd < 0 && (errno == ELOOP || errno == ENOTDIR) {
                var info = stat()
                guard fstatat(current.fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { throw SystemError.lastError("stat", path: shown) }
                guard info.st_mode & S_IFMT == S_IFLNK else {
                    throw SystemError(errno: .notDirectory, operation: "use as a state directory (not a directory; left alone)", path: shown)
                }
                guard info.st_uid == 0, !last else {
                    throw SystemError(errno: .tooManySymbolicLinkLevels,
                                      operation: "use as a state directory (a symbolic link owned by uid \(info.st_uid); not followed, left alone)",
                                      path: shown)
                }
                fd = openat(current.fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            }
            guard fd >= 0 else { throw openError(path: shown) }
            let next = DirectoryDescriptor(fd: fd, path: shown)
            try next.checkTrusted(last: last)
            current = next
            if absolute { TrustedDirectories.remember(next, at: components[...index]) }
        }
        return current
    }

    /// Refuses this directory as part of qnet's state unless root or qnet's user owns it and
    /// others cannot write it (a sticky directory such as /tmp is fine above the state itself).
    fileprivate func checkTrusted(last: Bool) throws {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemError.lastError("stat", path: path) }
        try checkTrusted(info, last: last)
    }

    /// `checkTrusted(last:)` with the directory's `fstat` already read.
    fileprivate func checkTrusted(_ info: stat, last: Bool) throws {
        let owner = geteuid()
        guard info.st_uid == 0 || info.st_uid == owner else {
            throw SystemError(errno: .notPermitted,
                              operation: "trust state directory (owned by uid \(info.st_uid), expected uid \(owner)\(owner == 0 ? "" : " or 0"); left alone)",
                              path: path)
        }
        let writableByOthers = info.st_mode & 0o022 != 0
        guard !writableByOthers || (!last && info.st_mode & S_ISVTX != 0) else {
            throw SystemError(errno: .notPermitted,
                              operation: "trust state directory (mode \(String(info.st_mode & 0o7777, radix: 8)): others may write in it)",
                              path: path)
        }
    }

    /// Opens the state file `name` here (`openat(O_NOFOLLOW)`, with `O_CREAT` in `flags`
    /// creating it with `mode`) and refuses it, leaving it as it is, unless it is a regular
    /// file of qnet's user with one link that others cannot write: a planted symlink
    /// (ELOOP), a foreign-owned file, a hard link or a device is never used. The caller owns
    /// the descriptor.
    /// `kind` names the file in messages ("lock file", "journal").
    public func openStateFile(_ name: String, flags: Int32, mode: mode_t = 0o600, kind: String = "state file") throws -> Int32 {
        try Self.validate(name)
        let fd = openat(self.fd, name, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, mode)
        guard fd >= 0 else {
            if errno == ELOOP {
                throw SystemError(errno: .tooManySymbolicLinkLevels,
                                  operation: "open \(kind) (a symbolic link; refused and left alone)", path: child(name))
            }
            throw SystemError.lastError("open \(kind)", path: child(name))
        }
        do {
            try checkStateFile(fd, name: name, kind: kind)
        } catch {
            close(fd)
            throw error
        }
        // Back to blocking I/O (O_NONBLOCK only kept a planted FIFO from blocking the open).
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    /// Refuses an open state file that is not a regular file of qnet's user with one link,
    /// unwritable by others (fstat of the open file: what was checked is what is used).
    func checkStateFile(_ fd: Int32, name: String, kind: String = "state file") throws {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemError.lastError("stat", path: child(name)) }
        let owner = geteuid()
        let problem: String? =
            info.st_mode & S_IFMT != S_IFREG ? "not a regular file" :
            info.st_uid != owner ? "owned by uid \(info.st_uid), expected uid \(owner)" :
            info.st_nlink != 1 ? "\(info.st_nlink) hard links" :
            info.st_mode & 0o022 != 0 ? "mode \(String(info.st_mode & 0o7777, radix: 8)): others may write it" : nil
        if let problem {
            throw SystemError(errno: .notPermitted, operation: "trust \(kind) (\(problem); refused and left alone)", path: child(name))
        }
    }

    /// Why the entry `name` here is not a state file qnet may touch (a symlink, another
    /// user's, a directory, a hard link), without following or opening it; nil when it is
    /// one of ours, or missing.
    public func foreignEntry(_ name: String) throws -> String? {
        guard let info = try status(name) else { return nil }
        let owner = geteuid()
        if info.st_mode & S_IFMT == S_IFLNK { return "a symbolic link owned by uid \(info.st_uid)" }
        if info.st_mode & S_IFMT != S_IFREG { return "not a regular file (owned by uid \(info.st_uid))" }
        if info.st_uid != owner { return "a file owned by uid \(info.st_uid), not qnet's (uid \(owner))" }
        if info.st_nlink != 1 { return "a file with \(info.st_nlink) hard links" }
        return nil
    }
}

/// The state directories `openState` walked in this process, by absolute path: each an open
/// descriptor that passed the owner and mode checks. Reused only while the path still
/// names the same directory (device and inode of `fstatat(path, AT_SYMLINK_NOFOLLOW)`, so a
/// directory removed, replaced or swapped for a symlink since is walked afresh) and it
/// still passes the checks (its owner or mode may have changed). The descriptor is what was
/// checked, so what is used is still what was checked.
/// At most `capacity` are kept (each holds a descriptor open; a test process walks many
/// temporary state trees): when full, those found stale are forgotten first. A plain array
/// searched by path: a `[String: DirectoryDescriptor]` (and `joined(separator:)` for its
/// keys) made the runtime look up String's Hashable and StringProtocol conformances on first
/// use, which in the static binary scan every conformance record (0.8 M instructions).
enum TrustedDirectories {
    struct Entry {
        var path: String
        var directory: DirectoryDescriptor
    }

    private static let known = Mutex<[Entry]>([])
    static let capacity = 128

    static func remember(_ directory: DirectoryDescriptor, at components: ArraySlice<String>) {
        var path = ""
        for component in components { path += "/" + component }
        known.withLock { entries in
            if let index = entries.firstIndex(where: { $0.path == path }) {
                entries[index].directory = directory
                return
            }
            if entries.count >= capacity { entries.removeAll { !isCurrent($0.directory) } }
            if entries.count < capacity { entries.append(Entry(path: path, directory: directory)) }
        }
    }

    /// Whether `directory` is still what its path names (same device and inode).
    private static func isCurrent(_ directory: DirectoryDescriptor) -> Bool { currentStatus(directory) != nil }

    /// The `fstat` of `directory` while its path still names it (same device and inode of
    /// `fstatat(path, AT_SYMLINK_NOFOLLOW)`); nil once it was removed, replaced or swapped
    /// for a symlink.
    private static func currentStatus(_ directory: DirectoryDescriptor) -> stat? {
        var atPath = stat()
        var opened = stat()
        guard fstatat(AT_FDCWD, directory.path, &atPath, AT_SYMLINK_NOFOLLOW) == 0, fstat(directory.fd, &opened) == 0,
              atPath.st_dev == opened.st_dev, atPath.st_ino == opened.st_ino else { return nil }
        return opened
    }

    /// The deepest remembered directory among the first 1...`last` components that is still
    /// valid, and how many components it covers; nil when none is.
    static func deepest(_ components: [String], last: Int) -> (DirectoryDescriptor, Int)? {
        guard last > 0 else { return nil }
        let candidates = known.withLock { entries -> [(DirectoryDescriptor, Int)] in
            guard !entries.isEmpty else { return [] }
            var found: [(DirectoryDescriptor, Int)] = []
            var key = ""
            for depth in 1...last {
                key += "/" + components[depth - 1]
                if let entry = entries.first(where: { $0.path == key }) { found.append((entry.directory, depth)) }
            }
            return found.reversed()
        }
        for (directory, depth) in candidates {
            guard let opened = currentStatus(directory),
                  (try? directory.checkTrusted(opened, last: depth == components.count)) != nil else {
                known.withLock { entries in entries.removeAll { $0.directory === directory } }
                continue
            }
            return (directory, depth)
        }
        return nil
    }
}
