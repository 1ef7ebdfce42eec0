import CLinuxSystem
import Glibc
import SystemPackage

/// How a child process ended.
public enum Termination: Sendable, Equatable, Hashable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    /// Still running at the deadline of `Subprocess.run`: killed with SIGKILL and reaped.
    case timedOut

    /// Decodes a waitpid(2) status (WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG).
    public init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    /// The status a shell would report in `$?`: the exit code, 128 + the signal, or -1 for
    /// a timeout.
    public var shellStatus: Int32 {
        switch self {
        case let .exited(code): code
        case let .signaled(signal): 128 + signal
        case .timedOut: -1
        }
    }

    public var description: String {
        switch self {
        case let .exited(code): "exit status \(code)"
        case let .signaled(signal): "killed by \(signalName(signal))"
        case .timedOut: "timed out"
        }
    }
}

/// A program to start and how: the one description every spawn in qnet goes through.
public struct Command: Sendable, Equatable {
    /// An absolute path (no PATH search here; see `Subprocess.which`).
    public var executable: String
    public var arguments: [String]
    /// The child's whole environment; nil passes this process's environment on.
    public var environment: [String: String]?
    /// Descriptors the child gets: child's number → descriptor in this process. Every other
    /// descriptor is closed in the child, whether or not it is marked close-on-exec.
    /// Standard input is /dev/null and standard output and error are this process's unless
    /// 0, 1 or 2 is mapped here.
    public var descriptors: [Int32: Int32]
    /// Runs the child as this user (setgroups(0), setgid, setuid before exec: the user's
    /// supplementary groups are dropped). Needs CAP_SETUID and CAP_SETGID.
    public var user: UserIdentity?
    /// setsid(2) in the child: its own session and process group, no controlling terminal,
    /// so Ctrl-C in qnet's terminal does not reach it.
    public var newSession: Bool
    /// chdir(2) in the child before exec.
    public var workingDirectory: String?

    public init(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
                descriptors: [Int32: Int32] = [:], user: UserIdentity? = nil, newSession: Bool = false,
                workingDirectory: String? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.descriptors = descriptors
        self.user = user
        self.newSession = newSession
        self.workingDirectory = workingDirectory
    }
}

/// What a program run to completion printed, and how it ended.
public struct SubprocessResult: Sendable, Equatable {
    public var termination: Termination
    public var output: [UInt8]
    public var errors: [UInt8]
    /// Seconds from start to reaping (monotonic clock).
    public var seconds: Double

    public init(termination: Termination, output: [UInt8], errors: [UInt8], seconds: Double) {
        self.termination = termination
        self.output = output
        self.errors = errors
        self.seconds = seconds
    }

    public var succeeded: Bool { termination == .exited(0) }
    public var standardOutput: String { String(decoding: output, as: UTF8.self) }
    public var standardError: String { String(decoding: errors, as: UTF8.self) }

    /// The last non-empty line of stderr, for one-line error messages.
    public var lastErrorLine: String {
        standardError.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
    }
}

/// Starting, waiting for and stopping child processes.
///
/// One implementation for qnet: the child is forked and exec'd by `qnet_spawn` in the C
/// shim (only async-signal-safe calls between fork and exec; it can change user, which
/// posix_spawn cannot), gets an empty signal mask and default SIGPIPE/SIGINT/SIGTERM
/// handling whatever qnet blocks, and inherits exactly the descriptors named in
/// `Command.descriptors`: every other descriptor is closed, close-on-exec or not.
public enum Subprocess {
    /// Starts `command` and returns the child's pid; the caller reaps it (`wait`,
    /// `reapIfExited`, `stop`). Throws `SystemError` when fork, exec or a step before exec
    /// (setuid, chdir, dup2) failed: exec failures are reported through a close-on-exec pipe.
    public static func spawn(_ command: Command) throws -> pid_t {
        let argv = ([command.executable] + command.arguments).map { strdup($0) }
        let environment = command.environment.map { dictionary in
            dictionary.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        } ?? currentEnvironment()
        let envp = environment.map { strdup($0) }
        defer { (argv + envp).forEach { free($0) } }
        var argvList: [UnsafeMutablePointer<CChar>?] = argv + [nil]
        var envpList: [UnsafeMutablePointer<CChar>?] = envp + [nil]
        let mapping = command.descriptors.sorted { $0.key < $1.key }
        let targets = mapping.map(\.key), sources = mapping.map(\.value)
        let uid = command.user?.uid ?? uid_t.max, gid = command.user?.gid ?? gid_t.max
        var childErrno: Int32 = 0
        let pid = argvList.withUnsafeMutableBufferPointer { argvBuffer in
            envpList.withUnsafeMutableBufferPointer { envpBuffer in
                sources.withUnsafeBufferPointer { from in
                    targets.withUnsafeBufferPointer { to in
                        qnet_spawn(command.executable, argvBuffer.baseAddress, envpBuffer.baseAddress, from.baseAddress,
                                   to.baseAddress, Int32(mapping.count), -1, uid, gid, command.newSession ? 1 : 0,
                                   command.workingDirectory, &childErrno)
                    }
                }
            }
        }
        guard pid > 0 else { throw SystemError(errno: Errno(rawValue: childErrno), operation: "start", path: command.executable) }
        return pid
    }

