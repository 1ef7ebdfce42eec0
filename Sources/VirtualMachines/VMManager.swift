import CLinuxNet
import Glibc
import QEMU
import HostNetwork
import Netlink
import PCIDevices
import QNetSystem
import QNetTypes

/// A running VM as `qnet vm list` reports it.
public struct VMStatus: Codable, Equatable, Sendable {
    public var name: String
    public var pid: Int32
    /// QEMU's run state from QMP `query-status` ("running", "paused", "shutdown", ...),
    /// or "unresponsive" when QMP does not answer.
    public var runState: String
    public var accel: Acceleration
    public var user: String
    public var netns: String?
    public var uptimeSeconds: Double
    public var nics: [NICState]
    public var consoleLog: String
}

/// Starts, lists and stops QEMU VMs whose NICs are TAPs opened by qnet.
///
/// qnet opens each NIC's TAP itself (transient, IFF_VNET_HDR, one descriptor per queue),
/// attaches it to its bridge with the bridge's MTU, and hands the descriptors to QEMU
/// (`-netdev tap,fd=N`), so QEMU needs no privilege and runs as an ordinary user. Because
/// the TAPs are transient they vanish whenever QEMU exits, even on `kill -9`.
/// Equivalent to the recipe's `qemu-kvm ... -net nic -net tap,ifname=tap1,script=/etc/qemu-ifup`.
/// Needs CAP_NET_ADMIN (TAPs), CAP_SETUID/CAP_SETGID (dropping to the user).
public final class VMManager {
    public let host: HostNetwork
    /// The named namespace the VMs' TAPs live in (recorded in the state; QEMU itself needs
    /// no namespace because it only uses the descriptors it is given).
    public let netns: String?
    /// Prints one-line notices (accelerator choice, warnings).
    public var notice: (String) -> Void = { _ in }
    /// How long to wait for QEMU's QMP socket after starting it.
    public var startTimeout: Double = 15
    /// The signal that arrived after the last `run` passed its point of no return (QEMU was
    /// continued): the VM runs, and the CLI exits 128 + the signal after saying so.
    public private(set) var interruption: Interrupted?
    /// The uids VMs' QEMUs get when `--user` names none (nil: `QNET_UID_RANGE`, else the default).
    public var userRange: VMUserRange?
    /// Decides whether KVM can run guests; `auto` falls back to TCG when it says no.
    public var kvmRunsGuests: (String) -> (usable: Bool, reason: String)
    /// Where passthrough NICs' PCI functions are read and bound (a fixture tree in tests).
    public var pciSysfs: PCISysfs = .host
    /// Adjusts the PCIHost passthrough uses (tests: no modprobe, short bind timeout).
    public var configurePCI: (PCIHost) -> Void = { _ in }
    /// Reads and sets VF MACs and VLANs for `vf=` NICs (rtnetlink on the PF, in this namespace).
    public var virtualFunctions: VirtualFunctionControl
    /// Runs QEMU's spawn with RLIMIT_MEMLOCK raised for passthrough (tests on a host whose
    /// root lacks CAP_SYS_RESOURCE replace it to reach QEMU itself).
    var withLockedMemory: (UInt64, () throws -> Int32) throws -> Int32 = PassthroughAssignment.withLockedMemoryLimit

    public init(host: HostNetwork, netns: String? = nil, kvmRunsGuests: @escaping (String) -> (usable: Bool, reason: String)) {
        self.host = host
        self.netns = netns
        self.kvmRunsGuests = kvmRunsGuests
        virtualFunctions = .rtnetlink(host)
    }

    // MARK: - run

    /// Starts a VM paused, checks every NIC is on its bridge, then continues it.
    /// With `foreground`, waits until QEMU exits and removes the VM's state.
    /// Every step taken is undone when a later one fails.
    ///
    /// Orphan-proof against a kill of qnet at any instruction: under the VM's name lock,
    /// a `starting` record (qnet's identity, the QEMU binary) is written before anything
    /// changes, state.json with QEMU's identity right after the spawn and again, without
    /// the starter, once QEMU runs. The next command (`liveStates`) adopts a running QEMU
    /// or kills a paused one; the TAPs, held only by qnet and QEMU, vanish with them.
    ///
    /// SIGINT, SIGTERM and SIGHUP wait for the safe points between the steps: there the
    /// start is undone and `Interrupted` thrown (exit 128 + the signal); once QEMU was
    /// continued the start is finished instead and the signal kept in `interruption`.
    /// The TAPs are made under the namespace's lock, after recovering what interrupted
    /// commands left in the namespace (`NamespaceChange`).
    @discardableResult
    public func run(_ definition: VMDefinition, foreground: Bool = false) throws -> VMState {
        try run(definition, foreground: foreground, enclosing: nil)
    }

    /// A start that is one step of a larger transaction (`qnet apply`): the caller already
    /// holds the VM's name lock (taken before the namespace's, as `HostLock` orders them)
    /// and the namespace's (`change`, under which the TAPs are made), and hears QEMU's
    /// identity (`spawned`) once it is on disk and before the guest is continued, to journal
    /// it: rolling the caller's transaction back then stops this QEMU.
    public struct EnclosingChange {
        public var vmLock: HostLock
        public var change: NamespaceChange
        public var spawned: (ProcessIdentity) throws -> Void

        public init(vmLock: HostLock, change: NamespaceChange, spawned: @escaping (ProcessIdentity) throws -> Void) {
            self.vmLock = vmLock
            self.change = change
            self.spawned = spawned
        }
    }

