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
            --state-dir DIR), prints the changes it will make, and makes them: link changes as one journaled \
            transaction (undone completely on failure or interruption), then defines and starts networks and \
            VMs marked autostart. A second apply prints "nothing to do" and changes nothing. \
            --try keeps the change only if confirmed (Enter, or `qnet apply --confirm` from another shell) \
            before --timeout; otherwise, or on SIGHUP, it is rolled back exactly, also if this qnet is killed.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Only print the changes.")
    var dryRun = false

    @Flag(help: "Also delete bridges and TAPs qnet made that are no longer declared.")
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
        let change = try HostChange.begin(global)
        if boot { waitForUplinks(configuration, host: change.host) }
        let plan = try planner(change.host).plan(configuration, prune: prune)
        printPlan(plan, header: "will")
        guard !plan.isEmpty else { return }
        let executor = ApplyExecutor(host: change.host, userID: Accounts.userID, groupID: Accounts.groupID)
        let transaction = change.transaction()
        do {
            _ = try executor.applyLinks(plan, configuration: configuration, transaction: transaction)
        } catch {
            transaction.rollBack()
            throw error
        }
        if trial, !transaction.entry.records.isEmpty {
            try ApplyTrialControl(global: global).wait(change: change, transaction: transaction, timeout: timeout)
        } else {
            try change.commit(transaction)
            try change.finish(transaction)
        }
        change.lock.release()
        try startServices(plan, host: change.host)
        print("applied \(plan.changes.count) change\(plan.changes.count == 1 ? "" : "s")")
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

    /// Networks and VMs, after the link transaction (each takes its own locks).
    private func startServices(_ plan: ApplyPlan, host: HostNetwork) throws {
        let networks = NetworkManager(host: host)
        _ = try ApplyExecutor.defineNetworks(plan, manager: networks)
        for change in plan.changes {
            switch change {
            case let .startNetwork(name): try networks.start(name)
            case let .startVM(definition): _ = try VMFactory.manager(host: host, global: global).run(definition)
            default: continue
            }
        }
    }
}
