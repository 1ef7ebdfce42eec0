import Glibc
import QNetSystem

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
        let emulator = Subprocess.which("qemu-system-x86_64", searchPath: searchPath)
        for candidate in [Subprocess.which("qemu-kvm", searchPath: searchPath), Subprocess.which("/usr/libexec/qemu-kvm")].compactMap({ $0 }) {
            if emulator == nil || !isScript(candidate) { return candidate }
        }
        if let emulator { return emulator }
        throw QEMUError.programNotFound(names: ["qemu-kvm", "qemu-system-x86_64"],
                                        hint: "install QEMU (Debian: apt-get install qemu-system-x86)")
    }

    /// `qemu-img`, for qcow2 images and `qnet disk info`.
    public static func imageTool(searchPath: String? = nil) throws -> String {
        if let path = Subprocess.which("qemu-img", searchPath: searchPath) { return path }
        throw QEMUError.programNotFound(names: ["qemu-img"], hint: "install it (Debian: apt-get install qemu-utils)")
    }

    /// Runs `EXECUTABLE --version` and reads the version from its first line
    /// (`QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)`, `qemu-img version 7.2.22`).
    public static func version(of executable: String) throws -> QEMUVersion {
        let result = try runTool(executable, ["--version"], timeout: .seconds(20))
        let text = result.standardOutput
        guard result.succeeded, let version = QEMUVersion(versionOutput: text) else {
            let firstLine = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? result.lastErrorLine
            throw QEMUError.unrecognizedVersion(program: executable, output: firstLine)
        }
        return version
    }

    /// Runs a short-lived QEMU tool (qemu-img, `--version`) to completion with its output
    /// captured. The environment is just PATH and LC_ALL=C, so messages are stable English
    /// that can be quoted in errors. A tool that cannot be started is `spawnFailed`; one still
    /// running at `timeout` is killed and reported as `toolFailed`.
    static func runTool(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(60)) throws -> SubprocessResult {
        let path = getenv("PATH").map { String(cString: $0) } ?? Subprocess.defaultSearchPath
        let result: SubprocessResult
        do {
            result = try Subprocess.run(Command(executable, arguments, environment: ["PATH": path, "LC_ALL": "C"]), timeout: timeout)
        } catch let error as SystemError {
            throw QEMUError.spawnFailed(program: executable, errno: error.errno)
        }
        if result.termination == .timedOut {
            throw QEMUError.toolFailed(program: executable, arguments: arguments, status: -1,
                                       message: "no answer within \(formatSeconds(timeout.seconds)) s; killed")
        }
        return result
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
