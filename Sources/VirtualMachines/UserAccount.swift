import Glibc
import HostChecks

/// The account QEMU runs as: `--user`, else $SUDO_USER, else the `qnet` system user.
/// Never root unless asked for by name.
public struct UserAccount: Equatable, Sendable {
    public var name: String
    public var uid: uid_t
    public var gid: gid_t
    public var groups: [gid_t]

    public static let systemUserName = "qnet"

    /// Looks an account up by name (or uid) with its supplementary groups, through the
    /// same lookup `qnet doctor` uses for its access checks.
    public static func lookup(_ name: String) -> UserAccount? {
        guard let identity = UserIdentity.lookup(name) else { return nil }
        return UserAccount(name: identity.name, uid: identity.uid, gid: identity.gid, groups: identity.groups)
    }

    /// Resolves who QEMU runs as.
    public static func resolve(requested: String?) throws -> UserAccount {
        if let requested {
            guard let account = lookup(requested) else {
                throw VMError.noSuchUser(requested, requested: true)
            }
            return account
        }
        if let sudo = getenv("SUDO_USER").map({ String(cString: $0) }), !sudo.isEmpty, sudo != "root", let account = lookup(sudo) {
            return account
        }
        guard let account = lookup(systemUserName) else {
            throw VMError.noSuchUser(systemUserName, requested: false)
        }
        return account
    }

    public var isRoot: Bool { uid == 0 }

    /// Whether this account may read (and write) `path`, judged from its mode, owner and
    /// group as the kernel would (root may do anything), every directory on the way included.
    public func canAccess(_ path: String, write: Bool = false) -> Bool {
        if isRoot { return true }
        var info = stat()
        guard stat(path, &info) == 0, permits(info, write: write) else { return false }
        // Every directory on the way must be searchable.
        var directory = path
        while let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            directory = String(directory[..<slash])
            var dirInfo = stat()
            guard stat(directory, &dirInfo) == 0 else { return false }
            let search: mode_t = dirInfo.st_uid == uid ? S_IXUSR : (dirInfo.st_gid == gid || groups.contains(dirInfo.st_gid)) ? S_IXGRP : S_IXOTH
            if dirInfo.st_mode & search == 0 { return false }
        }
        return true
    }

    /// Whether a file's own mode, owner and group let this account read (and write) it,
    /// whatever the directories above it allow: what reopening a descriptor through
    /// /proc/self/fd/N checks.
    public func permits(_ info: stat, write: Bool = false) -> Bool {
        if isRoot { return true }
        let (readBit, writeBit): (mode_t, mode_t)
        if info.st_uid == uid { (readBit, writeBit) = (S_IRUSR, S_IWUSR) }
        else if info.st_gid == gid || groups.contains(info.st_gid) { (readBit, writeBit) = (S_IRGRP, S_IWGRP) }
        else { (readBit, writeBit) = (S_IROTH, S_IWOTH) }
        return info.st_mode & readBit != 0 && (!write || info.st_mode & writeBit != 0)
    }
}
