import Glibc
import HostNetwork
import QNetSystem
import VirtualMachines

/// The recovery dispatcher: every journal record kind qnet writes, with the code that rolls
/// it back or completes it. Each layer registers its own kinds (HostNetwork: the uplink
/// move); this is the one place that knows them all, so any command can recover any
/// journal an interrupted command left.
enum Recovery {
    static func registry(host: HostNetwork) -> RecoveryRegistry {
        var registry = RecoveryRegistry()
        registry.merge(host.recoveryRegistry)
        registry.merge(NetworkManager(host: host).recoveryRegistry())
        return registry
    }

    /// Where journals live: under the runtime directory (gone at reboot, like what they undo).
    static var journal: Journal { Journal(directory: QNetPaths.journal) }

    /// Where lock files live.
    static var lockDirectory: String { QNetPaths.locks }
}

/// A command that changes a network namespace, from start to end:
/// 1. enter the namespace (`--netns`) and open rtnetlink there;
/// 2. take the namespace's exclusive lock (keyed by its identity, not its name), waiting up
///    to `lockWait` for another qnet command and saying once who that is;
/// 3. defer SIGINT, SIGTERM and SIGHUP (and ignore SIGPIPE, so a closed SSH session
///    cannot stop a rollback half-way), then finish or undo any transaction an
///    interrupted command left in this namespace, with one line on stderr each;
/// 4. hand out the transaction the command runs its steps in.
///
/// Read-only commands (show, list, status, doctor) use `GlobalOptions.openHost()` instead:
/// no lock, never blocked by a change in progress.
final class HostChange {
    let host: HostNetwork
    let lock: HostLock
    let namespace: NetworkNamespaceIdentity
    let signals: DeferredSignals
    /// Built on first use: most runs find no journal to recover, and building the handlers
    /// of every record kind was a third of what the QEMU hook (`qemu-ifup TAP`) runs.
    private(set) lazy var registry: RecoveryRegistry = Recovery.registry(host: host)
    /// `qnet bridge create br0 --uplink eth0`: the command as typed, for messages and the journal.
    let command: String

    /// How long a second command waits for the lock before it gives up, naming the holder.
    static let lockWait: Duration = .seconds(30)

    private init(host: HostNetwork, lock: HostLock, namespace: NetworkNamespaceIdentity, signals: DeferredSignals,
                 command: String) {
        self.host = host
        self.lock = lock
        self.namespace = namespace
        self.signals = signals
        self.command = command
    }

    /// Steps 1-3 above. Throws `HostLockBusy` when the wait times out, and
    /// `RecoveryFailed` when a left-over transaction cannot be put right (nothing more is
    /// changed on a host in an unknown state).
    static func begin(_ global: GlobalOptions, recovering: Bool = true) throws -> HostChange {
        try begin(host: global.openHost(), namespaceName: global.netns, recovering: recovering)
    }

    /// Steps 2-3 for a host already open (in the namespace named `namespaceName`, nil for
    /// this process's own): what the commands run without the parser (`HookFastPath`) use.
    static func begin(host: HostNetwork, namespaceName: String?, recovering: Bool = true) throws -> HostChange {
        let namespace = try NetworkNamespaceIdentity.current()
        let command = commandLine()
        let lock = try HostLock.acquire(.networkNamespace(namespace, name: namespaceName), in: Recovery.lockDirectory,
                                        command: command, timeout: lockWait) { busy in
            writeStandardError("qnet: waiting: \(busy)\n")
        }
        // Blocked only now: Ctrl-C while waiting for the lock stops qnet at once (nothing
        // is changed yet). This process is single-threaded, so the mask covers it all.
        let signals = try DeferredSignals()
        signal(SIGPIPE, SIG_IGN)
        let change = HostChange(host: host, lock: lock, namespace: namespace, signals: signals, command: command)
        if recovering { try change.recoverAbandoned() }
        return change
    }

    /// Finishes or undoes the transactions interrupted commands left in this namespace.
    /// Returns the reports (each also printed on stderr, one line each).
    @discardableResult
    func recoverAbandoned(print: Bool = true) throws -> [RecoveryReport] {
        let reports = try Recovery.journal.recoverAbandoned(scope: lock.scope.key, namespace: namespace, registry: registry,
                                                            pause: { [signals, command] in
            if let signal = signals.take() {
                writeStandardError("qnet: \(signalName(signal)): finishing the recovery first (before `\(command)`)\n")
            }
        })
        if print { for report in reports { writeStandardError("qnet: \(report)\n") } }
        if let failed = reports.first(where: { !$0.succeeded }) { throw RecoveryFailed(report: failed) }
        return reports
    }

    /// A transaction of this command, journaled in the namespace's scope.
    func transaction() -> HostTransaction {
        HostTransaction(scope: lock.scope.key, command: command, namespace: namespace, journal: Recovery.journal,
                        registry: registry, signals: signals)
    }

    /// Commits `transaction`: its journal goes, the change is done. Call before printing
    /// the outcome (a kill between the two then loses only the message, never the change).
    func commit(_ transaction: HostTransaction) throws {
        try transaction.commit()
    }

    /// After the outcome is printed: throws `Interrupted` when a signal arrived during the
    /// transaction but after its point of no return (the change was finished first), so
    /// qnet still exits 128 + the signal.
    func finish(_ transaction: HostTransaction) throws {
        if let signal = transaction.interruption { throw Interrupted(signal: signal) }
    }

    /// Runs `body` in a transaction of its own and commits it; on failure the transaction
    /// is rolled back (the verbs in HostNetwork roll back their own records already).
    func run<T>(_ body: (HostTransaction) throws -> T) throws -> T {
        let transaction = transaction()
        do {
            let result = try body(transaction)
            try commit(transaction)
            try finish(transaction)
            return result
        } catch {
            transaction.rollBack()
            throw error
        }
    }

    /// The command line as typed (`qnet bridge create br0 --uplink eth0`); a
    /// qemu-ifup/qemu-ifdown symlink shows as the verb it stands for.
    static func commandLine(_ arguments: [String] = CommandLine.arguments) -> String {
        let invokedAs = arguments.first.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? "qnet"
        var words = Array(arguments.dropFirst())
        switch invokedAs {
        case "qemu-ifup": words.insert("ifup", at: 0)
        case "qemu-ifdown": words.insert("ifdown", at: 0)
        default: break
        }
        // Plain appends: map + joined cost the QEMU hook 0.34 M instructions of first-use
        // generic metadata in the static binary.
        var line = "qnet"
        for word in words {
            line += word.contains(" ") || word.isEmpty ? " '\(word)'" : " " + word
        }
        return line
    }
}
