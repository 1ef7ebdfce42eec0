import Glibc
import QNetSystem

/// Where qnet keeps state: runtime state under /run/qnet (gone at reboot, like the VMs),
/// persistent definitions under /var/lib/qnet. `QNET_STATE_DIR` moves both under one
/// directory (for tests, and for users without root).
public enum QNetPaths {
    public static var stateOverride: String? {
        guard let value = getenv("QNET_STATE_DIR") else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    public static var runtime: String { stateOverride.map { "\($0)/run" } ?? "/run/qnet" }
    public static var persistent: String { stateOverride.map { "\($0)/lib" } ?? "/var/lib/qnet" }
    public static var vms: String { "\(runtime)/vms" }
}

/// mkdir -p (QNetSystem's; throws `SystemError`).
func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
    try FileSystem.makeDirectories(path, mode: mode)
}

func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        result.append(contentsOf: buffer[0..<count])
    }
    return result
}

func readText(_ path: String) -> String? {
    readFile(path).map { String(decoding: $0, as: UTF8.self) }
}

/// Atomic replace (QNetSystem's; throws `SystemError`).
func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
    try FileSystem.writeAtomically(path, bytes, mode: mode)
}

func removeTree(_ path: String) {
    guard let directory = opendir(path) else { unlink(path); return }
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name == "." || name == ".." { continue }
        let child = "\(path)/\(name)"
        var info = stat()
        if lstat(child, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR { removeTree(child) } else { unlink(child) }
    }
    closedir(directory)
    rmdir(path)
}

func listDirectory(_ path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }
