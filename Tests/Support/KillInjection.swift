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

/// Fault injection by strace: runs a command and SIGKILLs it on entering its `n`-th call
/// of any of `syscalls` (`strace -e inject=SYSCALLS:signal=KILL:when=N`), so a test can
/// kill qnet at each netlink send (`sendto`, `sendmsg`) or each state-file write
/// (`renameat`) in turn. Only the command's own process is traced (no `-f`): a QEMU or
/// dnsmasq it starts runs untraced and outlives it, as after a real kill.
public enum KillInjection {
    public struct Outcome: Sendable {
        /// strace saw the command die of the injected SIGKILL (it had an `n`-th call).
        public var killed: Bool
        public var result: CommandResult
    }

    public static func run(_ executable: String, _ arguments: [String], killAtCall n: Int, of syscalls: [String]) throws -> Outcome {
        let trace = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-kill-\(getpid())-\(n).trace").path
        defer { try? FileManager.default.removeItem(atPath: trace) }
        let list = syscalls.joined(separator: ",")
        let result = try QNetTestSupport.run("strace", ["-o", trace, "-e", "trace=\(list)", "-e", "inject=\(list):signal=KILL:when=\(n)",
                                                        executable] + arguments)
        let log = (try? String(contentsOfFile: trace, encoding: .utf8)) ?? ""
        return Outcome(killed: log.contains("+++ killed by SIGKILL"), result: result)
    }

    /// How many calls of `syscalls` the command makes when nothing is injected.
    public static func countCalls(_ executable: String, _ arguments: [String], of syscalls: [String]) throws -> (count: Int, result: CommandResult) {
        let trace = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-count-\(getpid()).trace").path
        defer { try? FileManager.default.removeItem(atPath: trace) }
        let result = try QNetTestSupport.run("strace", ["-o", trace, "-e", "trace=\(syscalls.joined(separator: ","))", executable] + arguments)
        let log = (try? String(contentsOfFile: trace, encoding: .utf8)) ?? ""
        let count = log.split(separator: "\n").filter { line in syscalls.contains { line.hasPrefix("\($0)(") } }.count
        return (count, result)
    }
}
