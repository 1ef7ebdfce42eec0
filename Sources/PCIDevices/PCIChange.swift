import Glibc
import QNetSystem

/// What every command that changes PCI functions does before its first change: take the
/// host-wide `pci` lock (`/run/qnet/locks/pci.lock`; PCI functions belong to no network
/// namespace), defer SIGINT/SIGTERM/SIGHUP, and roll back what interrupted binds, releases
/// and VF-count changes left (journals of scope `pci`), one line on stderr each. Then it
/// hands out the transactions. Lock order: a VM's lock first, this one, the namespace's last.
/// Not Sendable: one thread.
public final class PCIChange {
    public static let scope = try! HostLockScope(key: "pci", displayName: "PCI device assignment")

    public let host: PCIHost
    public let lock: HostLock
    public let signals: DeferredSignals
    public let command: String
    public let journal: Journal
    private let ownsSignals: Bool
    private var transactions: [HostTransaction] = []

    private init(host: PCIHost, lock: HostLock, signals: DeferredSignals, ownsSignals: Bool, command: String, journal: Journal) {
        self.host = host
        self.lock = lock
        self.signals = signals
        self.ownsSignals = ownsSignals
        self.command = command
        self.journal = journal
    }

    deinit {
        if ownsSignals { _ = signals.takeAll() }
    }

    /// Locks (waiting up to `lockWait`, saying once who holds it), defers signals (or uses
    /// the caller's `signals`) and recovers. Throws `HostLockBusy` or `RecoveryFailed`.
    public static func begin(host: PCIHost, command: String, journal: Journal, lockDirectory: String,
                             lockWait: Duration = .seconds(30), signals: DeferredSignals? = nil,
                             recovering: Bool = true) throws -> PCIChange {
        let lock = try HostLock.acquire(scope, in: lockDirectory, command: command, timeout: lockWait) { busy in
            writeStandardError("qnet: waiting: \(busy)\n")
        }
        let deferred = try signals ?? DeferredSignals()
        signal(SIGPIPE, SIG_IGN)
        let change = PCIChange(host: host, lock: lock, signals: deferred, ownsSignals: signals == nil, command: command, journal: journal)
        if recovering { try change.recoverAbandoned() }
        return change
    }

    /// Rolls back every abandoned `pci` journal; each report printed on stderr unless
    /// `print` is false. Throws `RecoveryFailed` when one could not be.
    @discardableResult
    public func recoverAbandoned(print: Bool = true) throws -> [RecoveryReport] {
        let reports = try journal.recoverAbandoned(scope: Self.scope.key, registry: host.recoveryRegistry)
        if print { for report in reports { writeStandardError("qnet: \(report)\n") } }
        if let failed = reports.first(where: { !$0.succeeded }) { throw RecoveryFailed(report: failed) }
        return reports
    }

    /// A transaction journaled in the `pci` scope.
    public func transaction() -> HostTransaction {
        let transaction = HostTransaction(scope: Self.scope.key, command: command, journal: journal,
                                          registry: host.recoveryRegistry, signals: signals)
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

    /// After the outcome is printed: throws `Interrupted` for a signal that arrived after
    /// the last safe point (the change is complete), so qnet exits 128 + the signal.
    public func finish() throws {
        let pending = signals.takeAll()
        if let signal = transactions.lazy.compactMap(\.interruption).first ?? pending { throw Interrupted(signal: signal) }
    }
}
