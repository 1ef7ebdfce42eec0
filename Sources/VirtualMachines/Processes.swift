import Glibc
import Netlink

/// Starting helper programs (dnsmasq, qemu-img, passt) as qnet's own children.
public enum Processes {
    /// Starts `path` with `arguments`; stdout/stderr go to `logPath` (or /dev/null). With a
    /// namespace, the child is forked from a thread inside it, so it lives in that network
    /// namespace (like `ip netns exec NS PROGRAM`). Returns the pid.
    public static func start(_ path: String, _ arguments: [String], logPath: String? = nil,
                             namespace: NetworkNamespace? = nil, newSession: Bool = true) throws -> Int32 {
        let output = logPath.map { open($0, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) } ?? open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { if output >= 0 { close(output) } }
        var environment: [String: String] = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        if let home = getenv("HOME") { environment["HOME"] = String(cString: home) }
        let spawn = {
            try ProcessLauncher.spawn(path, arguments: arguments, environment: environment, descriptors: [],
                                      output: output, user: nil, newSession: newSession, workingDirectory: nil)
        }
        if let namespace { return try namespace.withEntered(spawn) }
        return try spawn()
    }

    /// Runs a program to completion and returns its exit status and combined output.
    public static func run(_ path: String, _ arguments: [String], namespace: NetworkNamespace? = nil) throws -> (status: Int32, output: String) {
        let log = "/tmp/qnet-run-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(log) }
        let pid = try start(path, arguments, logPath: log, namespace: namespace, newSession: false)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code: Int32 = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, readText(log) ?? "")
    }

    /// Sends SIGTERM, waits up to `grace` seconds, then SIGKILL; reaps our children.
    public static func stop(_ pid: Int32, grace: Double = 3) {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        let deadline = monotonicNow() + grace
        while monotonicNow() < deadline {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && kill(pid, 0) != 0) { return }
            usleep(10_000)  // poll interval; SIGKILL follows at the grace deadline
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    /// Finds an executable on PATH.
    public static func which(_ program: String) -> String? { ProcessLauncher.which(program) }
}
