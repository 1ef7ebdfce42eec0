import Glibc
import HostNetwork
import QNetSystem

// Journal records of `qnet apply` beyond the link, bridge and network records it shares
// with the other commands: one apply is one transaction, so defining a network and starting
// a VM are recorded in the same journal as the links, and a failure at any step (or a
// kill, followed by the next command's recovery) takes them back too.

/// `apply` is about to store `network`'s definition; `previous` is the one it replaces
/// (nil: there was none). Undo: put `previous` back, or remove the definition.
struct AppliedNetworkDefinitionRecord: JournalRecord {
    static let kind = "apply-network-definition"
    var network: String
    var previous: NetworkDefinition?
}

/// `apply` is about to start VM `vm` (as `qnet vm run`, in-process, so `starter` is the
/// apply's own identity); `qemu` is filled in once QEMU runs, before the guest is
/// continued. Undo: stop that QEMU and remove what the VM held (`vm kill`). With no QEMU
/// recorded, the start was cut short before its QEMU was continued: what it left (a paused
/// QEMU, passt, the VM's directory) is the VM's own interrupted start, repaired as `vm list`
/// repairs one.
struct AppliedVMRecord: JournalRecord {
    static let kind = "apply-vm"
    var vm: String
    var netns: String?
    var qemu: ProcessIdentity?
}

/// The record kinds `qnet apply` adds, with their recovery handlers.
public enum ApplyRecords {
    public static func recoveryRegistry(host: HostNetwork, store: NetworkStore = NetworkStore()) -> RecoveryRegistry {
        var registry = RecoveryRegistry()
        registry.register(AppliedNetworkDefinitionRecord.self) { record, context in
            guard context.direction == .rollBack else { return nil }
            if let previous = record.previous {
                try store.save(previous)
                return "network \(record.network)'s previous definition is back"
            }
            guard store.contains(record.network) else { return nil }
            store.removeDefinition(record.network)
            return "network \(record.network) is undefined again"
        }
        registry.register(AppliedVMRecord.self) { record, context in
            guard context.direction == .rollBack else { return nil }
            let manager = VMManager(host: host, netns: record.netns, kvmRunsGuests: { _ in (false, "not starting VMs") })
            // First what the VM's own recovery does with a start cut short (`liveStates`): a
            // paused QEMU whose starter is gone is stopped and its directory removed, a running
            // one adopted (skipped while another start of it holds its lock).
            _ = try manager.liveStates()
            // Then the QEMU this apply started, if it still runs: stopped like `vm kill`.
            guard let qemu = record.qemu, qemu.isRunning else { return nil }
            try manager.kill(record.vm)
            return "VM \(record.vm) stopped (QEMU pid \(qemu.pid))"
        }
        return registry
    }
}
