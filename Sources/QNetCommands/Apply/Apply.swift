import ArgumentParser
import Glibc
import HostNetwork
import QNetSystem
import VirtualMachines

/// `qnet apply`: bring the host to the configuration under /etc/qnet (like `netplan apply`,
/// `ifreload -a`, `virsh net-autostart` + `virsh autostart` at boot).
struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Bring the host to the configuration under /etc/qnet: bridges, TAPs, networks, VMs.",
        discussion: """
            Reads CONFIG_DIR/{bridges,taps,networks,vms}/NAME.yaml (CONFIG_DIR is /etc/qnet, or DIR/etc with \
            --state-dir DIR), prints the changes it will make, and makes them: link changes, network definitions \
            and the starts of networks and VMs marked autostart, as one journaled transaction (undone \
            completely on failure or interruption, or by the next qnet command after a kill). A second apply prints "nothing to do" and changes nothing. \
            --try keeps the change only if confirmed (Enter, or `qnet apply --confirm` from another shell) \
            before --timeout; otherwise, or on SIGHUP, it is rolled back exactly, also if this qnet is killed.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Only print the changes.")
    var dryRun = false

    @Flag(help: "Also delete bridges, TAPs and routes qnet made that are no longer declared (after the rest is committed: deletions cannot be undone).")
    var prune = false

    @Flag(help: "Run at boot (qnet.service): wait up to 30 s for declared uplinks to appear; never prompt.")
    var boot = false

    @Flag(name: .customLong("try"), help: "Roll back unless confirmed before --timeout (netplan try).")
    var trial = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds --try waits for confirmation.", valueName: "seconds"), transform: Parse.seconds)
    var timeout: Double = 120

    @Flag(help: "Confirm the `qnet apply --try` that is waiting.")
    var confirm = false

    @Option(name: .customLong("config-dir"), help: ArgumentHelp("Read the configuration here instead of /etc/qnet.", valueName: "dir"))
    var configDirectory: String?

    @Flag(help: .hidden)
    var watchdog = false

    func validate() throws {
        if trial && (dryRun || boot) { throw ValidationError("--try cannot be combined with --dry-run or --boot") }
        if trial && prune { throw ValidationError("--try cannot be combined with --prune: a deleted device cannot be restored exactly") }
        if confirm && (trial || dryRun || prune || boot) { throw ValidationError("--confirm takes no other apply option") }
        if trial && !(1...86400).contains(timeout) { throw ValidationError("invalid timeout '\(timeout)': use 1 to 86400 seconds") }
    }

    func run() throws {
        if confirm { return try ApplyTrialControl(global: global).confirm() }
        if watchdog { return try ApplyTrialControl(global: global).watch() }
        if let stateDirectory = global.stateDirectory { setenv("QNET_STATE_DIR", stateDirectory, 1) }
        let configuration = try HostConfiguration.load(directory: configDirectory ?? QNetPaths.configuration)
        if dryRun {
            let host = try global.openHost()
            let plan = try planner(host).plan(configuration, prune: prune)
            printPlan(plan, header: "would")
            return
        }
        // Per-name locks first (every declared network, every autostart VM), the namespace's
        // last, as HostLock orders them: the whole apply is one transaction under all of them.
        let nameLocks = try lockNames(configuration)
        defer { for lock in nameLocks.all { lock.release() } }
        let change = try HostChange.begin(global)
        if boot { waitForUplinks(configuration, host: change.host) }
        let plan = try planner(change.host).plan(configuration, prune: prune)
        printPlan(plan, header: "will")
        guard !plan.isEmpty else { return }
        let executor = ApplyExecutor(host: change.host, userID: Accounts.userID, groupID: Accounts.groupID)
        let transaction = change.transaction()
        do {
            _ = try executor.applyLinks(plan, configuration: configuration, transaction: transaction)
            _ = try executor.applyServices(plan, transaction: transaction, change: change.change, networks: NetworkManager(host: change.host),
                                           vms: VMFactory.manager(host: change.host, global: global),
                                           vmLocks: nameLocks.vms)
        } catch {
            let failures = transaction.rollBack()
            if !failures.isEmpty { Output.printError("qnet: rolling back failed: \(failures.joined(separator: "; ")) (the journal is kept; run `qnet recover`)") }
            throw error
        }
        if trial, !transaction.entry.records.isEmpty {
            try ApplyTrialControl(global: global).wait(change: change, transaction: transaction, timeout: timeout)
        } else {
            try change.commit(transaction)
        }
        // --prune's deletions cannot be undone: after everything else is committed, on their own.
        if plan.changes.contains(where: \.isDeletion) {
            _ = try change.run { try executor.applyDeletions(plan, transaction: $0) }
        }
        print("applied \(plan.changes.count) change\(plan.changes.count == 1 ? "" : "s")")
        try change.finish(transaction)
    }

    /// The locks of every declared network and autostart VM, taken sorted by key (the order
    /// `HostLock` requires); each waits as long as a command waits for the namespace.
    private func lockNames(_ configuration: HostConfiguration) throws -> (all: [HostLock], vms: [String: HostLock]) {
        var scopes: [(scope: HostLockScope, vm: String?)] = try configuration.networks.map { (try .network($0.definition.name), nil) }
        scopes += try configuration.vms.filter(\.autostart).map { (try .virtualMachine($0.definition.name), $0.definition.name) }
        var all: [HostLock] = []
        var vms: [String: HostLock] = [:]
        do {
            for (scope, vm) in scopes.sorted(by: { $0.scope.key < $1.scope.key }) {
                let lock = try HostLock.acquire(scope, in: QNetPaths.locks, command: HostChange.commandLine(),
                                                timeout: HostChange.lockWait) { Output.printError("qnet: waiting: \($0)") }
                all.append(lock)
                if let vm { vms[vm] = lock }
            }
        } catch {
            for lock in all { lock.release() }
            throw error
        }
        return (all, vms)
    }

    private func planner(_ host: HostNetwork) throws -> ApplyPlanner {
        let running = Set(try VMFactory.manager(host: host, global: global).liveStates().map(\.name))
        return ApplyPlanner(host: host, runningVMs: running)
    }

    private func printPlan(_ plan: ApplyPlan, header: String) {
        for note in plan.notes { Output.printError("note: \(note)") }
        if plan.isEmpty { print("nothing to do: the host matches \(configDirectory ?? QNetPaths.configuration)"); return }
        print("qnet \(header) make \(plan.changes.count) change\(plan.changes.count == 1 ? "" : "s"):")
        for change in plan.changes { print("  \(change)") }
    }

    /// At boot the uplinks may not be there yet (udev renames, driver probes): wait for
    /// every declared uplink up to 30 s, polling every 100 ms; a missing one is then
    /// reported by the plan.
    private func waitForUplinks(_ configuration: HostConfiguration, host: HostNetwork) {
        let deadline = Deadline.after(seconds: 30)
        let uplinks = configuration.bridges.compactMap(\.uplink)
        while !deadline.hasPassed {
            let present = Set(((try? host.links()) ?? []).map(\.name))
            if uplinks.allSatisfy(present.contains) { return }
            usleep(100_000)  // poll interval (100 ms); bounded by the 30 s deadline above
        }
    }
}
