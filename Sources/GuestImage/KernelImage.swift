import QNetSystem

/// A Linux x86 boot image (bzImage) and the version it was built as.
///
/// Equivalent to `file /boot/vmlinuz-X` ("... version 6.1.0-56-amd64 (debian-kernel@...) ...").
/// Needs read access to the image only.
public struct KernelImage: Equatable, Sendable {
    /// Path of the image.
    public var path: String
    /// The whole version string, e.g. `6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP ...`.
    public var versionString: String
    /// The release, the name of its /lib/modules directory (`uname -r` when booted): `6.1.0-56-amd64`.
    public var release: String

    /// Reads the version from the setup header: the boot protocol ("HdrS" at 0x202,
    /// version ≥ 2.00 at 0x206) stores at 0x20E the offset, minus 0x200, of a NUL-terminated
    /// version string inside the real-mode setup code.
    public init(path: String) throws {
        guard Files.isReadableFile(path) else {
            throw GuestImageError.missingInput(what: "kernel image", path: path, hint: "pass --kernel with a readable /boot/vmlinuz-* file")
        }
        let header = try FileSystem.readBytes(path, limit: 0x10000)
        let version = try Self.versionString(fromBootImage: header, path: path)
        self.path = path
        self.versionString = version
        self.release = String(version.prefix { $0 != " " })
    }

    /// Extracts the version string from the first bytes of a bzImage.
    public static func versionString(fromBootImage bytes: [UInt8], path: String = "kernel image") throws -> String {
        func le16(_ offset: Int) -> Int { Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 }
        guard bytes.count >= 0x210 else {
            throw GuestImageError.notAKernelImage(path: path, reason: "only \(bytes.count) bytes, shorter than a boot sector and setup header")
        }
        guard bytes[0x1FE] == 0x55, bytes[0x1FF] == 0xAA else {
            throw GuestImageError.notAKernelImage(path: path, reason: "no boot signature 55 AA at offset 0x1FE")
        }
        guard Array(bytes[0x202..<0x206]) == Array("HdrS".utf8) else {
            throw GuestImageError.notAKernelImage(path: path, reason: "no \"HdrS\" setup header magic at offset 0x202")
        }
        guard le16(0x206) >= 0x200 else {
            throw GuestImageError.notAKernelImage(path: path, reason: "boot protocol \(String(le16(0x206), radix: 16)) predates the kernel_version field")
        }
        let pointer = le16(0x20E)
        guard pointer != 0 else { throw GuestImageError.notAKernelImage(path: path, reason: "kernel_version field is 0") }
        let start = pointer + 0x200
        guard start < bytes.count, let end = bytes[start...].firstIndex(of: 0), end > start else {
            throw GuestImageError.notAKernelImage(path: path, reason: "kernel_version points outside the setup code (offset \(start))")
        }
        let text = bytes[start..<end]
        guard text.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }), let first = text.first, (0x30...0x39).contains(first) else {
            throw GuestImageError.notAKernelImage(path: path, reason: "kernel_version does not point at a version string")
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The newest `vmlinuz-*` in `directory` (by version order of the release, e.g.
    /// 6.1.0-56 after 6.1.0-9), or nil when there is none.
    public static func newest(in directory: String = "/boot") -> String? {
        let names = FileSystem.list(directory).filter { $0.hasPrefix("vmlinuz-") && !$0.hasSuffix(".old") }
        return names.max { versionOrder($0, $1) }.map { "\(directory)/\($0)" }
    }

    /// `sort -V`-like comparison: digit runs compare as numbers.
    static func versionOrder(_ a: String, _ b: String) -> Bool {
        func chunks(_ text: String) -> [(Bool, String)] {
            var result: [(Bool, String)] = []
            for character in text {
                let isDigit = character.isASCII && character.isNumber
                if let last = result.last, last.0 == isDigit {
                    result[result.count - 1].1.append(character)
                } else {
                    result.append((isDigit, String(character)))
                }
            }
            return result
        }
        let left = chunks(a), right = chunks(b)
        for (l, r) in zip(left, right) where l.1 != r.1 {
            if l.0 && r.0 {
                let ln = l.1.drop { $0 == "0" }, rn = r.1.drop { $0 == "0" }
                if ln.count != rn.count { return ln.count < rn.count }
                return ln < rn
            }
            return l.1 < r.1
        }
        return left.count < right.count
    }
}
