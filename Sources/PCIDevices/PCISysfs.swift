import Glibc
import QNetSystem

/// Where PCI functions are read from and written to: sysfs (`/sys`), procfs (`/proc`, for
/// who holds a VFIO group open) and the pci.ids name database. Tests point these at fixture
/// trees and replace `write` with a simulated kernel that records each write.
public struct PCISysfs: Sendable {
    /// sysfs: `bus/pci/devices`, `bus/pci/drivers`, `kernel/iommu_groups`, `module`.
    public var sys: String
    /// procfs: `PID/fd` links to `/dev/vfio/GROUP`.
    public var proc: String
    /// `/dev`: `vfio/GROUP`, the character device QEMU opens for a bound group.
    public var dev: String
    /// Candidate pci.ids files, first readable wins (Debian's pciutils and hwdata ship
    /// /usr/share/misc/pci.ids; others /usr/share/hwdata/pci.ids).
    public var pciIDs: [String]
    /// Writes one sysfs attribute (`echo VALUE > PATH`): the only way qnet changes a PCI
    /// function. The default opens the existing file write-only and writes in one call, as
    /// sysfs wants (an attribute's store method sees each write(2) separately).
    public var write: @Sendable (_ path: String, _ value: String) throws -> Void

    /// The real host.
    public static var host: PCISysfs { PCISysfs(prefix: "") }

    /// A tree under `prefix` (a fixture directory), or the real host for "" or "/".
    public init(prefix: String) {
        let base = prefix == "/" ? "" : prefix
        sys = base + "/sys"
        proc = base + "/proc"
        dev = base + "/dev"
        pciIDs = [base + "/usr/share/misc/pci.ids", base + "/usr/share/hwdata/pci.ids"]
        write = PCISysfs.writeAttribute
    }

    var devices: String { sys + "/bus/pci/devices" }
    var drivers: String { sys + "/bus/pci/drivers" }
    var driversProbe: String { sys + "/bus/pci/drivers_probe" }
    public var iommuGroups: String { sys + "/kernel/iommu_groups" }

    func device(_ address: PCIAddress) -> String { devices + "/" + address.description }
    func driver(_ name: String) -> String { drivers + "/" + name }

    /// `echo -n VALUE > PATH` on an attribute that exists (never creates a file).
    @Sendable public static func writeAttribute(_ path: String, _ value: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError.lastError("open", path: path) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        while true {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written >= 0 else { throw SystemError.lastError("write '\(value)' to", path: path) }
            return
        }
    }

    // MARK: - Reading

    /// The attribute's first line, trimmed; nil when it cannot be read.
    func value(_ path: String) -> String? {
        guard let bytes = try? FileSystem.readBytes(path, limit: 4096) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return String(line.filter { $0 != " " && $0 != "\t" && $0 != "\r" })
    }

    func integer(_ path: String) -> Int? {
        guard let text = value(path) else { return nil }
        if text.hasPrefix("0x") { return Int(text.dropFirst(2), radix: 16) }
        return Int(text)
    }

    /// The last component of a symlink's target (`driver` → `e1000e`, `iommu_group` → `12`,
    /// `physfn` → `0000:01:00.0`); nil when `path` is not a symlink.
    func linkName(_ path: String) -> String? {
        readLinkTarget(path)?.split(separator: "/").last.map(String.init)
    }

    func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    func list(_ path: String) -> [String] { FileSystem.list(path) }
}

/// A symlink's target as stored (`readlink PATH`); nil when `path` is not a symlink.
func readLinkTarget(_ path: String) -> String? {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = buffer.withUnsafeMutableBufferPointer { pointer in
        pointer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: pointer.count) { readlink(path, $0, pointer.count - 1) }
    }
    guard count > 0 else { return nil }
    return String(decoding: buffer[0..<count], as: UTF8.self)
}
