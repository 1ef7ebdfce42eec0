import Glibc

/// Finding the QEMU programs and their versions.
public enum QEMUBinary {
    /// The x86-64 system emulator: `qemu-kvm` if present (RHEL installs the real binary
    /// as /usr/libexec/qemu-kvm; some distributions put one on PATH), else
    /// `qemu-system-x86_64`.
    ///
    /// Distribution quirk: Debian and Ubuntu have shipped `qemu-kvm`/`kvm` as a shell
    /// wrapper `exec qemu-system-x86_64 -enable-kvm "$@"`, which would force KVM even when
    /// qnet chose TCG; such scripts are skipped when `qemu-system-x86_64` is installed.
    public static func systemEmulator(searchPath: String? = nil) throws -> String {
        let emulator = locate("qemu-system-x86_64", searchPath: searchPath)
        for candidate in [locate("qemu-kvm", searchPath: searchPath), executableFile("/usr/libexec/qemu-kvm")].compactMap({ $0 }) {
            if emulator == nil || !isScript(candidate) { return candidate }
        }
        if let emulator { return emulator }
        throw QEMUError.programNotFound(names: ["qemu-kvm", "qemu-system-x86_64"],
                                        hint: "install QEMU (Debian: apt-get install qemu-system-x86)")
    }

    /// `qemu-img`, for qcow2 images and `qnet disk info`.
    public static func imageTool(searchPath: String? = nil) throws -> String {
        if let path = locate("qemu-img", searchPath: searchPath) { return path }
        throw QEMUError.programNotFound(names: ["qemu-img"], hint: "install it (Debian: apt-get install qemu-utils)")
    }

    /// The first executable regular file named `program` in `searchPath` (default: $PATH,
    /// or /usr/local/bin:/usr/bin:/bin when unset), like `command -v`.
    public static func locate(_ program: String, searchPath: String? = nil) -> String? {
        let path = searchPath ?? getenv("PATH").map { String(cString: $0) } ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in path.split(separator: ":") where directory.hasPrefix("/") {
            if let found = executableFile("\(directory)/\(program)") { return found }
        }
        return nil
    }

    /// Runs `EXECUTABLE --version` and reads the version from its first line
    /// (`QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)`, `qemu-img version 7.2.22`).
    public static func version(of executable: String) throws -> QEMUVersion {
        let result = try Subprocess.run(executable, ["--version"], timeout: .seconds(20))
        let text = String(decoding: result.standardOutput, as: UTF8.self)
        guard result.status == 0, let version = QEMUVersion(versionOutput: text) else {
            let firstLine = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? result.lastErrorLine
            throw QEMUError.unrecognizedVersion(program: executable, output: firstLine)
        }
        return version
    }

    static func executableFile(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(path, X_OK) == 0 else { return nil }
        return path
    }

    /// Whether the file starts with "#!".
    static func isScript(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic: [UInt8] = [0, 0]
        return read(fd, &magic, 2) == 2 && magic == [0x23, 0x21]
    }
}

/// A QEMU release number: 7.2.22.
public struct QEMUVersion: Comparable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var micro: Int

    public init(major: Int, minor: Int, micro: Int = 0) {
        self.major = major
        self.minor = minor
        self.micro = micro
    }

    /// Reads the first `version X.Y[.Z]` in `--version` output; nil when there is none.
    public init?(versionOutput: String) {
        guard let range = versionOutput.firstRange(of: "version ") else { return nil }
        let digits = versionOutput[range.upperBound...].prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count >= 2, parts.count <= 3, let major = parts[0], let minor = parts[1] else { return nil }
        let micro = parts.count == 3 ? parts[2] : 0
        guard let micro else { return nil }
        self.init(major: major, minor: minor, micro: micro)
    }

    public var description: String { "\(major).\(minor).\(micro)" }

    public static func < (lhs: QEMUVersion, rhs: QEMUVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.micro) < (rhs.major, rhs.minor, rhs.micro)
    }
}
