import Glibc

/// What every command that changes a network namespace does before its first change, in
/// this order:
/// 1. take the namespace's exclusive lock (keyed by its identity, not its name), waiting up
///    to `lockWait` for another qnet command and saying once on stderr who that is;
/// 2. defer SIGINT, SIGTERM and SIGHUP (and ignore SIGPIPE, so a closed SSH session cannot
///    stop a rollback half-way);
/// 3. finish or undo every transaction an interrupted command left in this namespace's
///    journal, one line on stderr each;
/// then it hands out the transactions the command runs its steps in.
///
/// The CLI's verbs (QNetCommands' `HostChange`), the network manager (`net start|stop|delete`)
/// and `vm run` (while it makes its TAPs) all begin here, so the lock, the order and the
/// messages are the same for each. Per-name locks (a VM's, a network's) must be taken
/// before, as `HostLock` requires. Not Sendable: one thread.
public final class NamespaceChange {
    public let lock: HostLock
    public let namespace: NetworkNamespaceIdentity
    public let signals: DeferredSignals
    /// `qnet bridge create br0 --uplink eth0`: the command as typed, for messages and the journal.
    public let command: String
    public let journal: Journal
    private let makeRegistry: () -> RecoveryRegistry
    /// Built on first use: most runs find no journal to recover, and building the handlers
    /// of every record kind was a third of what the QEMU hook (`qemu-ifup TAP`) runs.
    public private(set) lazy var registry: RecoveryRegistry = makeRegistry()
    /// This command's transactions, whose interruptions `finish` reports.
    private var transactions: [HostTransaction] = []

    /// Whether the deferral began here (and ends with this change) or is the caller's.
    private let ownsSignals: Bool

    private init(lock: HostLock, namespace: NetworkNamespaceIdentity, signals: DeferredSignals, ownsSignals: Bool,
                 command: String, journal: Journal, registry: @escaping () -> RecoveryRegistry) {
        self.lock = lock
        self.namespace = namespace
        self.signals = signals
        self.ownsSignals = ownsSignals
        self.command = command
        self.journal = journal
        self.makeRegistry = registry
    }

    deinit {
        // A signal after the last safe point of a command that failed anyway: taken, so the
        // restored mask does not end the process before it reports its error (the change
        // was undone or finished already). A caller's deferral keeps its signals.
        if ownsSignals { _ = signals.takeAll() }
    }

    /// Steps 1-3 above, for the namespace `namespace` (named `name`, nil for this process's
    /// own). `signals`: a deferral the caller began already (it then spans more than this
    /// change); else one begins here, after the lock (Ctrl-C while waiting for the lock
    /// stops qnet at once: nothing is changed yet). Throws `HostLockBusy` when the wait
    /// times out, and `RecoveryFailed` when a left-over transaction cannot be put right
    /// (nothing more is changed on a host in an unknown state).
    public static func begin(namespace: NetworkNamespaceIdentity, name: String?, command: String, journal: Journal,
                             lockDirectory: String, lockWait: Duration, signals: DeferredSignals? = nil,
                             recovering: Bool = true, registry: @escaping () -> RecoveryRegistry) throws -> NamespaceChange {
        let lock = try HostLock.acquire(.networkNamespace(namespace, name: name), in: lockDirectory, command: command,
                                        timeout: lockWait) { busy in
            writeStandardError("qnet: waiting: \(busy)\n")
        }
        // This process is single-threaded, so the mask covers it all.
        let deferred = try signals ?? DeferredSignals()
        signal(SIGPIPE, SIG_IGN)
        let change = NamespaceChange(lock: lock, namespace: namespace, signals: deferred, ownsSignals: signals == nil,
                                     command: command, journal: journal, registry: registry)
        if recovering { try change.recoverAbandoned() }
        return change
    }

    /// Finishes or undoes the transactions interrupted commands left in this namespace.
    /// Returns the reports (each also printed on stderr, one line each, unless `print` is false).
    @discardableResult
    public func recoverAbandoned(print: Bool = true) throws -> [RecoveryReport] {
        let reports = try journal.recoverAbandoned(scope: lock.scope.key, namespace: namespace, registry: registry,
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
    public func transaction() -> HostTransaction {
        let transaction = HostTransaction(scope: lock.scope.key, command: command, namespace: namespace, journal: journal,
                                          registry: registry, signals: signals)
        transactions.append(transaction)
        return transaction
    }

    /// After the outcome is printed: throws `Interrupted` when a signal arrived while this
    /// change ran but was not acted on by throwing (it came past a point of no return, or
    /// after the last safe point), so the change is complete and qnet still exits 128 + the
    /// signal. Signals still pending (a second Ctrl-C) are taken, so none is delivered
    /// when the mask is restored and the exit status is the shell's convention.
    public func finish() throws {
        let pending = signals.takeAll()
        if let signal = transactions.lazy.compactMap(\.interruption).first ?? pending {
            throw Interrupted(signal: signal)
        }
    }

    /// Lets go of the lock; the signal mask stays until `signals` is released or restored.
    public func release() { lock.release() }
}