    @discardableResult
    public func run(_ definition: VMDefinition, foreground: Bool = false, enclosing: EnclosingChange?) throws -> VMState {
        try definition.validate()
        interruption = nil
        let lock = try enclosing?.vmLock ?? lockForStart(definition.name)
        defer { if enclosing == nil { lock.release() } }
        let signals = try DeferredSignals()
        defer { signals.restore() }
        var plan = try prepare(definition)
        let undo = UndoStack()
        var succeeded = false
        defer {
            if !succeeded {
                undo.rollback()
                if let again = signals.takeAll() {
                    notice("\(signalName(again)) again: undid the start of VM \(definition.name) first, so nothing is left half-made")
                }
            }
        }

        try signals.checkpoint()
        let files = try makeDirectory(for: &plan, undo: undo)
        let logDescriptor = try createLog(files)
        defer { close(logDescriptor) }
        try signals.checkpoint()
        let taps = try enclosing != nil ? createTAPs(for: plan) : createTAPsLocked(for: plan, signals: signals)
        // QEMU holds the TAP descriptors once it runs; qnet's copies close when this scope ends.
        defer { for tap in taps.values { tap.close() } }
        // Anti-spoofing: which NICs are filtered, with which addresses (DHCP reservations written now).
        let portFilters = try VMPortFilters.prepare(definition, macs: plan.macs, taps: taps.mapValues(\.name), undo: undo)
        try signals.checkpoint()
        let passts = try startPassts(for: plan, files: files, undo: undo, signals: signals)
        let passthrough = try attachPassthrough(plan, files: files, undo: undo, signals: signals)
        var (interfaces, descriptors) = try networkInterfaces(for: plan, taps: taps, passts: passts)
        // The QMP socket, console log, disks, CD, kernel and initrd go to QEMU as descriptors
        // too: it needs no access to the VM's directory or to any image's path.
        let handover = try QEMUHandover.open(definition, directory: files.descriptor, qmpSocket: files.qmpSocket,
                                             consoleLog: files.consoleLog, user: plan.user,
                                             firstDescriptor: Int32(3 + descriptors.count))
        descriptors.merge(handover.descriptors) { ours, _ in ours }
        let arguments = try QEMUArgumentsBuilder.arguments(
            for: handover.applied(to: definition), accel: plan.accel, qmpSocketDescriptor: handover.qmpDescriptor,
            consoleLog: handover.consoleLog, descriptorSets: handover.descriptorSets,
            diskFormats: definition.disks.map(QEMUArgumentsBuilder.detectFormat), networkInterfaces: interfaces,
            hostDevices: QEMUArgumentsBuilder.hostDevices(Dictionary(uniqueKeysWithValues: passthrough.map { ($0.nic, $0.address) })))
        let spawn = { try self.spawnQEMU(plan, arguments: arguments, descriptors: descriptors, output: logDescriptor, foreground: foreground) }
        // VFIO pins all guest RAM for DMA: QEMU inherits a memlock limit that covers it.
        let pid = try passthrough.isEmpty ? spawn()
            : withLockedMemory(PassthroughAssignment.lockedMemoryBytes(memoryMiB: definition.memory), spawn)
        handover.close()
        undo.push("stop QEMU \(pid)") { Glibc.kill(pid, SIGKILL); _ = Subprocess.wait(pid) }
        guard let qemuIdentity = waitForIdentity(of: pid) else {
            throw VMError.qemuExited(Subprocess.reapIfExited(pid), output: VMStore.readText(files.qemuLog))
        }
        // QEMU's identity on disk before anything else: from here a kill leaves a state the
        // next command can act on (adopt or kill), never an untracked QEMU.
        var state = runningState(plan, qemu: qemuIdentity, arguments: arguments, files: files, taps: taps, passts: passts)
        state.starter = ProcessIdentity.current()
        state.portFilters = portFilters.isEmpty ? nil : portFilters
        state.passthrough = passthrough.isEmpty ? nil : passthrough
        try VMStore.save(state)
        try enclosing?.spawned(qemuIdentity)
        // The filters go in while QEMU is still paused (-S): the guest's first frame meets them.
        // Recorded in the state first, so whoever finds this VM dead removes them, and
        // journaled in the bridge table's scope until the guest runs (also within `qnet
        // apply`, whose own journal stops this QEMU as well): the next filter change in the
        // namespace, or `qnet recover`, rolls a killed start back (its paused QEMU stopped,
        // its rules removed).
        let filterTransaction = try VMPortFilters.applyJournaled(
            portFilters, vm: definition.name, qemu: qemuIdentity, host: host,
            command: enclosing == nil ? "qnet vm run \(definition.name)" : "qnet apply: start VM \(definition.name)")
        undo.push("remove the anti-spoofing rules") {
            if let transaction = filterTransaction { try? VMPortFilters.rollBack(transaction, host: self.host) }
            self.releaseNetworkResources(definition.name, state)
        }
        try signals.checkpoint()

        let control = try connect(files.qmpSocket, pid: pid, startTime: qemuIdentity.startTime, qemuLog: files.qemuLog)
        defer { control.close() }
        // Started paused (-S): only continue once every NIC is on its bridge.
        try checkAttached(taps, plan: plan)
        try signals.checkpoint()
        // From here a kill leaves a guest that may run: recovery keeps its rules while it does.
        try filterTransaction?.markPointOfNoReturn()
        try control.cont()

        // The point of no return: the guest runs. A signal from here on finishes the start.
        state.starter = nil
        try VMStore.save(state)
        VMStore.removeStarting(definition.name)
        try filterTransaction?.commit()
        succeeded = true
        if let signal = signals.takeAll() {
            notice("\(signalName(signal)): finished starting VM \(definition.name) first (it was already running)")
            interruption = Interrupted(signal: signal)
        }

        if foreground {
            if enclosing == nil { lock.release() }
            // Ctrl-C reaches QEMU (same session) and qnet alike, as before the start.
            signals.restore()
            for tap in taps.values { tap.close() }
            control.close()
            _ = Subprocess.wait(pid)
            for passt in passts.values { passt.stop(grace: 2) }
            releaseNetworkResources(definition.name, state)
            releasePassthrough(definition.name, state.passthrough)
            VMStore.remove(definition.name)
        }
        return state
    }