    /// Runs `command` to completion and captures standard output and standard error
    /// through pipes (`OUT=$(timeout -s KILL T PROGRAM 2>ERR)`). A child still running at
    /// `timeout` is killed with SIGKILL and reaped (termination `.timedOut`); nothing is
    /// left behind on disk. What a grandchild still writes after the child exited is not
    /// waited for.
    public static func run(_ command: Command, timeout: Duration = .seconds(60)) throws -> SubprocessResult {
        let start = monotonicSeconds()
        let deadline = Deadline(instant: start + timeout.seconds)
        let outputPipe = try makePipe()
        let errorPipe: (read: Int32, write: Int32)
        do { errorPipe = try makePipe() } catch {
            close(outputPipe.read); close(outputPipe.write)
            throw error
        }
        var command = command
        command.descriptors[1] = outputPipe.write
        command.descriptors[2] = errorPipe.write
        let pid: pid_t
        do { pid = try spawn(command) } catch {
            for fd in [outputPipe.read, outputPipe.write, errorPipe.read, errorPipe.write] { close(fd) }
            throw error
        }
        close(outputPipe.write)
        close(errorPipe.write)
        defer { close(outputPipe.read); close(errorPipe.read) }

        var captured: [Int32: [UInt8]] = [outputPipe.read: [], errorPipe.read: []]
        var open = [outputPipe.read, errorPipe.read]
        var termination: Termination?
        while termination == nil {
            if deadline.hasPassed {
                kill(pid, SIGKILL)
                _ = wait(pid)
                termination = .timedOut
                break
            }
            // Poll interval: up to 50 ms per round while output flows, 5 ms once both pipes are
            // at end of file and only the exit is awaited; bounded by the deadline.
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), min(deadline.pollMilliseconds(), open.isEmpty ? 5 : 50))
            if ready > 0 {
                for entry in fds where entry.revents != 0 {
                    if readAvailable(entry.fd, into: &captured[entry.fd, default: []]) == .ended { open.removeAll { $0 == entry.fd } }
                }
            }
            termination = reapIfExited(pid)
        }
        // The child is gone; take what is already in the pipes without waiting for a
        // grandchild that may still hold them open.
        for fd in open {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            while readAvailable(fd, into: &captured[fd, default: []]) == .data {}
        }
        return SubprocessResult(termination: termination ?? .timedOut, output: captured[outputPipe.read] ?? [],
                                errors: captured[errorPipe.read] ?? [], seconds: monotonicSeconds() - start)
    }

    /// Starts a long-lived helper (dnsmasq, passt, QEMU) in its own session, with standard
    /// output and error going to `output` (a log file's descriptor; /dev/null when nil).
    /// Like `setsid PROGRAM >LOG 2>&1 </dev/null &`.
    public static func startDetached(_ command: Command, output: Int32?) throws -> pid_t {
        var command = command
        command.newSession = true
        var devNull: Int32 = -1
        if let output {
            command.descriptors[1] = output
            command.descriptors[2] = output
        } else {
            devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
            guard devNull >= 0 else { throw SystemError.lastError("open", path: "/dev/null") }
            command.descriptors[1] = devNull
            command.descriptors[2] = devNull
        }
        defer { if devNull >= 0 { close(devNull) } }
        return try spawn(command)
    }

    /// Waits for our child `pid` to end and reaps it (`wait PID`); nil when it is not our
    /// child (ECHILD).
    public static func wait(_ pid: pid_t) -> Termination? {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return nil }
        }
        return Termination(waitStatus: status)
    }

    /// Reaps our child `pid` if it has ended (waitpid WNOHANG) and says how; nil while it
    /// runs, or when it is not our child.
    public static func reapIfExited(_ pid: pid_t) -> Termination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return Termination(waitStatus: status) }
            if result < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// Whether `pid` has ended, without reaping it: gone from the process table, or a zombie
    /// waiting for its parent (`ps -o stat= -p PID` is empty or Z).
    public static func hasExited(_ pid: pid_t) -> Bool {
        guard pid > 0 else { return true }
        if kill(pid, 0) != 0 && errno == ESRCH { return true }
        return ProcessIdentity.state(of: pid).map { $0 == "Z" || $0 == "X" } ?? true
    }

    /// Stops `pid`: SIGTERM, up to `grace` for it to exit, then SIGKILL, and returns once it
    /// has ended (`kill PID; sleep GRACE; kill -9 PID`, without waiting longer than needed).
    /// Our children are reaped and their termination returned; another process's child gives
    /// nil. `stopped` is false only when the process outlived SIGKILL by 5 s (stuck in the
    /// kernel).
    @discardableResult
    public static func stop(_ pid: pid_t, grace: Duration = .seconds(3)) -> (stopped: Bool, termination: Termination?) {
        stop(pid, grace: grace, stillTheSame: { true })
    }

    /// Stops the process `identity` names, as `stop(_:grace:)` does, but never signals a pid
    /// that has since been reused by another process: each signal is sent only while the
    /// identity still matches.
    @discardableResult
    public static func stop(_ identity: ProcessIdentity, grace: Duration = .seconds(3)) -> (stopped: Bool, termination: Termination?) {
        stop(identity.pid, grace: grace, stillTheSame: { identity.isRunning })
    }

    private static func stop(_ pid: pid_t, grace: Duration, stillTheSame: () -> Bool) -> (stopped: Bool, termination: Termination?) {
        guard pid > 0 else { return (true, nil) }
        if let ended = reapIfExited(pid) { return (true, ended) }
        guard stillTheSame() else { return (true, nil) }
        kill(pid, SIGTERM)
        if let ended = waitForEnd(pid, until: .after(grace)) { return ended }
        guard stillTheSame() else { return (true, reapIfExited(pid)) }
        kill(pid, SIGKILL)
        return waitForEnd(pid, until: .after(.seconds(5))) ?? (hasExited(pid), nil)
    }

    /// Polls until `pid` has ended (reaping our child) or the deadline passes (nil then).
    private static func waitForEnd(_ pid: pid_t, until deadline: Deadline) -> (stopped: Bool, termination: Termination?)? {
        while true {
            if let ended = reapIfExited(pid) { return (true, ended) }
            // Ended since the line above: reap it if it is ours (a zombie of ours is reapable).
            if hasExited(pid) { return (true, reapIfExited(pid)) }
            if deadline.hasPassed { return nil }
            usleep(5_000)  // poll interval while waiting for the exit; bounded by the deadline
        }
    }

    /// The first executable regular file named `program` in `searchPath` (default: $PATH,
    /// or /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin when unset), like
    /// `command -v PROGRAM`. A name with a "/" is checked as it is.
    public static func which(_ program: String, searchPath: String? = nil) -> String? {
        if program.contains("/") { return isExecutableFile(program) ? program : nil }
        let path = searchPath ?? getenv("PATH").map { String(cString: $0) } ?? defaultSearchPath
        for directory in path.split(separator: ":") where directory.hasPrefix("/") {
            let candidate = "\(directory)/\(program)"
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    /// The PATH qnet gives helpers it starts with a clean environment.
    public static let defaultSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// A regular file this process may execute (`test -f PATH && test -x PATH`).
    public static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && access(path, X_OK) == 0
    }

    /// pipe2(O_CLOEXEC): neither end leaks into a child that does not map it.
    public static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard qnet_pipe_cloexec(&fds) == 0 else { throw SystemError.lastError("create pipe") }
        return (fds[0], fds[1])
    }

    private enum ReadOutcome { case data, wouldBlock, ended }

    /// Reads what `fd` has now into `buffer`: `.ended` at end of file or on an error other
    /// than EINTR (retried) and EAGAIN (`.wouldBlock`).
    private static func readAvailable(_ fd: Int32, into buffer: inout [UInt8]) -> ReadOutcome {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 { buffer += chunk[0..<count]; return .data }
            if count < 0 && errno == EINTR { continue }
            return count < 0 && errno == EAGAIN ? .wouldBlock : .ended
        }
    }

    /// This process's environment as KEY=VALUE strings.
    private static func currentEnvironment() -> [String] {
        var result: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            result.append(String(cString: pointer))
            entry += 1
        }
        return result
    }
}
