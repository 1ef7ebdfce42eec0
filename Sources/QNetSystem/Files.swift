import Glibc
import SystemPackage

/// Whole-file reads, atomic writes and `mkdir -p`, on paths. Every failure is a
/// `SystemError` naming the step and the path.
public enum FileSystem {
    /// The whole file (`cat PATH`), read until end of file: procfs and sysfs files report
    /// size 0, so the size from stat(2) is never trusted. With `limit`, at most that many
    /// bytes from the start (`head -c N PATH`).
    public static func readBytes(_ path: String, limit: Int? = nil) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError.lastError("open", path: path) }
        defer { close(fd) }
        return try readAll(fd, path: path, limit: limit)
    }

    /// The whole file as UTF-8 text (invalid bytes become U+FFFD).
    public static func readText(_ path: String) throws -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    /// Writes `bytes` to `path` so that readers see the old file or the new one, never half
    /// of one, and the new one survives a crash: a temporary file in the same directory
    /// (created exclusively, never through a symlink), fsync, rename over `path`, fsync of
    /// the directory. The file gets exactly `mode`, whatever the umask.
    /// Equivalent to `cat > .PATH.tmp && sync .PATH.tmp && mv .PATH.tmp PATH && sync DIR`.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let (directory, name) = split(path)
        try DirectoryDescriptor(opening: directory, followSymlinks: true).writeAtomically(name, bytes, mode: mode)
    }

    /// `mkdir -p -m MODE PATH`: every missing directory is created with exactly `mode`
    /// (whatever the umask); existing ones are left as they are. A component that exists
    /// but is not a directory is ENOTDIR.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        // Usually it is there already (every changing command makes sure of its lock and
        // journal folders): one stat then, instead of a mkdir and a stat per component.
        var existing = stat()
        if stat(path, &existing) == 0 && existing.st_mode & S_IFMT == S_IFDIR { return }
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) == 0 {
                guard chmod(current, mode) == 0 else { throw SystemError.lastError("chmod", path: current) }
                continue
            }
            guard errno == EEXIST else { throw SystemError.lastError("create directory", path: current) }
            var info = stat()
            guard stat(current, &info) == 0 else { throw SystemError.lastError("stat", path: current) }
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw SystemError(errno: .notDirectory, operation: "create directory", path: current)
            }
        }
    }

    /// Opens (creating with `mode` when missing) `path` for appending, close-on-exec: a log
    /// file for a child's output (`>> PATH`). The caller closes it.
    public static func openForAppending(_ path: String, mode: mode_t = 0o640) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError.lastError("open", path: path) }
        return fd
    }

    /// The names in a directory without "." and "..", sorted (`ls -A DIR`); empty when it
    /// cannot be read.
    public static func list(_ directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// `rm -rf PATH` without following symlinks (a symlink is removed, not its target); for
    /// trees qnet made. What cannot be removed is left.
    public static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            for name in list(path) { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Whether something exists at `path` (`test -e`, following symlinks).
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// The directory part and the last component of `path` ("a/b" → ("a", "b"),
    /// "b" → (".", "b"), "/b" → ("/", "b")).
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    /// Reads `fd` to end of file (or `limit` bytes), retrying after EINTR.
    static func readAll(_ fd: Int32, path: String, limit: Int? = nil) throws -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while limit.map({ result.count < $0 }) ?? true {
            let wanted = min(buffer.count, (limit ?? Int.max) - result.count)
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, wanted) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError.lastError("read", path: path)
            }
            if count == 0 { break }
            result.append(contentsOf: buffer[0..<count])
        }
        return result
    }

    /// Writes all of `bytes` to `fd`, retrying after EINTR and short writes.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw SystemError.lastError("write", path: path)
                }
                offset += written
            }
        }
    }
}