    /// Everything decided before anything is changed on the host.
    struct LaunchPlan {
        var definition: VMDefinition
        var qemu: String
        /// Who QEMU runs as and owns the TAPs: `--user`, or a uid of its own from the VM
        /// uid range (`allocatesUser`, set once allocated), or root's own user when qnet
        /// does not run as root.
        var user: UserAccount
        /// Who QEMU and passt run as (nil: stay as qnet's own user).
        var runAs: UserAccount?
        /// QEMU gets a uid of its own from the range, allocated with the VM's directory.
        var allocatesUser: Bool
        var accel: Acceleration
        var macs: [MACAddress]
        /// Each TAP NIC's bridge and interface group, by NIC index (user-mode NICs have none).
        var bridges: [Int: (bridge: String, group: UInt32?)]
        /// Each passthrough NIC's PCI function (a VF's own) and, for `vf=`, its PF's interface.
        var passthrough: [Int: (address: PCIAddress, pfInterface: String?)] = [:]

        /// Indices of the NICs that get a TAP, in order.
        var tapIndices: [Int] { definition.nics.indices.filter { bridges[$0] != nil } }
    }

    /// The files of one VM in its state directory.
    struct VMFiles {
        var directory: String
        /// The VM's directory, open (root's, 0700; every file in it is opened through this).
        var descriptor: DirectoryDescriptor
        var consoleLog: String
        var qemuLog: String
        var qmpSocket: String
        /// This `vm run`, as the `starting` record names it.
        var starter: ProcessIdentity
    }

    /// Checks everything that needs no change to the host: values, QEMU, the user, files,
    /// the name, MACs, bridges and networks, user-mode host ports; picks the accelerator.
    private func prepare(_ definition: VMDefinition) throws -> LaunchPlan {
        try definition.validate()
        let qemu = try QEMUBinary.systemEmulator()
        // Without --user, root gives QEMU a uid of its own (allocated with the directory);
        // another user's qnet runs QEMU as itself.
        let allocatesUser = definition.user == nil && geteuid() == 0
        let user = try definition.user.map { try UserAccount.resolve(requested: $0) } ?? UserIdentity.current()
        if allocatesUser { _ = try userRange ?? VMUserRange.configured() }
        try checkFiles(definition)

        // One VM per name: a live one is refused, a dead one's leftovers are cleaned.
        let running = try liveStates(holdingLockOf: definition.name)
        if let existing = running.first(where: { $0.name == definition.name }) {
            throw VMError.duplicateName(definition.name, pid: existing.pid)
        }
        VMStore.remove(definition.name)

        var inUse: [MACAddress: String] = [:]
        for state in running { for nic in state.nics { if let mac = MACAddress(nic.mac) { inUse[mac] = state.name } } }
        let macs = try GuestMAC.assign(vm: definition.name, nics: definition.nics, inUse: inUse)
        let bridges = try resolveBridges(definition.nics)
        // Host ports of user-mode forwards must be free before anything starts.
        let userNICs = definition.nics.compactMap(\.user)
        try PortAvailability.checkDuplicates(userNICs.flatMap(\.forwards))
        for nic in userNICs { try PortAvailability.check(nic.forwards, backend: nic.backend, user: user) }
        var plan = LaunchPlan(definition: definition, qemu: qemu, user: user,
                              runAs: definition.user == nil ? nil : user, allocatesUser: allocatesUser,
                              accel: resolveAccel(definition.accel, qemu: qemu), macs: macs, bridges: bridges)
        if definition.nics.contains(where: \.isPassthrough) {
            // A function another running VM has is refused before anything changes.
            var taken: [String: String] = [:]
            for state in running { for record in state.passthrough ?? [] { taken[record.address] = state.name } }
            plan.passthrough = try passthroughAssignment(for: definition.name).resolve(definition.nics, takenBy: taken)
        }
        return plan
    }

    /// Each TAP NIC's bridge: given directly, or the bridge of a running named network
    /// (whose interface group the TAP joins, so `net stop` removes it in one batch).
    /// Every bridge must exist and be a bridge.
    private func resolveBridges(_ nics: [NICSpec]) throws -> [Int: (bridge: String, group: UInt32?)] {
        let networks = NetworkStore()
        var result: [Int: (bridge: String, group: UInt32?)] = [:]
        for (index, nic) in nics.enumerated() {
            switch nic.attachment {
            case let .bridge(bridge):
                result[index] = (bridge, nil)
            case let .network(network):
                let definition = try networks.load(network)
                guard networks.isActive(network) else { throw NetworkError.nicOnStoppedNetwork(network) }
                result[index] = (definition.bridge, definition.interfaceGroup)
            case .user, .pci, .vf:
                continue
            }
        }
        for (bridge, _) in result.values {
            let link = try host.link(named: bridge)
            guard link.isBridge else { throw HostNetworkError.notABridge(bridge, kind: link.kind) }
        }
        return result
    }

