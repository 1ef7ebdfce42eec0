import CLinuxNet
import Glibc

/// How a child process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    /// Still running at the deadline: killed with SIGKILL and reaped.
    case timedOut

    public var description: String {
        switch self {
        case let .exited(code): "exit status \(code)"
        case let .signaled(signal): "killed by signal \(signal)"
        case .timedOut: "timed out"
        }
    }
}

/// A finished child: how it ended and what it printed.
public struct SubprocessResult: Sendable {
    public var termination: Termination
    public var standardOutput: String
    public var standardError: String
    /// Wall-clock seconds from spawn to reaping.
    public var seconds: Double

    public var succeeded: Bool { termination == .exited(0) }
}

public struct SubprocessError: Error, CustomStringConvertible {
    public var description: String
}

/// Runs a program with `posix_spawn`, captures its output, and never lets it outlive the
/// deadline: a child still running then is killed with SIGKILL and reaped, so nothing is
/// left behind. Standard input is /dev/null; descriptors above 2 are not inherited.
public enum Subprocess {
    public static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(5)) throws -> SubprocessResult {
        let start = monotonicSeconds()
        let deadline = start + timeout.seconds
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard qnet_pipe_cloexec(&outPipe) == 0 else { throw SubprocessError(description: "pipe: \(String(cString: strerror(errno)))") }
        guard qnet_pipe_cloexec(&errPipe) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            throw SubprocessError(description: "pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        qnet_spawn_actions_closefrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with default signal dispositions and an empty mask, whatever
        // this process blocks or ignores.
        var defaults = sigset_t()
        sigfillset(&defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        close(outPipe[1])
        close(errPipe[1])
        guard spawned == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw SubprocessError(description: "cannot run \(executable): \(String(cString: strerror(spawned)))")
        }

        var output: [UInt8] = [], errors: [UInt8] = []
        var open: [(fd: Int32, isError: Bool)] = [(outPipe[0], false), (errPipe[0], true)]
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 16384)
        while !open.isEmpty {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 { timedOut = true; break }
            var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining * 1000, 1000).rounded(.up)))
            if ready < 0 && errno != EINTR { break }
            for (index, entry) in fds.enumerated().reversed() where entry.revents != 0 {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(entry.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    if open[index].isError { errors += buffer[0..<count] } else { output += buffer[0..<count] }
                } else if count == 0 || errno != EINTR {
                    close(entry.fd)
                    open.remove(at: index)
                }
            }
        }
        for entry in open { close(entry.fd) }

        var status: Int32 = 0
        while !timedOut {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { break }
            if monotonicSeconds() >= deadline { timedOut = true; break }
            usleep(2000)  // poll interval; bounded by the deadline above
        }
        if timedOut {
            kill(pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        let termination: Termination
        if timedOut {
            termination = .timedOut
        } else if status & 0x7f == 0 {
            termination = .exited((status >> 8) & 0xff)
        } else {
            termination = .signaled(status & 0x7f)
        }
        return SubprocessResult(termination: termination, standardOutput: String(decoding: output, as: UTF8.self),
                                standardError: String(decoding: errors, as: UTF8.self),
                                seconds: monotonicSeconds() - start)
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
