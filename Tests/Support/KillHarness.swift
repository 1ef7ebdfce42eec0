import Foundation
import Glibc

/// Fault injection for crash-safety tests: runs a command under strace and SIGKILLs it at
/// the Nth call of chosen system calls (a netlink send, the rename of an atomic write), so
/// a test can stop a command at every such point in turn and check what the next command
/// makes of what it left.
///
/// `strace -f -qq -o /dev/null -b execve -e trace=S -e inject=S:signal=KILL:when=N`:
/// `-f` follows qnet's threads and children up to their execve, `-b execve` then lets go
/// (dnsmasq and nft run untraced and uncounted), and strace counts calls per process, so
/// N counts qnet's own calls.
public enum KillHarness {
    /// Netlink requests go out with sendto(2) (sendmsg(2) is traced too, in case).
    public static let netlinkSends = ["sendto", "sendmsg"]
    /// Every atomic file write (journal, runtime state, configuration) ends with a rename.
    public static let fileCommits = ["rename", "renameat", "renameat2"]

    /// Runs `executable arguments`, killed at the `n`th call of any of `syscalls`. The
    /// result's `killed` says whether the kill happened (false: the command ran to its end
    /// with fewer such calls).
    public static func run(killedAt n: Int, of syscalls: [String], _ executable: String, _ arguments: [String],
                           environment: [String: String]? = nil) throws -> (killed: Bool, result: CommandResult) {
        let list = syscalls.joined(separator: ",")
        let result = try QNetTestSupport.run(
            "strace", ["-f", "-qq", "-o", "/dev/null", "-b", "execve", "-e", "trace=\(list)",
                       "-e", "inject=\(list):signal=KILL:when=\(n)", executable] + arguments,
            environment: environment)
        // strace ends itself with the signal that killed the traced command.
        return (result.status == SIGKILL, result)
    }

    /// Kills the command made by `command` at its 1st, 2nd, ... call of `syscalls` until a
    /// run completes without being killed (or `limit` kills). `afterKill` runs after each
    /// kill (recovery and checks); `completed` gets the run that was not killed. Returns
    /// the number of kill points tried.
    @discardableResult
    public static func everyPoint(of syscalls: [String], limit: Int = 200,
                                  command: (Int) throws -> (killed: Bool, result: CommandResult),
                                  afterKill: (Int, CommandResult) throws -> Void,
                                  completed: (CommandResult) throws -> Void) throws -> Int {
        for n in 1...limit {
            let (killed, result) = try command(n)
            guard killed else {
                try completed(result)
                return n - 1
            }
            try afterKill(n, result)
        }
        throw TestSupportError("still killed after \(limit) \(syscalls.joined(separator: "/")) calls: raise the limit")
    }
}
