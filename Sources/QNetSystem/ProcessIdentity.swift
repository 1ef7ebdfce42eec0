import Glibc

/// Which process a pid meant when it was recorded: the pid, its start time and its
/// executable. Pids are reused; a pid read back from a state file names the same process
/// only while all three still match (`ps -o lstart= -p PID` and `readlink /proc/PID/exe`).
public struct ProcessIdentity: Sendable, Equatable, Hashable, Codable {
    public var pid: pid_t
    /// Field 22 of /proc/PID/stat: clock ticks after boot at which the process started.
    public var startTime: UInt64
    /// Where /proc/PID/exe pointed; nil when it could not be read (another user's process
    /// without CAP_SYS_PTRACE, a kernel thread).
    public var executable: String?

    public init(pid: pid_t, startTime: UInt64, executable: String?) {
        self.pid = pid
        self.startTime = startTime
        self.executable = executable
    }

    /// The identity of the running process `pid`; nil when there is none (or it is a zombie).
    public static func of(_ pid: pid_t) -> ProcessIdentity? {
        guard pid > 0, let fields = statFields(pid), let state = fields.first, state != "Z", state != "X",
              fields.count > 19, let start = UInt64(fields[19]) else { return nil }
        return ProcessIdentity(pid: pid, startTime: start, executable: executablePath(of: pid))
    }

    /// This process.
    public static func current() -> ProcessIdentity? { of(getpid()) }

    /// Whether the process this identity was taken from is still running: the pid exists,
    /// is not a zombie, started at the same tick, and runs the same executable (when both
    /// are known; an exec in that process changes it).
    public var isRunning: Bool {
        guard let now = Self.of(pid), now.startTime == startTime else { return false }
        if let executable, let current = now.executable, executable != current { return false }
        return true
    }

    /// The state letter of /proc/PID/stat (R, S, D, Z, T, ...); nil when there is no such process.
    public static func state(of pid: pid_t) -> Character? {
        statFields(pid)?.first?.first
    }

    /// The fields of /proc/PID/stat after the command name: index 0 is field 3 (state),
    /// index 19 is field 22 (starttime). The command name is skipped by its last ")" since
    /// it may itself contain spaces and parentheses.
    /// Split byte by byte (the separators are ASCII): by Character, the grapheme breaking
    /// over the 300-byte line cost every journaled command 0.2 M instructions (callgrind).
    static func statFields(_ pid: pid_t) -> [Substring]? {
        guard let text = try? FileSystem.readText("/proc/\(pid)/stat") else { return nil }
        let bytes = text.utf8
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        var fields: [Substring] = []
        fields.reserveCapacity(52)
        var start = bytes.index(after: close)
        var position = start
        while position < bytes.endIndex {
            if bytes[position] == UInt8(ascii: " ") {
                if position > start { fields.append(text[start..<position]) }
                start = bytes.index(after: position)
            }
            position = bytes.index(after: position)
        }
        if start < bytes.endIndex { fields.append(text[start..<bytes.endIndex]) }
        return fields
    }

    /// readlink /proc/PID/exe.
    static func executablePath(of pid: pid_t) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/\(pid)/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
