import Glibc

/// A change to the host in several steps that either happens completely or not at all —
/// also when the process is killed part-way, or interrupted by Ctrl-C, `kill` or a lost
/// SSH session.
///
/// Use (under the scope's `HostLock`):
/// ```
/// let transaction = HostTransaction(scope: lock.scope.key, command: "bridge create br0 --uplink eth0",
///                                   journal: journal, registry: registry, signals: deferred)
/// try transaction.record(undo: UplinkMoveRecord(...))   // durable before the first change
/// try transaction.step("enslave uplink")                // progress; a safe point for signals
/// ...                                                   // the changes
/// try transaction.markPointOfNoReturn()                 // optional: from here recovery completes
/// try transaction.commit()                              // the journal is removed
/// ```
/// and on any error `transaction.rollBack()`, which runs the same handlers (from `registry`)
/// that a later command runs on the journal after a kill — so every test of an in-process
/// failure also tests crash recovery.
///
/// Write-ahead: each `record` and `step` rewrites the journal atomically before returning,
/// so at any instant the file describes every change that may have been made (for a
/// killed process; see `Journal` for why it is not fsync'ed). Records must therefore describe changes before they are made, and
/// their handlers must accept a change that was never made (or made half-way).
///
/// Signals: with `signals` (a `DeferredSignals` the caller made, blocking SIGINT, SIGTERM
/// and SIGHUP), `step` is the safe point: a signal that arrived is taken there and thrown
/// as `Interrupted`, so the caller rolls back and exits 128 + the signal. Past the point of
/// no return `step` remembers the signal instead and the transaction runs to its end;
/// `interruption` then tells the caller to exit with it. A signal arriving during a
/// rollback is taken and reported through `notice` (Ctrl-C again: "finishing").
///
/// Without `journal` the records live only in memory (library use, tests): the rollback
/// on failure is the same, only a kill cannot be recovered. Not Sendable: one thread.
public final class HostTransaction {
    public let command: String
    private(set) public var entry: JournalEntry
    private let journal: Journal?
    private let makeRegistry: () -> RecoveryRegistry
    /// Built when first needed (a rollback, a completion): building every record kind's
    /// handlers was 0.44 M of `qnet tap create`'s 3.2 M instructions (callgrind), and a
    /// transaction that commits never needs them.
    private lazy var registry: RecoveryRegistry = makeRegistry()
    private let signals: DeferredSignals?
    /// Where messages for the user go during a rollback (a second Ctrl-C); stderr by default.
    public var notice: (String) -> Void = { writeStandardError("qnet: \($0)\n") }
    /// The signal taken at a safe point (and thrown, or kept past the point of no return).
    public private(set) var interruption: Int32?
    private var finished = false
    private var written = false

    /// `scope` is the lock's key; `namespace` the identity of the namespace it protects (for
    /// namespace scopes), so a journal is never applied to another namespace.
    public convenience init(scope: String, command: String, namespace: NetworkNamespaceIdentity? = nil, journal: Journal?,
                            registry: RecoveryRegistry, signals: DeferredSignals? = nil) {
        self.init(scope: scope, command: command, namespace: namespace, journal: journal, lazyRegistry: { registry }, signals: signals)
    }

    /// The same with the registry made by `lazyRegistry` when first needed.
    public init(scope: String, command: String, namespace: NetworkNamespaceIdentity? = nil, journal: Journal?,
                lazyRegistry: @escaping () -> RecoveryRegistry, signals: DeferredSignals? = nil) {
        self.command = command
        self.journal = journal
        self.makeRegistry = lazyRegistry
        self.signals = signals
        let owner = ProcessIdentity.current() ?? ProcessIdentity(pid: getpid(), startTime: 0, executable: nil)
        entry = JournalEntry(header: JournalHeader(scope: scope, command: command, owner: owner, namespace: namespace))
    }

    deinit {
        // A transaction dropped without commit or rollback (a programming error, or an
        // error thrown past it) is rolled back, as if the process had died.
        if !finished && !entry.records.isEmpty { _ = rollBack() }
    }

