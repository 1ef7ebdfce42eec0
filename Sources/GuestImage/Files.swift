import Glibc

/// Small file helpers over Glibc (no Foundation: the CLI keeps its start-up lean).
enum Files {
    /// Reads a whole file (`cat PATH`).
    static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GuestImageError.fileOperation(operation: "opening", path: path, errno: errno) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw GuestImageError.fileOperation(operation: "reading", path: path, errno: errno) }
        var result: [UInt8] = []
        result.reserveCapacity(Int(status.st_size))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw GuestImageError.fileOperation(operation: "reading", path: path, errno: errno)
            }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return result
    }

    /// Reads at most `count` bytes from the start of a file.
    static func readPrefix(_ path: String, count: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GuestImageError.fileOperation(operation: "opening", path: path, errno: errno) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, count - filled) }
            if got < 0 {
                if errno == EINTR { continue }
                throw GuestImageError.fileOperation(operation: "reading", path: path, errno: errno)
            }
            if got == 0 { break }
            filled += got
        }
        return Array(buffer[0..<filled])
    }

    static func readText(_ path: String) throws -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    /// Writes `bytes` to `path` through a temporary file renamed over it, so readers see
    /// the old file or the new one, never half of one.
    static func writeAtomically(_ path: String, _ bytes: [UInt8], permissions: mode_t = 0o644) throws {
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, permissions)
        guard fd >= 0 else { throw GuestImageError.fileOperation(operation: "creating", path: temporary, errno: errno) }
        var failed: Int32 = 0
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failed = errno
                    return
                }
                offset += written
            }
        }
        // The umask may have narrowed the mode; QEMU runs as another user and must read these.
        if failed == 0, fchmod(fd, permissions) != 0 { failed = errno }
        close(fd)
        if failed != 0 {
            unlink(temporary)
            throw GuestImageError.fileOperation(operation: "writing", path: temporary, errno: failed)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw GuestImageError.fileOperation(operation: "renaming into place", path: path, errno: code)
        }
    }

    /// `mkdir -p -m MODE PATH`. New directories get exactly `permissions`, whatever the
    /// umask: QEMU runs as another user and must be able to reach the image.
    static func makeDirectories(_ path: String, permissions: mode_t = 0o755) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, permissions) == 0 {
                chmod(current, permissions)
            } else if errno != EEXIST {
                throw GuestImageError.fileOperation(operation: "creating directory", path: current, errno: errno)
            }
        }
    }

    static func exists(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0
    }

    static func isReadableFile(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFREG && access(path, R_OK) == 0
    }

    /// Size and modification time, for cache fingerprints (`stat -c '%s %Y'`).
    static func identity(_ path: String) -> String {
        var status = stat()
        guard stat(path, &status) == 0 else { return "\(path):missing" }
        return "\(path):\(status.st_size):\(status.st_mtim.tv_sec).\(status.st_mtim.tv_nsec):\(status.st_ino)"
    }

    static func size(_ path: String) -> Int? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return Int(status.st_size)
    }

    /// Names in a directory, sorted (`ls DIR`); empty when it cannot be read.
    static func list(_ directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The final target of a path (`realpath PATH`).
    static func resolved(_ path: String) -> String {
        guard let pointer = realpath(path, nil) else { return path }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// `rm -rf PATH` (does not follow symlinks); for directories qnet made.
    static func removeTree(_ path: String) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        if status.st_mode & S_IFMT == S_IFDIR {
            for name in list(path) { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}
