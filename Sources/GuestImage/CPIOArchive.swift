/// A writer for the cpio "newc" format (SVR4 without CRC), the format the Linux kernel
/// unpacks as an initramfs.
///
/// Equivalent to `find . | cpio -o -H newc` (or the kernel's `usr/gen_init_cpio`), in memory.
/// No privilege needed: owners, modes and device numbers are written as data, so an
/// unprivileged process can describe `/dev/console` (a character device owned by root).
///
/// Layout of one entry (all numbers are 8 ASCII hex digits):
/// `070701` ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor
/// namesize check — 110 bytes — then the name and a NUL, padded with NULs so the data
/// starts on a 4-byte boundary, then the data, padded to 4 bytes. The archive ends with
/// an entry named `TRAILER!!!`.
///
/// Kernel quirks handled: names are written without a leading `/` (the kernel accepts
/// both, GNU cpio warns about absolute names); every entry gets its own inode number and
/// `nlink` 1 for non-directories, because the kernel treats entries that share an inode
/// with `nlink` > 1 as hard links of each other.
public struct CPIOArchive: Sendable {
    /// The bytes written so far (call `finish()` before using them as an archive).
    public private(set) var bytes: [UInt8] = []
    /// Modification time stamped on every entry (seconds since 1970). Fixed so that the
    /// same inputs give byte-identical archives.
    public var modificationTime: UInt32
    private var nextInode: UInt32 = 721
    private var names: Set<String> = []
    private var finished = false

    /// The magic at the start of every newc header.
    public static let magic = "070701"
    /// The name of the closing entry.
    public static let trailerName = "TRAILER!!!"

    /// File type bits of `mode` (octal, as in `<sys/stat.h>`).
    public enum FileType: UInt32, Sendable {
        case regular = 0o100000
        case directory = 0o040000
        case symbolicLink = 0o120000
        case characterDevice = 0o020000
        case blockDevice = 0o060000
        case fifo = 0o010000
    }

    public init(modificationTime: UInt32 = 0) {
        self.modificationTime = modificationTime
    }

    /// Adds a directory (`mkdir -m PERMISSIONS`). Parents must be added first, as with
    /// `gen_init_cpio`: the kernel does not create missing parents.
    public mutating func addDirectory(_ path: String, permissions: UInt32 = 0o755) throws {
        try addEntry(path, type: .directory, permissions: permissions, links: 2, data: [])
    }

    /// Adds a regular file with the given contents.
    public mutating func addFile(_ path: String, contents: [UInt8], permissions: UInt32 = 0o644) throws {
        try addEntry(path, type: .regular, permissions: permissions, links: 1, data: contents)
    }

    /// Adds a symbolic link (`ln -s TARGET PATH`); the data of a newc symlink entry is its target.
    public mutating func addSymbolicLink(_ path: String, target: String) throws {
        guard !target.isEmpty else { throw GuestImageError.invalidArchiveEntry(path: path, reason: "empty symlink target") }
        try addEntry(path, type: .symbolicLink, permissions: 0o777, links: 1, data: Array(target.utf8))
    }

    /// Adds a character device node (`mknod PATH c MAJOR MINOR`), e.g. /dev/console (5, 1).
    public mutating func addCharacterDevice(_ path: String, major: UInt32, minor: UInt32, permissions: UInt32 = 0o600) throws {
        try addEntry(path, type: .characterDevice, permissions: permissions, links: 1, data: [], device: (major, minor))
    }

    /// Appends the trailer. Further additions are refused. Idempotent.
    public mutating func finish() {
        guard !finished else { return }
        writeHeader(name: Self.trailerName, inode: 0, mode: 0, links: 1, size: 0, device: (0, 0))
        finished = true
    }

    /// The finished archive.
    public mutating func finishedBytes() -> [UInt8] {
        finish()
        return bytes
    }

    /// Whether `path` has been added already.
    public func contains(_ path: String) -> Bool { names.contains(Self.normalized(path)) }

    private static func normalized(_ path: String) -> String {
        var name = Substring(path)
        while name.hasPrefix("/") { name = name.dropFirst() }
        while name.hasSuffix("/") { name = name.dropLast() }
        return String(name)
    }

    private mutating func addEntry(_ path: String, type: FileType, permissions: UInt32, links: UInt32, data: [UInt8],
                                   device: (UInt32, UInt32) = (0, 0)) throws {
        let name = Self.normalized(path)
        guard !finished else { throw GuestImageError.invalidArchiveEntry(path: path, reason: "the archive is already finished") }
        guard !name.isEmpty, name != Self.trailerName, !name.utf8.contains(0),
              !name.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw GuestImageError.invalidArchiveEntry(path: path, reason: "use a relative or absolute path without empty, '.' or '..' components")
        }
        guard permissions & ~0o7777 == 0 else {
            throw GuestImageError.invalidArchiveEntry(path: path, reason: "permissions \(String(permissions, radix: 8)) exceed 7777")
        }
        guard data.count <= Int(UInt32.max) else {
            throw GuestImageError.invalidArchiveEntry(path: path, reason: "larger than 4 GiB, which newc cannot record")
        }
        guard names.insert(name).inserted else {
            throw GuestImageError.invalidArchiveEntry(path: path, reason: "added twice")
        }
        let inode = nextInode
        nextInode += 1
        writeHeader(name: name, inode: inode, mode: type.rawValue | permissions, links: links, size: UInt32(data.count), device: device)
        bytes.append(contentsOf: data)
        pad()
    }

    private mutating func writeHeader(name: String, inode: UInt32, mode: UInt32, links: UInt32, size: UInt32, device: (UInt32, UInt32)) {
        let nameBytes = Array(name.utf8)
        bytes.append(contentsOf: Self.magic.utf8)
        for field in [inode, mode, 0 /* uid */, 0 /* gid */, links, modificationTime, size,
                      0 /* devmajor */, 0 /* devminor */, device.0, device.1,
                      UInt32(nameBytes.count + 1), 0 /* check: unused by newc */] {
            appendHex(field)
        }
        bytes.append(contentsOf: nameBytes)
        bytes.append(0)
        pad()
    }

    private mutating func appendHex(_ value: UInt32) {
        let digits: [UInt8] = Array("0123456789ABCDEF".utf8)
        for shift in stride(from: 28, through: 0, by: -4) {
            bytes.append(digits[Int((value >> UInt32(shift)) & 0xF)])
        }
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }
}