    /// The VM's state directory: root's, 0700 (QEMU gets everything it uses as
    /// descriptors), marked as being started until state.json exists. QEMU's own uid is
    /// allocated here, under the uid range's lock, and recorded in the `starting` record
    /// before the lock is released, so concurrent starts never share one. passt NICs get
    /// `passt/`, owned by QEMU's uid: the one place there its user may write.
    private func makeDirectory(for plan: inout LaunchPlan, undo: UndoStack) throws -> VMFiles {
        let name = plan.definition.name
        let path = VMStore.directory(for: name)
        let directory = try VMStore.create(name)
        undo.push("remove \(path)") { VMStore.remove(name) }
        // Who is starting the VM and with which QEMU: what the next command needs to find a
        // QEMU spawned before state.json named it, should this process be killed.
        let starter = ProcessIdentity.current() ?? ProcessIdentity(pid: getpid(), startTime: 0, executable: nil)
        if plan.allocatesUser {
            let range = try userRange ?? VMUserRange.configured()
            let lock = try HostLock.acquire(VMUserRange.lockScope, in: VMStore.lockDirectory, command: "qnet vm run \(name)",
                                            timeout: .seconds(10))
            defer { lock.release() }
            let account = try range.allocate(for: name, taken: VMStore.allocatedUIDs(except: name))
            plan.user = account
            plan.runAs = account
            try VMStore.saveStarting(StartingRecord(starter: starter, qemu: plan.qemu, uid: account.uid), for: name)
        } else {
            try VMStore.saveStarting(StartingRecord(starter: starter, qemu: plan.qemu, uid: plan.runAs?.uid), for: name)
        }
        if plan.definition.nics.contains(where: { $0.user?.backend == .passt }) {
            // passt binds its socket by path as QEMU's uid: that uid may pass through the VM's
            // directory (0711: no listing; every file in it stays 0600 root) into passt/.
            guard fchmod(directory.fd, 0o711) == 0 else { throw SystemError.lastError("chmod", path: path) }
            try directory.makeDirectory(VMStore.passtName, mode: 0o700)
            guard fchownat(directory.fd, VMStore.passtName, plan.user.uid, plan.user.gid, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw SystemError.lastError("chown", path: "\(path)/\(VMStore.passtName)")
            }
        }
        return VMFiles(directory: path, descriptor: directory, consoleLog: plan.definition.console ?? "\(path)/console.log",
                       qemuLog: "\(path)/qemu.log", qmpSocket: "\(path)/qmp.sock", starter: starter)
    }

    /// Creates QEMU's own log, returned open for its stdout and stderr.
    private func createLog(_ files: VMFiles) throws -> Int32 {
        try files.descriptor.openFile("qemu.log", flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
    }

    /// `createTAPs` under the namespace's lock (`NamespaceChange`: what interrupted commands
    /// left in the namespace is recovered first), released once the TAPs are on their
    /// bridges. No journal: the TAPs are transient, held only by qnet and then QEMU.
    private func createTAPsLocked(for plan: LaunchPlan, signals: DeferredSignals) throws -> [Int: TAPDevice] {
        guard !plan.tapIndices.isEmpty else { return [:] }
        let change = try NetworkManager(host: host).beginNamespaceChange(command: "qnet vm run \(plan.definition.name)",
                                                                         signals: signals)
        defer { change.release() }
        return try createTAPs(for: plan)
    }

    /// The TAPs, by NIC index: transient, vnet_hdr, multi-queue as asked, attached and up
    /// in one batch. Being transient, they vanish with their last descriptor.
    private func createTAPs(for plan: LaunchPlan) throws -> [Int: TAPDevice] {
        let indices = plan.tapIndices
        let taps = try host.createTAPs(indices.map { index in
            let nic = plan.definition.nics[index]
            let attachment = plan.bridges[index]!
            return TAPOptions(name: "vnet%d", vnetHeader: true, queues: nic.queues, persistent: false, owner: plan.user.uid,
                              bridge: attachment.bridge, interfaceGroup: attachment.group, macAddress: nil,
                              up: true, alias: VMTapAlias(vm: plan.definition.name, nicIndex: index).description)
        })
        return Dictionary(uniqueKeysWithValues: zip(indices, taps))
    }

    /// passt daemons for the passt NICs, by NIC index, listening before QEMU starts
    /// (QEMU's stream netdev connects once). Each one's identity (pid, start time,
    /// executable) goes into the `starting` record as soon as it listens, so the next
    /// command stops it after a kill (one killed before that is found by its socket path,
    /// see `unrecordedPassts`).
    private func startPassts(for plan: LaunchPlan, files: VMFiles, undo: UndoStack,
                             signals: DeferredSignals) throws -> [Int: PasstProcess] {
        var passts: [Int: PasstProcess] = [:]
        for (index, nic) in plan.definition.nics.enumerated() {
            guard let userNIC = nic.user, userNIC.backend == .passt else { continue }
            // The socket and pid file in passt/ (passt's user's), its log in the root-only directory.
            let passt = try PasstProcess.start(PasstOptions(socketPath: "\(files.directory)/\(VMStore.passtName)/passt-\(index).sock",
                                                            logFile: "\(files.directory)/passt-\(index).log",
                                                            forwards: userNIC.forwards), user: plan.runAs)
            undo.push("stop passt \(passt.pid)") { passt.stop() }
            passts[index] = passt
            try VMStore.saveStarting(StartingRecord(starter: files.starter, qemu: plan.qemu, uid: plan.runAs?.uid,
                                                    passt: plan.definition.nics.indices.compactMap { passts[$0] }),
                                     for: plan.definition.name)
            try signals.checkpoint()
        }
        return passts
    }

    /// QEMU's NICs, and which of qnet's descriptors it gets at which number: TAP queues
    /// go to fixed numbers from 3 upwards.
    private func networkInterfaces(for plan: LaunchPlan, taps: [Int: TAPDevice], passts: [Int: PasstProcess])
        throws -> ([NetworkInterface], [Int32: Int32]) {
        var descriptors: [Int32: Int32] = [:]  // QEMU's descriptor number → ours
        var interfaces: [NetworkInterface] = []
        for (index, nic) in plan.definition.nics.enumerated() {
            let id = "net\(index)"
            if let tap = taps[index] {
                var numbers: [Int32] = []
                for descriptor in tap.descriptors {
                    let target = Int32(3 + descriptors.count)
                    descriptors[target] = descriptor
                    numbers.append(target)
                }
                interfaces.append(NetworkInterface(id: id, backend: .tap(TAPBackend(descriptors: numbers)),
                                                   model: nic.model, macAddress: plan.macs[index]))
            } else if let userNIC = nic.user {
                do {
                    interfaces.append(try userNIC.networkInterface(id: id, mac: plan.macs[index], passtSocket: passts[index]?.socketPath))
                } catch let error as QEMUError { throw VMError.qemuCommandLine(error) }
            }
        }
        return (interfaces, descriptors)
    }

    /// Starts QEMU as the plan's user with its descriptors in place; in its own session
    /// unless it runs in the foreground (so Ctrl-C reaches it). It works in / (it needs no
    /// directory of its own).
    private func spawnQEMU(_ plan: LaunchPlan, arguments: [String], descriptors: [Int32: Int32],
                           output: Int32, foreground: Bool) throws -> Int32 {
        var environment: [String: String] = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                             Self.vmDirectoryVariable: VMStore.directory(for: plan.definition.name)]
        if let home = getenv("HOME") { environment["HOME"] = String(cString: home) }
        var descriptors = descriptors
        descriptors[1] = output
        descriptors[2] = output
        do {
            return try Subprocess.spawn(Command(plan.qemu, arguments, environment: environment, descriptors: descriptors,
                                                user: plan.runAs, newSession: !foreground, workingDirectory: "/"))
        } catch let error as SystemError {
            throw VMError.qemuStartFailed(error)
        }
    }

