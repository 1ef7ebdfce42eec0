import Glibc

/// A user and the groups the kernel would give their processes: what decides whether they
/// may open a file or device node, and who a child process runs as.
/// Equivalent to `id NAME` (`getent passwd NAME` plus `id -G NAME`).
public struct UserIdentity: Sendable, Equatable, Hashable {
    public var name: String
    public var uid: uid_t
    public var gid: gid_t
    /// Every group, primary included (`id -G NAME`).
    public var groups: [gid_t]

    public init(name: String, uid: uid_t, gid: gid_t, groups: [gid_t]) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.groups = groups.contains(gid) ? groups : [gid] + groups
    }

    public var isRoot: Bool { uid == 0 }

    /// Looks a user up by name or numeric id in the user database (`getpwnam_r`/`getpwuid_r`,
    /// then `getgrouplist`); nil when there is no such user.
    public static func lookup(_ nameOrID: String) -> UserIdentity? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if let uid = UInt32(nameOrID) {
            guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        } else {
            guard getpwnam_r(nameOrID, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        }
        let name = String(cString: entry.pw_name)
        let uid = entry.pw_uid, gid = entry.pw_gid
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &groups, &count) < 0 {
            // Too small: glibc set `count` to the number needed.
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, gid, &groups, &count)
        }
        return UserIdentity(name: name, uid: uid, gid: gid, groups: Array(groups.prefix(Int(max(count, 0)))))
    }

    /// The calling process's effective identity (`geteuid`, `getegid`, `getgroups`).
    public static func current() -> UserIdentity {
        let uid = geteuid(), gid = getegid()
        let count = getgroups(0, nil)
        var groups = [gid_t](repeating: 0, count: Int(max(count, 0)))
        let got = getgroups(count, &groups)
        return UserIdentity(name: userName(uid), uid: uid, gid: gid, groups: Array(groups.prefix(Int(max(got, 0)))))
    }

    /// The user's name, or the number when the user database has none (`id -nu UID`).
    public static func userName(_ uid: uid_t) -> String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil { return String(cString: entry.pw_name) }
        return String(uid)
    }

    /// The group's name, or the number when the group database has none (`getent group GID`).
    public static func groupName(_ gid: gid_t) -> String {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if getgrgid_r(gid, &entry, &buffer, buffer.count, &result) == 0, result != nil { return String(cString: entry.gr_name) }
        return String(gid)
    }

    /// Whether this user may read (and, with `write`, write) `path`, judged from its mode,
    /// owner and group as the kernel would, every directory on the way included (root may do
    /// anything). Like `sudo -u USER test -r PATH`, without running anything. ACLs are not
    /// consulted (HostChecks reads them where it matters).
    public func canAccess(_ path: String, write: Bool = false) -> Bool {
        if isRoot { return true }
        var info = stat()
        guard stat(path, &info) == 0, permits(info, write: write) else { return false }
        var directory = path
        while let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            directory = String(directory[..<slash])
            var directoryInfo = stat()
            guard stat(directory, &directoryInfo) == 0 else { return false }
            let (search, _) = permissionBits(owner: directoryInfo.st_uid, group: directoryInfo.st_gid, user: (S_IXUSR, 0),
                                             groupBits: (S_IXGRP, 0), other: (S_IXOTH, 0))
            if directoryInfo.st_mode & search == 0 { return false }
        }
        return true
    }

    /// Whether a file's own mode, owner and group let this user read (and write) it,
    /// whatever the directories above it allow: what reopening a descriptor through
    /// /proc/self/fd/N checks.
    public func permits(_ info: stat, write: Bool = false) -> Bool {
        if isRoot { return true }
        let (readBit, writeBit) = permissionBits(owner: info.st_uid, group: info.st_gid, user: (S_IRUSR, S_IWUSR),
                                                 groupBits: (S_IRGRP, S_IWGRP), other: (S_IROTH, S_IWOTH))
        return info.st_mode & readBit != 0 && (!write || info.st_mode & writeBit != 0)
    }

    /// The owner's, the group's or the others' bits, whichever class the kernel applies.
    private func permissionBits(owner: uid_t, group: gid_t, user: (mode_t, mode_t), groupBits: (mode_t, mode_t),
                                other: (mode_t, mode_t)) -> (mode_t, mode_t) {
        if owner == uid { return user }
        if group == gid || groups.contains(group) { return groupBits }
        return other
    }
}
