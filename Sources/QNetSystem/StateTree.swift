import Glibc

// MARK: - Reading, writing and removing state through a checked directory

extension DirectoryDescriptor {
    /// The whole state file `name` here, opened with `openStateFile`'s checks (no symlink,
    /// a regular file of qnet's user with one link that others cannot write); nil when there
    /// is none. Anything else there is an error naming it, and is left as it is.
    /// `kind` names the file in messages ("network definition", "dnsmasq log").
    public func readStateFile(_ name: String, kind: String = "state file") throws -> [UInt8]? {
        let fd: Int32
        do {
            fd = try openStateFile(name, flags: O_RDONLY, kind: kind)
        } catch let error as SystemError where error.errno == .noSuchFileOrDirectory {
            return nil
        }
        defer { close(fd) }
        return try FileSystem.readAll(fd, path: child(name))
    }

    /// Replaces the state file `name` here atomically (`writeAtomically`), refusing, and
    /// leaving alone, whatever is there that is not qnet's (a symlink, another user's file,
    /// a directory, a hard link).
    public func writeStateFile(_ name: String, _ bytes: [UInt8], mode: mode_t = 0o600, kind: String = "state file") throws {
        if let foreign = try foreignEntry(name) {
            throw SystemError(errno: .notPermitted, operation: "write \(kind) (\(foreign) is there; refused and left alone)",
                              path: child(name))
        }
        try writeAtomically(name, bytes, mode: mode)
    }

    /// Removes the state file `name` here when it is qnet's (`rm DIR/NAME`); a symlink,
    /// another user's file or a directory there is refused with an error naming it, and
    /// left alone. A missing file is not an error.
    public func removeStateFile(_ name: String, kind: String = "state file") throws {
        if let foreign = try foreignEntry(name) {
            throw SystemError(errno: .notPermitted, operation: "remove \(kind) (\(foreign); refused and left alone)", path: child(name))
        }
        try remove(name)
    }

    /// `rm -r DIR/NAME` for a tree qnet made, through descriptors and never following a
    /// symlink: directories and files of qnet's user go; a symlink, or an entry another user
    /// owns, is left where it is (and so are the directories above it, which cannot be
    /// emptied). Returns the entries left that way, each as "PATH (why)"; empty when the
    /// whole tree went or there was none.
    @discardableResult
    public func removeStateTree(_ name: String) -> [String] {
        guard let info = try? status(name) else { return [] }
        let owner = geteuid()
        let path = child(name)
        if info.st_mode & S_IFMT == S_IFLNK { return ["\(path) (a symbolic link owned by uid \(info.st_uid))"] }
        guard info.st_uid == owner else { return ["\(path) (owned by uid \(info.st_uid), not qnet's uid \(owner))"] }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            return (try? remove(name)) == nil ? ["\(path) (cannot be removed)"] : []
        }
        let directory: DirectoryDescriptor
        do { directory = try openDirectory(name, expectedOwner: owner) } catch { return ["\(path) (\(error))"] }
        var left: [String] = []
        for entry in (try? directory.names()) ?? [] { left += directory.removeStateTree(entry) }
        if left.isEmpty && (try? remove(name, directory: true)) == nil { left.append("\(path) (cannot be removed)") }
        return left
    }
}