    /// QEMU's identity (pid, /proc start time, executable); nil when it cannot be read
    /// within 2 s (QEMU gone). /proc/PID/stat can be briefly unreadable while the child
    /// execs; without a start time every later liveness check would wrongly say QEMU is gone.
    private func waitForIdentity(of pid: Int32) -> ProcessIdentity? {
        var identity = ProcessIdentity.of(pid)
        let deadline = monotonicSeconds() + 2
        while identity == nil && monotonicSeconds() < deadline {
            usleep(1_000)  // poll interval; bounded by the 2 s deadline
            identity = ProcessIdentity.of(pid)
        }
        return identity
    }

    /// Every TAP is a port of its bridge (a witness read back from the kernel).
    private func checkAttached(_ taps: [Int: TAPDevice], plan: LaunchPlan) throws {
        for index in plan.tapIndices {
            let tap = taps[index]!
            let bridgeName = plan.bridges[index]!.bridge
            // A TAP or bridge gone meanwhile is "not attached"; a failed query is its own error.
            let link = try host.linkIfPresent(named: tap.name)
            let bridge = try host.linkIfPresent(named: bridgeName)
            guard let link, let bridge, link.masterIndex == bridge.index else {
                throw VMError.nicNotOnBridge(tap: tap.name, bridge: bridgeName)
            }
        }
    }

    /// What state.json records for the running VM.
    private func runningState(_ plan: LaunchPlan, qemu: ProcessIdentity, arguments: [String], files: VMFiles,
                              taps: [Int: TAPDevice], passts: [Int: PasstProcess]) -> VMState {
        let definition = plan.definition
        return VMState(
            name: definition.name, pid: qemu.pid, startTime: qemu.startTime, executable: qemu.executable, qemu: plan.qemu, arguments: arguments, qmpSocket: files.qmpSocket,
            consoleLog: files.consoleLog, qemuLog: files.qemuLog, accel: plan.accel, user: plan.user.name, uid: plan.runAs?.uid ?? geteuid(), netns: netns,
            startedAt: monotonicSeconds(),
            nics: definition.nics.indices.map { index in
                let nic = definition.nics[index]
                var state = NICState(tap: taps[index]?.name ?? "", bridge: plan.bridges[index]?.bridge ?? "", network: nic.network,
                                     mac: plan.macs[index].description, model: nic.model, queues: nic.queues)
                if let userNIC = nic.user {
                    state.backend = userNIC.backend.rawValue
                    state.forwards = userNIC.forwards.map(HostForward.render)
                }
                if let function = plan.passthrough[index] {
                    state.backend = "vfio"
                    state.pci = function.address.description
                    if case let .vf(spec) = nic.attachment {
                        state.vf = spec.text
                        state.vlan = spec.vlan
                    } else {
                        state.mac = ""  // a whole NIC keeps its own MAC
                    }
                }
                return state
            },
            passt: definition.nics.indices.compactMap { passts[$0] },
            definition: definition)
    }

    /// Every image exists (qnet opens them itself and hands them over, so QEMU's uid needs
    /// no access to them: `QEMUHandover`).
    private func checkFiles(_ definition: VMDefinition) throws {
        let images: [(String, String?)] = definition.disks.map { ("disk", $0) }
            + [("ISO", definition.cdrom), ("kernel", definition.kernel), ("initrd", definition.initrd)]
        for (what, path) in images {
            guard let path else { continue }
            guard fileExists(path) else { throw VMError.missingFile(what: what, path: path) }
        }
    }

    private func resolveAccel(_ requested: Acceleration, qemu: String) -> Acceleration {
        switch requested {
        case .tcg, .kvm: return requested
        case .auto:
            let verdict = kvmRunsGuests(qemu)
            if verdict.usable { return .kvm }
            notice("notice: using TCG (software emulation; guests run slowly): \(verdict.reason)")
            return .tcg
        }
    }