    /// Records what the next change will do and how to take it back, durably, before the
    /// change is made. Returns the record's position for `update`.
    @discardableResult
    public func record<Record: JournalRecord>(undo record: Record) throws -> Int {
        // A programming error, caught by the debug builds the tests run (checking it in a
        // release build would build the registry on every command).
        assert(registry.knows(Record.kind), "record kind '\(Record.kind)' is not in the transaction's registry")
        entry.records.append(try EncodedRecord(record))
        try persist()
        return entry.records.count - 1
    }

    /// Replaces a record (it learned more: an index the kernel chose, a pid), durably.
    public func update<Record: JournalRecord>(_ position: Int, to record: Record) throws {
        entry.records[position] = try EncodedRecord(record)
        try persist()
    }

    /// Notes that the step `name` begins (durably) and is a safe point for deferred
    /// signals: throws `Interrupted` when one arrived, unless past the point of no return.
    public func step(_ name: String) throws {
        entry.steps.append(name)
        if written { try persist() }
        try safePoint()
    }

    /// From here on, recovery (and a signal) completes the transaction instead of rolling it
    /// back: what is done can no longer be undone (a deleted bridge loses its ports).
    public func markPointOfNoReturn() throws {
        entry.pastPointOfNoReturn = true
        if written { try persist() }
    }

    public var isPastPointOfNoReturn: Bool { entry.pastPointOfNoReturn }

    /// Every change is made: the journal is removed (the removal is the commit point).
    public func commit() throws {
        if written, let journal { try journal.remove(entry) }
        finished = true
        if interruption == nil { interruption = signals?.take() }
    }

    /// Takes back every recorded change, newest first, with the registry's handlers; the
    /// journal is removed when all succeeded and kept (for `qnet recover`) when not.
    /// Returns the failures (empty: the host is as it was).
    @discardableResult
    public func rollBack() -> [String] {
        guard !finished else { return [] }
        finished = true
        let (_, failures) = registry.act(on: entry, direction: .rollBack, pause: { [self] in noticeSignals(finishing: "undoing") })
        if failures.isEmpty, written, let journal { try? journal.remove(entry) }
        return failures
    }

    /// Finishes a transaction past its point of no return with the registry's handlers (as
    /// recovery does), for a failure after that point. Returns the failures.
    @discardableResult
    public func complete() -> [String] {
        guard !finished else { return [] }
        finished = true
        let (_, failures) = registry.act(on: entry, direction: .complete, pause: { [self] in noticeSignals(finishing: "finishing") })
        if failures.isEmpty, written, let journal { try? journal.remove(entry) }
        return failures
    }

    private func persist() throws {
        guard let journal else { return }
        try journal.write(entry)
        written = true
    }

    private func safePoint() throws {
        guard let signals, let signal = signals.take() else { return }
        if let signal = noteSignal(signal) { throw Interrupted(signal: signal) }
    }

    /// A point between two steps past the point of no return, where nothing is persisted:
    /// a signal that arrived is taken and the user told that the change is being finished
    /// (it is kept in `interruption` for the exit status).
    public func pastPointOfNoReturnPause() {
        precondition(entry.pastPointOfNoReturn, "pastPointOfNoReturnPause before markPointOfNoReturn")
        guard let signals, let signal = signals.take() else { return }
        _ = noteSignal(signal)
    }

    /// Keeps and announces `signal`; returns it when it should stop the transaction (the
    /// first one, before the point of no return).
    private func noteSignal(_ signal: Int32) -> Int32? {
        if interruption != nil {
            notice("\(signalName(signal)) again: finishing `\(command)` first (it cannot stop half-way)")
            return nil
        }
        interruption = signal
        if entry.pastPointOfNoReturn {
            notice("\(signalName(signal)): finishing `\(command)` first (it is past the point where it can be undone)")
            return nil
        }
        return signal
    }

    private func noticeSignals(finishing verb: String) {
        guard let signal = signals?.take() else { return }
        if interruption == nil { interruption = signal }
        notice("\(signalName(signal)) again: \(verb) `\(command)` first, so the host is not left half-changed")
    }
}

/// Writes `text` to standard error unbuffered (ignoring failures: a closed terminal must
/// not stop a rollback).
public func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 && errno == EINTR { continue }
        if written <= 0 { return }
        offset += written
    }
}
