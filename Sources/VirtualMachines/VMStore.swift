import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import QNetSystem

/// The per-VM directories under /run/qnet/vms, reached only through directory descriptors.
///
/// State an unprivileged process cannot poison: every level from the state directory down
/// is opened with O_NOFOLLOW and must belong to qnet's own user (root); a VM's directory is
/// 0700 and its files 0600, so neither QEMU's user nor anyone else can write there. A
/// planted symlink or a foreign-owned entry is reported (`notice`) and left alone, never
/// followed, emptied or trusted; removal unlinks only the names qnet itself creates there.
/// Equivalent to what libvirt keeps in /run/libvirt/qemu (root 0700).
public enum VMStore {
    public static func directory(for name: String) -> String { "\(QNetPaths.vms)/\(name)" }
    static func stateFile(for name: String) -> String { "\(directory(for: name))/state.json" }
    static let stateName = "state.json"
    static let startingName = "starting"
    /// passt's own subdirectory: the one place under the state directory a VM's user may
    /// write (passt runs as that user and creates its socket and pid file there).
    static let passtName = "passt"
    /// The names qnet creates in a VM's directory (besides temporary files of atomic writes).
    static let ownNames: Set<String> = [stateName, startingName, "qmp.sock", "qemu.log", "console.log"]

    /// Where reports of refused entries go (the CLI prints them on stderr).
    nonisolated(unsafe) public static var notice: (String) -> Void = { _ in }

    /// The uid state must belong to: the user qnet runs as (root, or the user of a private --state-dir).
    static var owner: uid_t { geteuid() }

    /// Opens QNET_STATE_DIR/run/vms (or /run/qnet/vms), creating what is missing: each level
    /// a real directory (no symlink) owned by qnet's user, so a --state-dir in a shared place
    /// such as /tmp cannot be pre-planted by another user.
    static func openVMs(create: Bool = true) throws -> DirectoryDescriptor? {
        // 0711: others may pass through (passt, as a VM's uid, reaches its own socket
        // directory by path) but not list; every VM directory decides for itself. Walked
        // from / one level at a time (`openState`): a level another user made or replaced
        // by a symlink, the --state-dir's parents included, is refused.
        try DirectoryDescriptor.openState(QNetPaths.vms, mode: 0o711, create: create)
    }

    /// The VM's directory, or nil when there is none. A symlink, a non-directory or a
    /// directory owned by another user there is reported and refused (nil): left alone.
    static func openDirectory(_ name: String, in vms: DirectoryDescriptor) -> DirectoryDescriptor? {
        guard let info = try? vms.status(name) else { return nil }
        guard info.st_mode & S_IFMT == S_IFDIR, info.st_uid == owner else {
            reportForeign(vms, name, info)
            return nil
        }
        do {
            return try vms.openDirectory(name, expectedOwner: owner)
        } catch {
            notice("warning: VM state \(vms.path)/\(name) cannot be opened (\(error)); left alone")
            return nil
        }
    }

    static func reportForeign(_ directory: DirectoryDescriptor, _ name: String, _ info: stat) {
        let kind = info.st_mode & S_IFMT == S_IFLNK ? "a symbolic link" : info.st_mode & S_IFMT == S_IFDIR ? "a directory" : "not a directory"
        notice("warning: \(directory.path)/\(name) is \(kind) owned by uid \(info.st_uid), not qnet's state (uid \(owner)): refused and left alone")
    }

    /// Creates the VM's directory (root, 0700); an existing entry of that name is refused.
    static func create(_ name: String) throws -> DirectoryDescriptor {
        guard let vms = try openVMs() else { throw SystemError(errno: .noSuchFileOrDirectory, operation: "open", path: QNetPaths.vms) }
        guard mkdirat(vms.fd, name, 0o700) == 0 else { throw SystemError.lastError("create VM directory", path: directory(for: name)) }
        return try vms.openDirectory(name, expectedOwner: owner)
    }