    /// Waits for QMP to come up; if QEMU dies first, reports its stderr.
    private func connect(_ socket: String, pid: Int32, startTime: UInt64, qemuLog: String) throws -> VMControl {
        let deadline = monotonicSeconds() + startTimeout
        while monotonicSeconds() < deadline {
            if let termination = Subprocess.reapIfExited(pid) {
                throw VMError.qemuExited(termination, output: VMStore.readText(qemuLog))
            }
            if !ProcessInfoReader.isAlive(pid, startTime: startTime) {
                throw VMError.qemuExited(nil, output: VMStore.readText(qemuLog))
            }
            // The socket exists from the start (qnet made it); the greeting comes once QEMU
            // is up. A QEMU that dies closes the last listener, which ends the wait.
            if let control = try? VMControl(socketPath: socket, timeout: max(1, min(5, deadline - monotonicSeconds()))) {
                return control
            }
            usleep(10_000)  // poll interval; bounded by startTimeout
        }
        throw VMError.qmpSocketTimeout(path: socket, seconds: Int(startTimeout))
    }

    // MARK: - list, status, stop, kill

    /// States of VMs whose QEMU is alive (pid, start time and executable match).
    ///
    /// Every other directory is a start in progress, an interrupted start or a dead VM's
    /// leftovers. Only the holder of the VM's name lock touches it: a start in progress
    /// holds it and is skipped; otherwise `repair` adopts or kills what an interrupted
    /// start left and removes a dead VM's directory. `holdingLockOf` names the VM whose
    /// lock the caller already holds (`vm run`).
    public func liveStates(holdingLockOf held: String? = nil) throws -> [VMState] {
        var result: [VMState] = []
        for (name, state) in VMStore.all() {
            if let state, state.name == name, state.starter == nil, state.qemuIsAlive {
                result.append(state)
                continue
            }
            var lock: HostLock?
            if name != held {
                // Busy: a start is in progress (or another command repairs it): not ours to touch.
                guard let scope = try? HostLockScope.virtualMachine(name),
                      let taken = try? HostLock.acquire(scope, in: VMStore.lockDirectory, command: "qnet: repair VM \(name)",
                                                        timeout: .zero) else { continue }
                lock = taken
            }
            defer { lock?.release() }
            if let adopted = repair(name) { result.append(adopted) }
        }
        return result
    }

    /// Under the VM's lock (so no start of it is under way): a QEMU that an interrupted
    /// `vm run` left running is adopted (state kept, starter cleared); one it left paused
    /// (NICs never checked) is killed; a dead VM's passt daemons are stopped and its
    /// directory removed. Returns the VM's state when its QEMU runs on.
    private func repair(_ name: String) -> VMState? {
        let state = VMStore.load(name).flatMap { $0.name == name ? $0 : nil }
        if let state, state.qemuIsAlive {
            guard let starter = state.starter else { return state }  // started meanwhile
            var adopted = state
            adopted.starter = nil
            if status(of: state).runState == "running", (try? VMStore.save(adopted)) != nil {
                VMStore.removeStarting(name)
                notice("recovered: adopted VM \(name) (QEMU pid \(state.pid)), started by an interrupted `vm run` (pid \(starter.pid))")
                return adopted
            }
            Subprocess.stop(state.qemuIdentity, grace: .seconds(2))
            notice("recovered: stopped the paused QEMU (pid \(state.pid)) of VM \(name), left by an interrupted `vm run` (pid \(starter.pid))")
        } else if state == nil, let starting = VMStore.loadStarting(name) {
            // Killed between spawning QEMU and recording it: find it by its environment.
            for qemu in Self.unrecordedQEMUs(directory: VMStore.directory(for: name), binary: starting.qemu) {
                Subprocess.stop(qemu, grace: .seconds(2))
                notice("recovered: stopped QEMU (pid \(qemu.pid)) of VM \(name), left unrecorded by an interrupted `vm run` (pid \(starting.starter.pid))")
            }
            // Its passt daemons: those recorded (by identity), and one started but not yet
            // recorded (by the socket path in its command line, inside this VM's directory).
            let recorded = (starting.passt ?? []).filter(\.isAlive)
            for passt in recorded { passt.stop(grace: 1) }
            let unrecorded = Self.unrecordedPassts(directory: VMStore.directory(for: name))
                .filter { found in !recorded.contains { $0.pid == found.pid } }
            for passt in unrecorded { Subprocess.stop(passt, grace: .seconds(1)) }
            let stopped = recorded.map(\.pid) + unrecorded.map(\.pid)
            if !stopped.isEmpty {
                notice("recovered: stopped passt (pid \(stopped.map(String.init).joined(separator: ", "))) of VM \(name), left by an interrupted `vm run` (pid \(starting.starter.pid))")
            }
        }
        if let state {
            _ = Subprocess.reapIfExited(state.pid)
            stopPassts(of: state)
        }
        releaseNetworkResources(name, state)
        // Passthrough NICs of a dead QEMU: its state's records, or what an interrupted start recorded.
        releasePassthrough(name, state?.passthrough ?? VMStore.loadStarting(name)?.passthrough)
        VMStore.remove(name)
        return nil
    }

    /// Set in QEMU's environment to the VM's directory, so a QEMU spawned by a `vm run` killed
    /// before it recorded the pid can still be told apart from every other process
    /// (`/proc/PID/environ`; invisible to the guest, unlike a command-line marker).
    static let vmDirectoryVariable = "QNET_VM_DIRECTORY"

    /// Running processes of `binary` whose environment names `directory` as their VM's
    /// (one VM's directory, so it names that VM's QEMU and no other process).
    static func unrecordedQEMUs(directory: String, binary: String) -> [ProcessIdentity] {
        guard let resolved = realpath(binary, nil) else { return [] }
        let executable = String(cString: resolved)
        free(resolved)
        return FileSystem.list("/proc").compactMap { entry -> ProcessIdentity? in
            guard let pid = Int32(entry), let identity = ProcessIdentity.of(pid), identity.executable == executable,
                  environment(of: pid, names: directory) else { return nil }
            return identity
        }
    }

