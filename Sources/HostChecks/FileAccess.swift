import CLinuxSystem
import Glibc
import QNetSystem

/// What `stat(2)` says about a path: type, device numbers, mode and owner.
public struct FileFacts: Sendable, Equatable {
    public enum FileType: Sendable, Equatable {
        case regular, directory, characterDevice, blockDevice, symbolicLink, other
    }

    public var type: FileType
    /// The permission bits (`st_mode & 07777`).
    public var mode: UInt32
    public var owner: uid_t
    public var group: gid_t
    /// Major and minor numbers of a device node (`ls -l` shows them as "10, 200").
    public var major: UInt32
    public var minor: UInt32

    public init(type: FileType, mode: UInt32, owner: uid_t, group: gid_t, major: UInt32 = 0, minor: UInt32 = 0) {
        self.type = type
        self.mode = mode
        self.owner = owner
        self.group = group
        self.major = major
        self.minor = minor
    }

    /// `stat(path)` (following symlinks, as `open` would); nil when it does not exist.
    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFREG: type = .regular
        case S_IFDIR: type = .directory
        case S_IFCHR: type = .characterDevice
        case S_IFBLK: type = .blockDevice
        case S_IFLNK: type = .symbolicLink
        default: type = .other
        }
        mode = UInt32(info.st_mode & 0o7777)
        owner = info.st_uid
        group = info.st_gid
        (major, minor) = FileFacts.split(device: UInt64(info.st_rdev))
    }

    /// glibc's dev_t encoding (gnu_dev_major/gnu_dev_minor; the macros do not import into Swift).
    static func split(device: UInt64) -> (UInt32, UInt32) {
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~UInt64(0xfff))
        let minor = (device & 0xff) | ((device >> 12) & ~UInt64(0xff))
        return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
    }

    /// `crw-rw-rw-`, as `ls -l` prints it.
    public var modeString: String {
        let typeCharacter: Character = switch type {
        case .characterDevice: "c"
        case .blockDevice: "b"
        case .directory: "d"
        case .symbolicLink: "l"
        default: "-"
        }
        var text = String(typeCharacter)
        for shift in [6, 3, 0] as [UInt32] {
            let bits = (mode >> shift) & 7
            text += (bits & 4 != 0 ? "r" : "-") + (bits & 2 != 0 ? "w" : "-") + (bits & 1 != 0 ? "x" : "-")
        }
        return text
    }

    /// "crw-rw---- root:kvm" with names where the user database has them.
    public var ownershipDescription: String {
        "\(modeString) \(UserIdentity.userName(owner)):\(UserIdentity.groupName(group))"
    }
}

/// A POSIX access ACL (`getfacl`), decoded from the `system.posix_acl_access` extended
/// attribute. systemd-logind grants the seat's user access to /dev/kvm this way ("uaccess").
public struct AccessControlList: Sendable, Equatable {
    public enum Tag: UInt16, Sendable {
        case userObject = 0x01, user = 0x02, groupObject = 0x04, group = 0x08, mask = 0x10, other = 0x20
    }

    public struct Entry: Sendable, Equatable {
        public var tag: Tag
        /// rwx bits (4 read, 2 write, 1 execute).
        public var permissions: UInt16
        /// The uid or gid for named `user`/`group` entries.
        public var id: UInt32

        public init(tag: Tag, permissions: UInt16, id: UInt32 = UInt32.max) {
            self.tag = tag
            self.permissions = permissions
            self.id = id
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// Decodes the kernel's xattr layout: a 4-byte version (2), then 8-byte entries
    /// {u16 tag, u16 perm, u32 id}, little-endian. Nil for anything else.
    public init?(xattr bytes: [UInt8]) {
        guard bytes.count >= 4, (bytes.count - 4) % 8 == 0 else { return nil }
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
        guard u32(0) == 2 else { return nil }
        var entries: [Entry] = []
        var offset = 4
        while offset < bytes.count {
            guard let tag = Tag(rawValue: u16(offset)) else { return nil }
            entries.append(Entry(tag: tag, permissions: u16(offset + 2) & 7, id: u32(offset + 4)))
            offset += 8
        }
        self.entries = entries
    }

    /// The encoding ``init(xattr:)`` reads (tests write it with setxattr).
    public var xattrBytes: [UInt8] {
        var bytes: [UInt8] = [2, 0, 0, 0]
        for entry in entries {
            bytes += [UInt8(entry.tag.rawValue & 0xff), UInt8(entry.tag.rawValue >> 8),
                      UInt8(entry.permissions & 0xff), UInt8(entry.permissions >> 8)]
            bytes += withUnsafeBytes(of: entry.id.littleEndian, Array.init)
        }
        return bytes
    }

    /// Reads a path's access ACL; nil when it has none beyond its mode bits.
    public static func read(path: String) -> AccessControlList? {
        var buffer = [UInt8](repeating: 0, count: 1024)
        let size = buffer.withUnsafeMutableBytes { qnet_getxattr(path, "system.posix_acl_access", $0.baseAddress, $0.count) }
        guard size > 0 else { return nil }
        return AccessControlList(xattr: Array(buffer.prefix(size)))
    }
}

/// Read and write access, decided the way the kernel decides it for `open(O_RDWR)`.
public enum AccessDecision {
    /// Whether `user` may read and write `file` (POSIX.1e ACL algorithm when `acl` has
    /// named entries, else owner/group/other mode bits; uid 0 always may).
    public static func canReadWrite(_ user: UserIdentity, _ file: FileFacts, acl: AccessControlList? = nil) -> Bool {
        let wanted: UInt16 = 6
        if user.uid == 0 { return true }
        if let acl, acl.entries.contains(where: { $0.tag == .user || $0.tag == .group }) {
            let mask = acl.entries.first { $0.tag == .mask }?.permissions ?? 7
            if user.uid == file.owner {
                return (acl.entries.first { $0.tag == .userObject }?.permissions ?? 0) & wanted == wanted
            }
            if let named = acl.entries.first(where: { $0.tag == .user && $0.id == user.uid }) {
                return named.permissions & mask & wanted == wanted
            }
            let groupEntries = acl.entries.filter { entry in
                (entry.tag == .groupObject && user.groups.contains(file.group)) || (entry.tag == .group && user.groups.contains(entry.id))
            }
            if !groupEntries.isEmpty {
                return groupEntries.contains { $0.permissions & mask & wanted == wanted }
            }
            return (acl.entries.first { $0.tag == .other }?.permissions ?? 0) & wanted == wanted
        }
        let bits: UInt32
        if user.uid == file.owner {
            bits = file.mode >> 6
        } else if user.groups.contains(file.group) {
            bits = file.mode >> 3
        } else {
            bits = file.mode
        }
        return UInt16(bits & 7) & wanted == wanted
    }

    /// Whether this process may read and write `path`, as the kernel itself answers
    /// (`faccessat(AT_EACCESS)`: effective ids, ACLs and capabilities included).
    public static func processCanReadWrite(_ path: String) -> Bool {
        faccessat(AT_FDCWD, path, R_OK | W_OK, AT_EACCESS) == 0
    }
}
