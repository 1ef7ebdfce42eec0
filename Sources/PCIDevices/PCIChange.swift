import QNetSystem

/// A `ScopedChange` for PCI functions: the host-wide `pci` lock (`/run/qnet/locks/pci.lock`;
/// PCI functions belong to no network namespace), and the rollback of what interrupted
/// binds, releases and VF-count changes left (journals of scope `pci`). Lock order: a VM's
/// lock first, this one, the namespace's last.
public final class PCIChange: ScopedChange {
    public static let scope = try! HostLockScope(key: "pci", displayName: "PCI device assignment")

    public let host: PCIHost

    private init(host: PCIHost, command: String, journal: Journal, lockDirectory: String, lockWait: Duration,
                 signals: DeferredSignals?) throws {
        self.host = host
        try super.init(scope: Self.scope, namespace: nil, command: command, journal: journal,
                       lockDirectory: lockDirectory, lockWait: lockWait, signals: signals,
                       registry: { host.recoveryRegistry })
    }

    /// Locks (waiting up to `lockWait`, saying once who holds it), defers signals (or uses
    /// the caller's `signals`) and recovers. Throws `HostLockBusy` or `RecoveryFailed`.
    public static func begin(host: PCIHost, command: String, journal: Journal, lockDirectory: String,
                             lockWait: Duration = .seconds(30), signals: DeferredSignals? = nil,
                             recovering: Bool = true) throws -> PCIChange {
        let change = try PCIChange(host: host, command: command, journal: journal, lockDirectory: lockDirectory,
                                   lockWait: lockWait, signals: signals)
        if recovering { try change.recoverAbandoned() }
        return change
    }
}