    static func save(_ state: VMState) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try write(stateName, Array(try encoder.encode(state)), for: state.name)
    }

    private static func write(_ file: String, _ bytes: [UInt8], for name: String) throws {
        guard let vms = try openVMs(), let directory = openDirectory(name, in: vms) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open VM directory (missing or refused)", path: directory(for: name))
        }
        try directory.writeAtomically(file, bytes, mode: 0o600)
    }

    private static func read(_ file: String, for name: String) -> [UInt8]? {
        guard let vms = try? openVMs(create: false), let directory = openDirectory(name, in: vms) else { return nil }
        return try? directory.readStateFile(file, kind: "VM state")
    }

    static func load(_ name: String) -> VMState? {
        read(stateName, for: name).flatMap { try? JSONDecoder().decode(VMState.self, from: Data($0)) }
    }

    /// Every VM directory's state (directories without a readable state are included as nil).
    /// Entries that are not qnet's directories (symlinks, other users') are reported and skipped.
    /// Every VM's recorded state, read only (no repair, no liveness check): for pictures.
    public static func recordedStates() -> [VMState] { all().compactMap(\.state) }

    static func all() -> [(name: String, state: VMState?)] {
        let vms: DirectoryDescriptor
        do {
            guard let opened = try openVMs(create: false) else { return [] }
            vms = opened
        } catch {
            notice("warning: VM state \(QNetPaths.vms) refused: \(error)")
            return []
        }
        guard let names = try? vms.names() else { return [] }
        return names.sorted().compactMap { name in
            guard let info = try? vms.status(name) else { return nil }
            guard info.st_mode & S_IFMT == S_IFDIR, info.st_uid == owner else {
                reportForeign(vms, name, info)
                return nil
            }
            return (name, load(name))
        }
    }

    /// Removes the VM's directory: only the entries qnet creates there (its files, passt's
    /// subdirectory and what passt made in it, temporary files of atomic writes), never
    /// following a symlink. Anything else is reported and left, and so is the directory.
    static func remove(_ name: String) {
        guard let vms = try? openVMs(create: false), let directory = openDirectory(name, in: vms) else { return }
        var left: [String] = []
        for entry in (try? directory.names()) ?? [] {
            guard let info = try? directory.status(entry) else { continue }
            let isDirectory = info.st_mode & S_IFMT == S_IFDIR
            if entry == passtName && isDirectory {
                // passt's files are its user's; only regular files and sockets it names as its own.
                if let passt = try? directory.openDirectory(entry) {
                    for file in (try? passt.names()) ?? [] where file.hasPrefix("passt-") {
                        if let fileInfo = try? passt.status(file), fileInfo.st_mode & S_IFMT != S_IFDIR { try? passt.remove(file) }
                    }
                }
                if (try? directory.remove(entry, directory: true)) == nil { left.append(entry) }
                continue
            }
            let ours = ownNames.contains(entry) || isPasstLog(entry) || isTemporary(entry)
            guard ours, !isDirectory, info.st_uid == owner else { left.append(entry); continue }
            try? directory.remove(entry)
        }
        if !left.isEmpty {
            notice("warning: VM state \(directory.path) holds entries qnet did not create (\(left.sorted().joined(separator: ", "))): left alone")
        }
        try? vms.remove(name, directory: true)
    }

    /// A recorded path (a VM's console.log, qemu.log, passt log) as its VM directory and the
    /// file's name in it; nil for a path outside the VM directories (a `--console` file the
    /// user named) or deeper in them.
    static func ownFile(_ path: String) -> (vm: String, file: String)? {
        let root = QNetPaths.vms + "/"
        guard path.hasPrefix(root) else { return nil }
        let parts = path.dropFirst(root.count).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (parts[0], parts[1])
    }

    /// The whole file at a recorded path: a VM's own file through its checked directory
    /// (`readStateFile`: never through a symlink, only a regular file of qnet's), any other
    /// (the user's `--console` file) by its path. nil when it cannot be read.
    public static func readFile(_ path: String) -> [UInt8]? {
        guard let own = ownFile(path) else { return try? FileSystem.readBytes(path) }
        guard let vms = try? openVMs(create: false), let directory = openDirectory(own.vm, in: vms) else { return nil }
        return try? directory.readStateFile(own.file, kind: "VM file")
    }

    /// The text of `readFile` (empty when it cannot be read): QEMU's or passt's output for a message.
    static func readText(_ path: String) -> String { String(decoding: readFile(path) ?? [], as: UTF8.self) }

    /// Opens a VM's own log file at a recorded path for appending (`>> PATH`), through its
    /// checked directory (`openStateFile`); any other path as given. The caller closes it.
    static func openForAppending(_ path: String, mode: mode_t) throws -> Int32 {
        guard let own = ownFile(path) else { return try FileSystem.openForAppending(path, mode: mode) }
        guard let vms = try openVMs(create: false), let directory = openDirectory(own.vm, in: vms) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open VM directory (missing or refused)", path: Self.directory(for: own.vm))
        }
        return try directory.openStateFile(own.file, flags: O_WRONLY | O_CREAT | O_APPEND, mode: mode, kind: "VM log")
    }

    static func isPasstLog(_ name: String) -> Bool { name.hasPrefix("passt-") && name.hasSuffix(".log") }
    static func isTemporary(_ name: String) -> Bool {
        [stateName, startingName].contains { name.hasPrefix(".\($0).tmp-") }
    }

    /// The uids QEMUs of VMs other than `name` hold or are about to (state.json, or the
    /// `starting` record of a start in progress).
    static func allocatedUIDs(except name: String) -> Set<uid_t> {
        var uids: Set<uid_t> = []
        for (other, state) in all() where other != name {
            if let uid = state?.uid { uids.insert(uid) }
            if let uid = loadStarting(other)?.uid { uids.insert(uid) }
        }
        return uids
    }

    static func startingFile(for name: String) -> String { "\(directory(for: name))/starting" }

    static func saveStarting(_ record: StartingRecord, for name: String) throws {
        try write(startingName, Array(try JSONEncoder().encode(record)), for: name)
    }

    static func removeStarting(_ name: String) {
        guard let vms = try? openVMs(create: false), let directory = openDirectory(name, in: vms) else { return }
        try? directory.remove(startingName)
    }

    static func loadStarting(_ name: String) -> StartingRecord? {
        read(startingName, for: name).flatMap { try? JSONDecoder().decode(StartingRecord.self, from: Data($0)) }
    }

    /// The lock a VM's start, and any repair of its directory, holds:
    /// `QNET_STATE_DIR/run/locks/vm-NAME.lock`.
    static var lockDirectory: String { "\(QNetPaths.runtime)/locks" }
}