    /// Running processes whose command line names a passt socket (`--socket PATH`) inside
    /// `directory`: a VM's passt started by a `vm run` killed before it recorded it.
    static func unrecordedPassts(directory: String) -> [ProcessIdentity] {
        let prefix = Array("\(directory)/\(VMStore.passtName)/passt-".utf8)
        return FileSystem.list("/proc").compactMap { entry -> ProcessIdentity? in
            guard let pid = Int32(entry), let bytes = try? FileSystem.readBytes("/proc/\(pid)/cmdline") else { return nil }
            let arguments = bytes.split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
            guard let option = arguments.firstIndex(of: Array("--socket".utf8)), option + 1 < arguments.count,
                  arguments[option + 1].starts(with: prefix) else { return nil }
            return ProcessIdentity.of(pid)
        }
    }

    /// Whether process `pid` was started with `QNET_VM_DIRECTORY=directory` (/proc/PID/environ).
    static func environment(of pid: Int32, names directory: String) -> Bool {
        guard let bytes = try? FileSystem.readBytes("/proc/\(pid)/environ") else { return false }
        let marker = Array("\(vmDirectoryVariable)=\(directory)".utf8)
        return bytes.split(separator: 0).contains { Array($0) == marker }
    }

    /// Stops the VM's passt daemons; only those whose socket and pid file are inside the
    /// VM's own directory (a state file is not trusted to name other paths to unlink), and
    /// whose process, if it still runs, is a passt serving that very socket (its command
    /// line says `--socket PATH`), so a pid and start time copied into a state file from
    /// another process are never signalled.
    private func stopPassts(of state: VMState, grace: Double = 1) {
        let inside = VMStore.directory(for: state.name) + "/"
        for passt in state.passt where passt.startTime != 0 && !passt.socketPath.contains("/../") && !passt.pidFile.contains("/../")
            && passt.socketPath.hasPrefix(inside) && passt.pidFile.hasPrefix(inside) {
            guard !passt.isAlive || Self.commandLine(of: passt.pid, hasOption: "--socket", value: passt.socketPath) else {
                notice("warning: VM \(state.name)'s state names passt pid \(passt.pid), which is not its passt; not signalled")
                continue
            }
            passt.stop(grace: grace)
        }
    }

    /// Whether /proc/PID/cmdline holds `option` followed by `value`.
    static func commandLine(of pid: Int32, hasOption option: String, value: String) -> Bool {
        guard let bytes = try? FileSystem.readBytes("/proc/\(pid)/cmdline") else { return false }
        let arguments = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        return zip(arguments, arguments.dropFirst()).contains { $0 == option && $1 == value }
    }

    /// Takes the VM's name lock for a start, waiting up to 2 s; a start already under way
    /// for the name is refused naming its pid.
    private func lockForStart(_ name: String) throws -> HostLock {
        do {
            return try HostLock.acquire(try HostLockScope.virtualMachine(name), in: VMStore.lockDirectory,
                                        command: "qnet vm run \(name)", timeout: .seconds(2))
        } catch let busy as HostLockBusy {
            throw VMError.beingStarted(name, pid: busy.holder)
        }
    }

    /// Running VMs with their run state from QMP. Equivalent to `virsh list`.
    public func list() throws -> [VMStatus] {
        try liveStates().map(status(of:))
    }

    public func status(_ name: String) throws -> VMStatus {
        guard let state = try liveStates().first(where: { $0.name == name }) else { throw VMError.noSuchVM(name) }
        return status(of: state)
    }

    private func status(of state: VMState) -> VMStatus {
        var runState = "unresponsive"
        if let control = try? VMControl(socketPath: state.qmpSocket, timeout: 2) {
            runState = (try? control.runState()) ?? "unresponsive"
            control.close()
        }
        return VMStatus(name: state.name, pid: state.pid, runState: runState, accel: state.accel, user: state.user,
                        netns: state.netns, uptimeSeconds: max(0, monotonicSeconds() - state.startedAt), nics: state.nics,
                        consoleLog: state.consoleLog)
    }

    /// How a stop ended.
    public enum StopOutcome: String, Sendable {
        /// The guest powered off after the ACPI request.
        case poweredOff
        /// The guest ignored ACPI until the timeout; QEMU was told to quit.
        case quitAfterTimeout
    }

    /// ACPI power-off (`system_powerdown`), then `quit` after `timeout` seconds.
    /// Equivalent to `virsh shutdown` followed by `virsh destroy`.
    @discardableResult
    public func stop(_ name: String, timeout: Double) throws -> StopOutcome {
        guard let state = try liveStates().first(where: { $0.name == name }) else { throw VMError.noSuchVM(name) }
        var outcome = StopOutcome.quitAfterTimeout
        if let control = try? VMControl(socketPath: state.qmpSocket, timeout: 5) {
            try? control.systemPowerdown()
            let deadline = monotonicSeconds() + timeout
            while monotonicSeconds() < deadline && ProcessInfoReader.isAlive(state.pid, startTime: state.startTime) {
                _ = Subprocess.reapIfExited(state.pid)
                usleep(20_000)  // poll interval; bounded by the stop timeout
            }
            if ProcessInfoReader.isAlive(state.pid, startTime: state.startTime) {
                try? control.quit()
            } else {
                outcome = .poweredOff
            }
            control.close()
        }
        try waitGone(state, grace: 5)
        stopPassts(of: state, grace: 2)
        releaseNetworkResources(name, state)
        releasePassthrough(name, state.passthrough)
        VMStore.remove(name)
        return outcome
    }

