import Glibc
import SystemPackage

/// What a finished tool printed and how it ended.
struct ToolResult {
    var status: Int32
    var standardOutput: [UInt8]
    var standardError: String

    /// The last non-empty line of stderr, for one-line error messages.
    var lastErrorLine: String {
        standardError.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
    }
}

/// Runs short-lived tools (qemu-img, `qemu-system-x86_64 --version`) and captures their
/// output. posix_spawn (not fork) from Swift; stdin is /dev/null; the environment is just
/// PATH and LC_ALL=C, so messages are stable English that can be quoted in errors.
enum Subprocess {
    static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(60)) throws -> ToolResult {
        var output: [Int32] = [-1, -1]
        var errors: [Int32] = [-1, -1]
        // pipe2(O_CLOEXEC) is not visible to Swift (glibc declares it under _GNU_SOURCE):
        // pipe + FD_CLOEXEC, fine in a single-threaded CLI.
        guard pipe(&output) == 0 else { throw QEMUError.spawnFailed(program: executable, errno: Errno(rawValue: errno)) }
        guard pipe(&errors) == 0 else {
            let saved = errno
            close(output[0]); close(output[1])
            throw QEMUError.spawnFailed(program: executable, errno: Errno(rawValue: saved))
        }
        for fd in output + errors { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        defer { close(output[0]); close(errors[0]) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        let words: [String] = [executable] + arguments
        let environment: [String] = ["PATH=\(path)", "LC_ALL=C"]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }

        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(output[1]); close(errors[1])
        guard spawned == 0 else { throw QEMUError.spawnFailed(program: executable, errno: Errno(rawValue: spawned)) }

        // Read both pipes to the end (a chatty tool must not block on a full pipe).
        var stdoutBytes: [UInt8] = [], stderrBytes: [UInt8] = []
        var open: [(fd: Int32, isOutput: Bool)] = [(output[0], true), (errors[0], false)]
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                kill(pid, SIGKILL)
                _ = waitForExit(pid)
                throw QEMUError.toolFailed(program: executable, arguments: arguments, status: -1,
                                           message: "no answer within \(timeout.components.seconds) s; killed")
            }
            var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let milliseconds = Int32(min(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000))
            let ready = poll(&fds, nfds_t(fds.count), milliseconds)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            var closed: [Int32] = []
            for (index, entry) in open.enumerated() where fds[index].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    if entry.isOutput { stdoutBytes += buffer[0..<count] } else { stderrBytes += buffer[0..<count] }
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    closed.append(entry.fd)
                }
            }
            open.removeAll { closed.contains($0.fd) }
        }
        let status = waitForExit(pid)
        return ToolResult(status: status, standardOutput: stdoutBytes, standardError: String(decoding: stderrBytes, as: UTF8.self))
    }

    /// waitpid until the child is gone: its exit status, or 128 + signal.
    static func waitForExit(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
