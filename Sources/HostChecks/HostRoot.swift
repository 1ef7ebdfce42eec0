import Glibc
import QNetSystem

/// Where the checks read the host from. Every path a check opens is built from one of
/// these directories, so tests point them at fixture trees; the default is the real host.
public struct HostRoot: Sendable, Equatable {
    /// procfs (`/proc`): modules, sysctls, process list, capabilities, kernel config.
    public var proc: String
    /// sysfs (`/sys`): loaded modules, misc devices, network interfaces.
    public var sys: String
    /// `/boot`: `config-$(uname -r)`.
    public var boot: String
    /// `/dev`: `net/tun`, `kvm`, `vhost-net`.
    public var dev: String
    /// `/etc`: NetworkManager and systemd-networkd configuration.
    public var etc: String
    /// `/run`: runtime configuration and state of network managers.
    public var run: String
    /// `/usr/lib` (and `/lib`): vendor configuration, `modules/$(uname -r)/modules.builtin`.
    public var usrLib: String
    /// Directories searched for executables (`qemu-system-x86_64`, `iptables-save`, ...).
    public var searchPath: [String]

    /// The real host: every directory at its usual place, executables from `$PATH` plus
    /// the sbin directories and `/usr/libexec` (RHEL's `qemu-kvm` lives there, off `$PATH`).
    public static var host: HostRoot { HostRoot(prefix: "") }

    /// A tree under `prefix` (a fixture directory), or the real host for "" or "/".
    public init(prefix: String, searchPath: [String]? = nil) {
        let base = prefix == "/" ? "" : prefix
        proc = base + "/proc"
        sys = base + "/sys"
        boot = base + "/boot"
        dev = base + "/dev"
        etc = base + "/etc"
        run = base + "/run"
        usrLib = base + "/usr/lib"
        if let searchPath {
            self.searchPath = searchPath
        } else if base.isEmpty {
            self.searchPath = HostRoot.defaultSearchPath()
        } else {
            self.searchPath = [base + "/usr/local/bin", base + "/usr/bin", base + "/usr/sbin", base + "/bin", base + "/sbin", base + "/usr/libexec"]
        }
    }

    static func defaultSearchPath() -> [String] {
        var directories: [String] = []
        if let path = getenv("PATH") {
            directories = String(cString: path).split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }
        }
        for extra in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/libexec"] where !directories.contains(extra) {
            directories.append(extra)
        }
        return directories
    }

    // MARK: - Reading

    /// The whole file as text, or nil when it cannot be read.
    public func read(_ path: String) -> String? {
        guard let bytes = readBytes(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The file's first line without surrounding whitespace (sysctls, sysfs attributes).
    public func readValue(_ path: String) -> String? {
        guard let text = read(path) else { return nil }
        let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return line.trimmingWhitespace()
    }

    /// The whole file as bytes (procfs files report size 0, so this reads until EOF).
    public func readBytes(_ path: String) -> [UInt8]? {
        try? FileSystem.readBytes(path)
    }

    public func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func isDirectory(_ path: String) -> Bool {
        FileFacts(path: path)?.type == .directory
    }

    /// The entries of a directory (without `.` and `..`), sorted; empty when unreadable.
    public func list(_ path: String) -> [String] {
        FileSystem.list(path)
    }

    /// The first executable named `program` on ``searchPath``.
    public func executable(_ program: String) -> String? {
        Subprocess.which(program, searchPath: searchPath.joined(separator: ":"))
    }

    /// The running kernel's release (`uname -r`), read from procfs so fixtures can set it.
    public var kernelRelease: String? { readValue(proc + "/sys/kernel/osrelease") }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[start...end])
    }
}
