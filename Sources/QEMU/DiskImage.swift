#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import QNetSystem
import SystemPackage

/// A disk image format qnet creates.
public enum DiskFormat: String, Equatable, Hashable, Sendable, CaseIterable, Codable {
    /// A plain file, byte for byte the guest's disk; created sparse.
    case raw
    /// QEMU's copy-on-write format: grows as the guest writes, supports snapshots.
    case qcow2
}

/// What `qnet disk info` reports about an image.
public struct DiskImageInfo: Equatable, Sendable, Codable {
    public var path: String
    /// `raw`, `qcow2`, or whatever else qemu-img recognised (`vmdk`, `vdi`...).
    public var format: String
    /// The size the guest sees, in bytes.
    public var virtualSize: UInt64
    /// Bytes the image really occupies on the host (allocated blocks).
    public var actualSize: UInt64
    /// A qcow2 image's backing file, if any.
    public var backingFile: String?
    /// True when qemu-img is not installed and the file was taken to be raw (its format unverified).
    public var formatAssumed: Bool

    public init(path: String, format: String, virtualSize: UInt64, actualSize: UInt64,
                backingFile: String? = nil, formatAssumed: Bool = false) {
        self.path = path
        self.format = format
        self.virtualSize = virtualSize
        self.actualSize = actualSize
        self.backingFile = backingFile
        self.formatAssumed = formatAssumed
    }
}

/// Disk images: `qnet disk create` and `qnet disk info`.
public enum DiskImage {
    /// Creates a disk image of `size` at `path`.
    ///
    /// - raw: equivalent to `truncate -s SIZE PATH` (or the recipe's
    ///   `dd if=/dev/zero of=PATH bs=1M seek=SIZE-1 count=1`, minus its one written block):
    ///   the file is sized with ftruncate and no data block is written, so it is sparse.
    /// - qcow2: runs the real `qemu-img create -q -f qcow2 PATH BYTES`.
    ///
    /// An existing `path` is refused unless `force`; with `force` the new image is built
    /// beside it and renamed over it, so a failure leaves the old file untouched, and only
    /// regular files (or symlinks to one: the target is replaced) may be replaced; the new
    /// file keeps the old one's mode and (when permitted) owner. New files are 0644 minus umask.
    /// Needs write permission on the directory; no privilege.
    /// Returns what `info` would report for the new image.
    @discardableResult
    public static func create(path: String, size: DiskSize, format: DiskFormat = .raw, force: Bool = false,
                              imageTool: String? = nil) throws -> DiskImageInfo {
        try QEMUOptionSyntax.checkExpressible(path, option: "disk image path")
        var target = path
        var existing = stat()
        let replacing = stat(path, &existing) == 0
        if replacing {
            guard force else { throw QEMUError.fileExists(path: path) }
            guard existing.st_mode & S_IFMT == S_IFREG else { throw QEMUError.notARegularFile(path: path) }
            if let resolved = realpath(path, nil) {
                target = String(cString: resolved)
                free(resolved)
            }
        }
        let tool = format == .qcow2 ? try imageTool ?? QEMUBinary.imageTool() : nil

        // Without force the final name is claimed with O_EXCL (no race with another
        // creator); with force a temporary file beside it is renamed over it at the end.
        let building = replacing ? temporaryName(beside: target) : target
        let fd = open(building, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let error = Errno(rawValue: errno)
            if error == .fileExists && !replacing { throw QEMUError.fileExists(path: path) }
            throw QEMUError.fileOperation(operation: "creating", path: building, errno: error)
        }
        var finished = false
        defer { if !finished { unlink(building) } }

        switch format {
        case .raw:
            defer { close(fd) }
            guard ftruncate(fd, off_t(size.bytes)) == 0 else {
                throw QEMUError.fileOperation(operation: "sizing", path: path, errno: Errno(rawValue: errno))
            }
        case .qcow2:
            close(fd)
            let arguments = ["create", "-q", "-f", "qcow2", QEMUOptionSyntax.blockLayerFileName(building), String(size.bytes)]
            let result = try QEMUBinary.runTool(tool!, arguments)
            guard result.succeeded else {
                throw QEMUError.toolFailed(program: "qemu-img", arguments: arguments, status: result.termination.shellStatus, message: result.lastErrorLine)
            }
        }
        if replacing {
            // The replacement keeps the old file's permissions and, when allowed, its owner.
            _ = chmod(building, existing.st_mode & 0o7777)
            _ = chown(building, existing.st_uid, existing.st_gid)
            guard rename(building, target) == 0 else {
                throw QEMUError.fileOperation(operation: "replacing", path: target, errno: Errno(rawValue: errno))
            }
        }
        finished = true
        if format == .raw { return try statInfo(path: path, format: "raw", assumed: false) }
        return try info(path: path, imageTool: tool)
    }

    /// Format, virtual size and allocated size of an image: `qemu-img info --output=json -U PATH`.
    ///
    /// QEMU quirk: without `-U` (force-share) qemu-img fails with 'Failed to get shared
    /// "write" lock' on an image a running VM has open. Without qemu-img installed, the file
    /// is reported as raw from stat(2) with `formatAssumed` set. Needs read permission.
    public static func info(path: String, imageTool: String? = nil) throws -> DiskImageInfo {
        try QEMUOptionSyntax.checkExpressible(path, option: "disk image path")
        var status = stat()
        guard stat(path, &status) == 0 else {
            let error = Errno(rawValue: errno)
            if error == .noSuchFileOrDirectory { throw QEMUError.fileNotFound(path: path, what: "disk image") }
            throw QEMUError.fileOperation(operation: "reading", path: path, errno: error)
        }
        guard status.st_mode & S_IFMT != S_IFDIR else { throw QEMUError.notARegularFile(path: path) }
        guard let tool = imageTool ?? Subprocess.which("qemu-img") else {
            return try statInfo(path: path, format: "raw", assumed: true)
        }
        let arguments = ["info", "--output=json", "-U", QEMUOptionSyntax.blockLayerFileName(path)]
        let result = try QEMUBinary.runTool(tool, arguments)
        guard result.succeeded else {
            throw QEMUError.toolFailed(program: "qemu-img", arguments: arguments, status: result.termination.shellStatus, message: result.lastErrorLine)
        }
        return try parseInfo(json: result.output, path: path)
    }

    /// Reads `qemu-img info --output=json` output.
    public static func parseInfo(json: [UInt8], path: String) throws -> DiskImageInfo {
        struct Report: Decodable {
            var format: String
            var virtualSize: UInt64
            var actualSize: UInt64?
            var backingFilename: String?
            enum CodingKeys: String, CodingKey {
                case format
                case virtualSize = "virtual-size"
                case actualSize = "actual-size"
                case backingFilename = "backing-filename"
            }
        }
        do {
            let report = try JSONDecoder().decode(Report.self, from: Data(json))
            return DiskImageInfo(path: path, format: report.format, virtualSize: report.virtualSize,
                                 actualSize: report.actualSize ?? 0, backingFile: report.backingFilename)
        } catch {
            throw QEMUError.unexpectedOutput(program: "qemu-img info", reason: "not the JSON expected (\(error))")
        }
    }

    static func statInfo(path: String, format: String, assumed: Bool) throws -> DiskImageInfo {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw QEMUError.fileOperation(operation: "reading", path: path, errno: Errno(rawValue: errno))
        }
        // st_blocks counts 512-byte units whatever the filesystem's block size.
        return DiskImageInfo(path: path, format: format, virtualSize: UInt64(status.st_size),
                             actualSize: UInt64(status.st_blocks) * 512, formatAssumed: assumed)
    }

    static func temporaryName(beside path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return "\(directory).\(base).qnet-\(getpid()).tmp"
    }
}
