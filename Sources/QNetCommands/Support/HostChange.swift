import Glibc
import HostNetwork
import PCIDevices
import QNetSystem
import VirtualMachines

/// The recovery dispatcher: every journal record kind qnet writes, with the code that rolls
/// it back or completes it. Each layer registers its own kinds (HostNetwork: the uplink
/// move); this is the one place that knows them all, so any command can recover any
/// journal an interrupted command left.
enum Recovery {
    static func registry(host: HostNetwork) -> RecoveryRegistry {
        var registry = NetworkManager.namespaceRecoveryRegistry(host: host)
        // PCI records (a bind or VF count journaled inside a namespace's transaction, as
        // `vm run` may) are recovered too; their own commands use the `pci` scope.
        registry.merge(PCIHost(sysfs: PCIAccess.sysfs, stateDirectory: PCIAccess.stateDirectory).recoveryRegistry)
        return registry
    }

    /// Where journals live: under the runtime directory (gone at reboot, like what they undo).
    static var journal: Journal { Journal(directory: QNetPaths.journal) }

    /// Where lock files live.
    static var lockDirectory: String { QNetPaths.locks }
}

/// A command that changes a network namespace, from start to end:
/// 1. enter the namespace (`--netns`) and open rtnetlink there;
/// 2. lock, defer signals and recover, as every change does (`NamespaceChange`);
/// 3. hand out the transactions the command runs its steps in.
///
/// Read-only commands (show, list, status, doctor) use `GlobalOptions.openHost()` instead:
/// no lock, never blocked by a change in progress.
final class HostChange {
    let host: HostNetwork
    let change: NamespaceChange

    var lock: HostLock { change.lock }
    var command: String { change.command }

    /// How long a second command waits for the lock before it gives up, naming the holder.
    static let lockWait: Duration = .seconds(30)

    private init(host: HostNetwork, change: NamespaceChange) {
        self.host = host
        self.change = change
    }

    /// Steps 1-2 above. Throws `HostLockBusy` when the wait times out, and
    /// `RecoveryFailed` when a left-over transaction cannot be put right.
    static func begin(_ global: GlobalOptions, recovering: Bool = true) throws -> HostChange {
        try begin(host: global.openHost(), namespaceName: global.netns, recovering: recovering)
    }

    /// Step 2 for a host already open (in the namespace named `namespaceName`, nil for
    /// this process's own): what the commands run without the parser (`FastPath`) use.
    static func begin(host: HostNetwork, namespaceName: String?, recovering: Bool = true) throws -> HostChange {
        let change = try NamespaceChange.begin(namespace: try NetworkNamespaceIdentity.current(), name: namespaceName,
                                               command: commandLine(), journal: Recovery.journal,
                                               lockDirectory: Recovery.lockDirectory, lockWait: lockWait,
                                               recovering: recovering, registry: { Recovery.registry(host: host) })
        return HostChange(host: host, change: change)
    }

    /// Finishes or undoes the transactions interrupted commands left in this namespace.
    @discardableResult
    func recoverAbandoned(print: Bool = true) throws -> [RecoveryReport] {
        try change.recoverAbandoned(print: print)
    }

    /// A transaction of this command, journaled in the namespace's scope.
    func transaction() -> HostTransaction { change.transaction() }

    /// Commits `transaction`: its journal goes, the change is done. Call before printing
    /// the outcome (a kill between the two then loses only the message, never the change).
    func commit(_ transaction: HostTransaction) throws {
        try transaction.commit()
    }

    /// After the outcome is printed: throws `Interrupted` when a signal arrived during the
    /// transaction but after its point of no return (the change was finished first), so
    /// qnet still exits 128 + the signal (`ScopedChange.finish`, which looks at every
    /// transaction of the change, `transaction` among them).
    func finish(_ transaction: HostTransaction) throws {
        try change.finish()
    }

    /// Runs `body` in a transaction of its own and commits it (`ScopedChange.run`: on failure
    /// the transaction is rolled back; the verbs in HostNetwork roll back their own records
    /// already), then reports a signal that arrived past the point of no return (`finish`).
    func run<T>(_ body: (HostTransaction) throws -> T) throws -> T {
        let result = try change.run(body)
        try change.finish()
        return result
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
