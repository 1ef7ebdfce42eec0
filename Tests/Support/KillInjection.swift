import Foundation

/// The built `qnet` executable next to the test bundle (.build/<triple>/debug/qnet).
public func qnetExecutable() throws -> String { try builtExecutable("qnet") }

/// A product of the package built next to the test bundle (.build/<triple>/debug/NAME).
public func builtExecutable(_ name: String) throws -> String {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw TestSupportError("the \(name) executable was not built next to the tests (run `swift build` first; `make test` does)")
}

/// The one fault-injection harness (bridge, network and VM reliability tests): runs a
/// command under strace and delivers a signal on entering its `n`-th call of any of
/// `syscalls` (`strace -e inject=SYSCALLS:signal=SIG:when=N`), so a test can stop qnet at
/// each netlink send (`sendto`, `sendmsg`), each journal or state-file write (`fsync`,
/// `rename`, `unlink`) or each ioctl in turn: SIGKILL as a crash, SIGINT / SIGTERM /
/// SIGHUP as Ctrl-C, `kill` and a lost SSH session. Only the command's own process is
/// traced (no `-f`): a QEMU, dnsmasq or passt it starts runs untraced and outlives a kill,
/// as after a real one, and never gets the signal meant for qnet.
public enum KillInjection {
    public struct Outcome: Sendable {
        /// The command reached its `n`-th call of one of the system calls, so the signal was
        /// delivered there.
        public var injected: Bool
        public var result: CommandResult

        /// Died of the injected SIGKILL (only meaningful with "KILL").
        public var killed: Bool { injected }
    }

    /// Shell-convention exit status after qnet acted on a deferred signal: 130, 143, 129.
    public static func exitStatus(afterSignal signal: String) -> Int32? {
        ["INT": 130, "TERM": 143, "HUP": 129][signal]
    }

    /// Runs `executable arguments` with `signal` ("KILL", "INT", "TERM", "HUP") delivered at
    /// the `n`-th call of `syscalls`.
    /// With `everyCallFrom`, at the `n`-th call and every later one (a second Ctrl-C).
    public static func run(_ executable: String, _ arguments: [String], signal: String = "KILL", at n: Int,
                           of syscalls: [String], everyCallFrom: Bool = false, environment: [String: String]? = nil) throws -> Outcome {
        let trace = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-inject-\(getpid())-\(UUID().uuidString).trace").path
        defer { try? FileManager.default.removeItem(atPath: trace) }
        let list = syscalls.joined(separator: ",")
        let result = try QNetTestSupport.run("strace", ["-qq", "-o", trace, "-e", "trace=\(list)",
                                                        "-e", "inject=\(list):signal=\(signal):when=\(n)\(everyCallFrom ? "+" : "")", executable] + arguments,
                                             environment: environment)
        return Outcome(injected: calls(in: trace, of: syscalls) >= n, result: result)
    }

    /// Stops the command `command(n)` runs at n = 1, 2, ... until a run makes fewer than n
    /// calls (nothing was injected: it ran to its end); `afterEach` checks each stop's
    /// aftermath, `completed` the full run. Returns the number of points tried.
    @discardableResult
    public static func everyPoint(limit: Int = 200, _ command: (Int) throws -> Outcome,
                                  afterEach: (Int, CommandResult) throws -> Void,
                                  completed: (CommandResult) throws -> Void = { _ in }) throws -> Int {
        for n in 1...limit {
            let outcome = try command(n)
            guard outcome.injected else {
                try completed(outcome.result)
                return n - 1
            }
            try afterEach(n, outcome.result)
        }
        throw TestSupportError("still stopped after \(limit) calls: raise the limit")
    }

    /// The most calls of any one of `syscalls` in an strace log (a call cut short by a
    /// signal counts too). strace counts `when=N` per system call, not across the list.
    static func calls(in trace: String, of syscalls: [String]) -> Int {
        let lines = ((try? String(contentsOfFile: trace, encoding: .utf8)) ?? "").split(separator: "\n")
        return syscalls.map { call in lines.filter { $0.hasPrefix("\(call)(") }.count }.max() ?? 0
    }
}
