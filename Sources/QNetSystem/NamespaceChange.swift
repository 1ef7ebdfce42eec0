/// A `ScopedChange` in one network namespace: its lock is keyed by the namespace's identity
/// (not its name) and its journals recover only in that namespace. The CLI's verbs
/// (QNetCommands' `HostChange`), the network manager (`net start|stop|delete`) and `vm run`
/// (while it makes its TAPs) all begin here.
public final class NamespaceChange: ScopedChange {
    public let namespace: NetworkNamespaceIdentity

    private init(namespace: NetworkNamespaceIdentity, name: String?, command: String, journal: Journal,
                 lockDirectory: String, lockWait: Duration, signals: DeferredSignals?,
                 registry: @escaping () -> RecoveryRegistry) throws {
        self.namespace = namespace
        try super.init(scope: .networkNamespace(namespace, name: name), namespace: namespace, command: command,
                       journal: journal, lockDirectory: lockDirectory, lockWait: lockWait, signals: signals,
                       registry: registry)
    }

    /// Locks, defers signals and recovers (see `ScopedChange`) for the namespace `namespace`
    /// (named `name`, nil for this process's own). Throws `HostLockBusy` when the wait times
    /// out, and `RecoveryFailed` when a left-over transaction cannot be put right.
    public static func begin(namespace: NetworkNamespaceIdentity, name: String?, command: String, journal: Journal,
                             lockDirectory: String, lockWait: Duration, signals: DeferredSignals? = nil,
                             recovering: Bool = true, registry: @escaping () -> RecoveryRegistry) throws -> NamespaceChange {
        let change = try NamespaceChange(namespace: namespace, name: name, command: command, journal: journal,
                                         lockDirectory: lockDirectory, lockWait: lockWait, signals: signals,
                                         registry: registry)
        if recovering { try change.recoverAbandoned() }
        return change
    }
}
