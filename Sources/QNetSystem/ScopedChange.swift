import Glibc

/// What every command that changes the host does before its first change, in this order:
/// 1. take its scope's exclusive lock (a network namespace's, or the host-wide `pci` one),
///    waiting up to `lockWait` for another qnet command and saying once on stderr who that is;
/// 2. defer SIGINT, SIGTERM and SIGHUP (and ignore SIGPIPE, so a closed SSH session cannot
///    stop a rollback half-way);
/// 3. finish or undo every transaction an interrupted command left in the scope's journal,
///    one line on stderr each;
/// then it hands out the transactions the command runs its steps in. `NamespaceChange` and
/// PCIDevices' `PCIChange` are the two scopes; both begin here, so the lock, the order and
/// the messages are the same for each. Per-name locks (a VM's, a network's) must be taken
/// before, as `HostLock` requires. Not Sendable: one thread.
open class ScopedChange {
    public let lock: HostLock
    public let signals: DeferredSignals
    /// `qnet bridge create br0 --uplink eth0`: the command as typed, for messages and the journal.
    public let command: String
    public let journal: Journal
    /// The network namespace the scope's journals are written in (nil: a host-wide scope).
    private let journalNamespace: NetworkNamespaceIdentity?
    private let makeRegistry: () -> RecoveryRegistry
    /// Built on first use: most runs find no journal to recover, and building the handlers
    /// of every record kind was a third of what the QEMU hook (`qemu-ifup TAP`) runs.
    public private(set) lazy var registry: RecoveryRegistry = makeRegistry()
    /// This command's transactions, whose interruptions `finish` reports.
    private var transactions: [HostTransaction] = []
    /// Whether the deferral began here (and ends with this change) or is the caller's.
    private let ownsSignals: Bool

    /// Steps 1 and 2 above for `scope` (step 3 is `recoverAbandoned`, which the subclasses'
    /// `begin` calls once they are built). `signals`: a deferral the caller began already (it
    /// then spans more than this change); else one begins here, after the lock (Ctrl-C while
    /// waiting for the lock stops qnet at once: nothing is changed yet). Throws
    /// `HostLockBusy` when the wait times out.
    public init(scope: HostLockScope, namespace: NetworkNamespaceIdentity?, command: String, journal: Journal,
                lockDirectory: String, lockWait: Duration, signals: DeferredSignals?,
                registry: @escaping () -> RecoveryRegistry) throws {
        lock = try HostLock.acquire(scope, in: lockDirectory, command: command, timeout: lockWait) { busy in
            writeStandardError("qnet: waiting: \(busy)\n")
        }
        // This process is single-threaded, so the mask covers it all.
        self.signals = try signals ?? DeferredSignals()
        signal(SIGPIPE, SIG_IGN)
        ownsSignals = signals == nil
        journalNamespace = namespace
        self.command = command
        self.journal = journal
        makeRegistry = registry
    }

    deinit {
        // A signal after the last safe point of a command that failed anyway: taken, so the
        // restored mask does not end the process before it reports its error (the change
        // was undone or finished already). A caller's deferral keeps its signals.
        if ownsSignals { _ = signals.takeAll() }
    }

    /// Finishes or undoes the transactions interrupted commands left in this scope.
    /// Returns the reports (each also printed on stderr, one line each, unless `print` is
    /// false). Throws `RecoveryFailed` when a left-over transaction cannot be put right
    /// (nothing more is changed on a host in an unknown state).
    @discardableResult
    public func recoverAbandoned(print: Bool = true) throws -> [RecoveryReport] {
        let reports = try journal.recoverAbandoned(scope: lock.scope.key, namespace: journalNamespace, registry: registry,
                                                   pause: { [signals, command] in
            if let signal = signals.take() {
                writeStandardError("qnet: \(signalName(signal)): finishing the recovery first (before `\(command)`)\n")
            }
        })
        if print { for report in reports { writeStandardError("qnet: \(report)\n") } }
        if let failed = reports.first(where: { !$0.succeeded }) { throw RecoveryFailed(report: failed) }
        return reports
    }

    /// A transaction of this command, journaled in the scope.
    public func transaction() -> HostTransaction {
        // The change's registry, built only if the transaction rolls back (weakly: the
        // change holds its transactions).
        let make = makeRegistry
        let transaction = HostTransaction(scope: lock.scope.key, command: command, namespace: journalNamespace,
                                          journal: journal, lazyRegistry: { [weak self] in self?.registry ?? make() },
                                          signals: signals)
        transactions.append(transaction)
        return transaction
    }

    /// Runs `body` in a transaction and commits it; rolls back on any error.
    public func run<T>(_ body: (HostTransaction) throws -> T) throws -> T {
        let transaction = transaction()
        do {
            let result = try body(transaction)
            try transaction.commit()
            return result
        } catch {
            transaction.rollBack()
            throw error
        }
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
