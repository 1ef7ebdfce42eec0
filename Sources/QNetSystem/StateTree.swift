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

    /// `rm -r DIR/NAME` for a folder qnet made and handed to a daemon's user `daemon` (FRR's
    /// `frr`, for its pid files and sockets), through descriptors and never following a
    /// symlink. Only what the daemon is expected to make there goes: an entry named in
    /// `expected` that is a socket or a regular file with one link, owned by `daemon` or
    /// qnet's user. Anything else (a symlink, a directory, a hard link, another name or owner:
    /// what a compromised daemon user could plant) is left where it is, and so is the folder.
    /// Returns those entries as "PATH (why)"; empty when the folder went or there was none.
    /// The unlink is `unlinkat` in the opened folder, which never follows the entry: one
    /// swapped for a symlink after the check loses only the link, never its target.
    @discardableResult
    public func removeDaemonFolder(_ name: String, daemon: uid_t, expected: [String]) -> [String] {
        guard let info = try? status(name) else { return [] }
        let path = child(name), owners = [daemon, geteuid()]
        if info.st_mode & S_IFMT == S_IFLNK { return ["\(path) (a symbolic link owned by uid \(info.st_uid))"] }
        guard info.st_mode & S_IFMT == S_IFDIR else { return ["\(path) (not a directory, owned by uid \(info.st_uid))"] }
        guard owners.contains(info.st_uid) else { return ["\(path) (owned by uid \(info.st_uid), neither the daemon's nor qnet's)"] }
        let directory: DirectoryDescriptor
        do { directory = try openDirectory(name, expectedOwner: info.st_uid) } catch { return ["\(path) (\(error))"] }
        var left: [String] = []
        for entry in (try? directory.names()) ?? [] {
            let shown = directory.child(entry)
            guard let entryInfo = try? directory.status(entry) else { continue }
            let type = entryInfo.st_mode & S_IFMT
            let problem: String? =
                type == S_IFLNK ? "a symbolic link owned by uid \(entryInfo.st_uid)" :
                type != S_IFSOCK && type != S_IFREG ? "neither a file nor a socket, owned by uid \(entryInfo.st_uid)" :
                !owners.contains(entryInfo.st_uid) ? "owned by uid \(entryInfo.st_uid), neither the daemon's nor qnet's" :
                type == S_IFREG && entryInfo.st_nlink != 1 ? "a file with \(entryInfo.st_nlink) hard links" :
                !expected.contains(entry) ? "not a file the daemon makes" : nil
            if let problem {
                left.append("\(shown) (\(problem))")
            } else if (try? directory.remove(entry)) == nil {
                left.append("\(shown) (cannot be removed)")
            }
        }
        if left.isEmpty && (try? remove(name, directory: true)) == nil { left.append("\(path) (cannot be removed)") }
        return left
    }
}