    /// SIGKILL. Equivalent to `virsh destroy` / `kill -9`.
    public func kill(_ name: String) throws {
        guard let state = try liveStates().first(where: { $0.name == name }) else { throw VMError.noSuchVM(name) }
        if state.qemuIsAlive { Glibc.kill(state.pid, SIGKILL) }
        try waitGone(state, grace: 5)
        stopPassts(of: state, grace: 2)
        releaseNetworkResources(name, state)
        releasePassthrough(name, state.passthrough)
        VMStore.remove(name)
    }

    /// What a VM held besides its processes: its anti-spoofing rules and DHCP reservations
    /// (`VMPortFilters`). Called once its QEMU is gone (stop, kill, repair, a failed start).
    /// The rules are in the VM's own namespace (`state.netns`), which need not be the one
    /// this command acts in: any VM command repairs every dead VM of the state directory, so
    /// a `vm list --netns B` can find a dead VM of namespace A. Removing A's rules in B would
    /// leave them in A and could remove a same-named TAP's chain of a running VM in B.
    private func releaseNetworkResources(_ name: String, _ state: VMState?) {
        let filters = state?.portFilters ?? []
        guard !filters.isEmpty, let state, state.netns != netns else {
            VMPortFilters.release(vm: name, filters: filters, host: host, notice: notice)
            return
        }
        do {
            let own = try HostNetwork(namespace: state.netns.map { NetworkNamespace(name: $0) })
            VMPortFilters.release(vm: name, filters: filters, host: own, notice: notice)
        } catch {
            // Its namespace is gone, and its rules with it; the reservations still go.
            notice("warning: VM \(name): its network namespace \(state.netns ?? "(the host's)") cannot be entered (\(error)); its anti-spoofing rules went with it")
            VMPortFilters.release(vm: name, filters: [], host: host, notice: notice)
        }
    }

    /// The passthrough side of the VM, for `vm run`, `stop`, `kill` and recovery.
    func passthroughAssignment(for name: String) -> PassthroughAssignment {
        let pci = PCIHost(sysfs: pciSysfs, stateDirectory: QNetPaths.runtime + "/pci", hostUse: .rtnetlink(host))
        configurePCI(pci)
        return PassthroughAssignment(pci: pci, virtualFunctions: virtualFunctions, dev: pciSysfs.dev,
                                     journal: Journal(directory: QNetPaths.journal), lockDirectory: QNetPaths.locks,
                                     command: "qnet vm \(name)", notice: notice)
    }

    /// Binds the plan's passthrough NICs for QEMU's uid (`PassthroughAssignment.attach`),
    /// each step recorded in the `starting` record before it is taken.
    private func attachPassthrough(_ plan: LaunchPlan, files: VMFiles, undo: UndoStack, signals: DeferredSignals) throws -> [PassthroughRecord] {
        guard !plan.passthrough.isEmpty else { return [] }
        let name = plan.definition.name
        return try passthroughAssignment(for: name).attach(
            plan.definition, functions: plan.passthrough, macs: plan.macs, qemu: plan.user, signals: signals, undo: undo
        ) { records in
            var starting = VMStore.loadStarting(name) ?? StartingRecord(starter: files.starter, qemu: plan.qemu, uid: plan.runAs?.uid)
            starting.passthrough = records
            try VMStore.saveStarting(starting, for: name)
        }
    }

    /// Gives a VM's passthrough NICs back (group node, driver, VF settings) once its QEMU is gone.
    private func releasePassthrough(_ name: String, _ records: [PassthroughRecord]?) {
        guard let records, !records.isEmpty else { return }
        passthroughAssignment(for: name).release(records)
    }

    /// Waits until QEMU's process is gone: reaped when it is our child (foreground runs,
    /// library use), else reaped by its own parent, so the pid has left /proc. SIGKILL after
    /// `grace` seconds; an error 5 s later.
    ///
    /// Kernel quirk: QEMU's main thread shows "Z" in /proc/PID/stat as soon as it exits,
    /// while its other threads may still be exiting (the last one closes the TAP
    /// descriptors), and the zombie keeps its pid until the parent reaps it (PID 1 here,
    /// about a second later). So "not alive" is not yet "exited". A zombie whose threads
    /// have all finished has released everything; if its parent does not reap it within
    /// `reapGrace` seconds it counts as gone (qnet cannot reap another process's child).
    private func waitGone(_ state: VMState, grace: Double, reapGrace: Double = 5) throws {
        let deadline = monotonicSeconds() + grace
        var finishedSince: Double?
        while true {
            if Subprocess.reapIfExited(state.pid) != nil { return }
            if Glibc.kill(state.pid, 0) != 0 && errno == ESRCH { return }
            // The pid names another process by now: ours is long gone.
            if state.startTime != 0, let running = ProcessIdentity.of(state.pid), running.startTime != state.startTime { return }
            let now = monotonicSeconds()
            if Self.isFinishedZombie(state.pid) {
                if now - (finishedSince ?? now) > reapGrace { return }
                finishedSince = finishedSince ?? now
            } else if now > deadline {
                if state.qemuIsAlive { Glibc.kill(state.pid, SIGKILL) }
                if now > deadline + 5 { throw VMError.didNotExit(pid: state.pid) }
            }
            usleep(5_000)  // poll interval; SIGKILL at the grace deadline, error 5 s later
        }
    }

    /// A zombie none of whose threads still runs (/proc/PID/status: "State: Z", "Threads: 1",
    /// the zombie leader itself): it holds no descriptor any more, only its pid.
    static func isFinishedZombie(_ pid: Int32) -> Bool {
        guard let status = try? FileSystem.readText("/proc/\(pid)/status") else { return false }
        var state: Substring?, threads: Substring?
        for line in status.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let value = parts[1].drop { $0 == " " || $0 == "\t" }
            if parts[0] == "State" { state = value.prefix(1) }
            if parts[0] == "Threads" { threads = value }
        }
        return state == "Z" && threads == "1"
    }
}
