import CLinuxNet
import Glibc
import QEMU
import HostNetwork
import Netlink
import NetlinkWire

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
    /// Decides whether KVM can run guests; `auto` falls back to TCG when it says no.
    public var kvmRunsGuests: (String) -> (usable: Bool, reason: String)

    public init(host: HostNetwork, netns: String? = nil, kvmRunsGuests: @escaping (String) -> (usable: Bool, reason: String)) {
        self.host = host
        self.netns = netns
        self.kvmRunsGuests = kvmRunsGuests
    }

    // MARK: - run

    /// Starts a VM paused, checks every NIC is on its bridge, then continues it.
    /// With `foreground`, waits until QEMU exits and removes the VM's state.
    @discardableResult
    public func run(_ definition: VMDefinition, foreground: Bool = false) throws -> VMState {
        try definition.validate()
        guard let qemu = try? QEMUBinary.systemEmulator() else { throw VMError.qemuNotInstalled }
        let user = try UserAccount.resolve(requested: definition.user)
        try checkFiles(definition, user: user)

        // One VM per name: a live one is refused, a dead one's leftovers are cleaned.
        let running = try liveStates()
        if let existing = running.first(where: { $0.name == definition.name }) {
            throw VMError.duplicateName(definition.name, pid: existing.pid)
        }
        VMStore.remove(definition.name)

        var inUse: [MACAddress: String] = [:]
        for state in running { for nic in state.nics { if let mac = MACAddress(nic.mac) { inUse[mac] = state.name } } }
        let macs = try GuestMAC.assign(vm: definition.name, nics: definition.nics, inUse: inUse)
        // Each TAP NIC's bridge: given directly, or the bridge of a running named network
        // (whose interface group the TAP joins, so `net stop` removes it in one batch).
        // User-mode NICs (slirp, passt) need no bridge.
        var attachments: [Int: (bridge: String, group: UInt32?)] = [:]
        for (index, nic) in definition.nics.enumerated() where nic.user == nil {
            if let network = nic.network {
                let networks = NetworkManager(host: host)
                let networkDefinition = try networks.load(network)
                guard networks.isActive(network) else {
                    throw VMError.invalidValue(what: "network", value: network, allowed: "it is not running; start it with `qnet net start \(network)`")
                }
                attachments[index] = (networkDefinition.bridge, networkDefinition.interfaceGroup)
            } else {
                attachments[index] = (nic.bridge!, nil)
            }
        }
        for attachment in attachments.values {
            do {
                let bridge = try host.link(named: attachment.bridge)
                guard bridge.isBridge else { throw HostNetworkError.notABridge(attachment.bridge, kind: bridge.kind) }
            } catch let error as HostNetworkError { throw VMError.network(error) }
        }
        // Host ports of user-mode forwards must be free before anything starts.
        let userNICs = definition.nics.compactMap(\.user)
        try PortAvailability.checkDuplicates(userNICs.flatMap(\.forwards))
        for nic in userNICs { try PortAvailability.check(nic.forwards, backend: nic.backend, user: user) }
        let accel = resolveAccel(definition.accel, qemu: qemu)
        let runAs: UserAccount? = user.isRoot && definition.user == nil ? nil : user

        let directory = VMStore.directory(for: definition.name)
        let undo = UndoStack()
        var succeeded = false
        defer { if !succeeded { undo.rollback() } }

        try makeDirectories(QNetPaths.vms)
        guard mkdir(directory, 0o750) == 0 else {
            throw VMError.state("cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        undo.push("remove \(directory)") { VMStore.remove(definition.name) }
        // Until state.json exists, this marks the directory as being filled by a live qnet,
        // so a concurrent `vm list` does not mistake it for a dead VM's leftovers.
        try writeFileAtomically("\(directory)/starting", Array("\(getpid())\n".utf8))
        // QEMU, running as the user, creates its QMP socket, pid file and console log here.
        _ = chown(directory, user.uid, user.gid)

        let consoleLog = definition.console ?? "\(directory)/console.log"
        let qemuLog = "\(directory)/qemu.log"
        let qmpSocket = "\(directory)/qmp.sock"
        let logDescriptor = open(qemuLog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard logDescriptor >= 0 else { throw VMError.state("cannot create \(qemuLog)") }
        defer { close(logDescriptor) }
        // QEMU opens the console log as the user: create it here and hand it over.
        let console = open(consoleLog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard console >= 0 else { throw VMError.state("cannot create console log \(consoleLog): \(String(cString: strerror(errno)))") }
        _ = fchown(console, user.uid, user.gid)
        close(console)

        // The TAPs: transient, vnet_hdr, multi-queue as asked, attached and up in one batch.
        let tapIndices = definition.nics.indices.filter { attachments[$0] != nil }
        let taps: [TAPDevice]
        do {
            taps = try host.createTAPs(tapIndices.map { index in
                let nic = definition.nics[index]
                return TAPOptions(name: "vnet%d", vnetHeader: true, queues: nic.queues, persistent: false, owner: user.uid,
                                  bridge: attachments[index]!.bridge, interfaceGroup: attachments[index]!.group, macAddress: nil,
                                  up: true, alias: "qnet:vm=\(definition.name)/\(index)")
            })
        } catch let error as HostNetworkError { throw VMError.network(error) }
        defer { for tap in taps { tap.close() } }
        var tapFor: [Int: TAPDevice] = [:]
        for (index, tap) in zip(tapIndices, taps) { tapFor[index] = tap }

        // passt daemons, listening before QEMU starts (QEMU's stream netdev connects once).
        var passts: [Int: PasstProcess] = [:]
        for (index, nic) in definition.nics.enumerated() {
            guard let userNIC = nic.user, userNIC.backend == .passt else { continue }
            let passt = try PasstProcess.start(PasstOptions(socketPath: "\(directory)/passt-\(index).sock",
                                                            logFile: "\(directory)/passt-\(index).log",
                                                            forwards: userNIC.forwards), user: runAs)
            undo.push("stop passt \(passt.pid)") { passt.stop() }
            passts[index] = passt
        }

        // Descriptors go to fixed numbers from 3 upwards in QEMU.
        var mappings: [(from: Int32, to: Int32)] = []
        var interfaces: [NetworkInterface] = []
        for (index, nic) in definition.nics.enumerated() {
            if let userNIC = nic.user {
                do {
                    interfaces.append(try userNIC.networkInterface(id: "net\(index)", mac: macs[index], passtSocket: passts[index]?.socketPath))
                } catch let error as QEMUError { throw VMError.qemuStartFailed(error.description) }
                continue
            }
            var numbers: [Int32] = []
            for descriptor in tapFor[index]!.descriptors {
                let target = Int32(3 + mappings.count)
                mappings.append((descriptor, target))
                numbers.append(target)
            }
            interfaces.append(NetworkInterface(id: "net\(index)", backend: .tap(TAPBackend(descriptors: numbers)),
                                               model: nic.model, macAddress: macs[index]))
        }

        let arguments = try QEMUArgumentsBuilder.arguments(
            for: definition, accel: accel, qmpSocket: qmpSocket, consoleLog: consoleLog,
            pidFile: "\(directory)/qemu.pid", networkInterfaces: interfaces)
        var environment: [String: String] = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        if let home = getenv("HOME") { environment["HOME"] = String(cString: home) }
        let pid = try ProcessLauncher.spawn(qemu, arguments: arguments, environment: environment, descriptors: mappings,
                                            output: logDescriptor, user: runAs,
                                            newSession: !foreground, workingDirectory: directory)
        undo.push("stop QEMU \(pid)") { Self.terminate(pid) }
        // /proc/PID/stat can be briefly unreadable while the child execs; without a start
        // time every later liveness check would wrongly say QEMU is gone.
        var startTime = ProcessInfoReader.startTime(of: pid)
        let startTimeDeadline = monotonicNow() + 2
        while startTime == nil && monotonicNow() < startTimeDeadline {
            usleep(1_000)  // poll interval; bounded by the 2 s start-time deadline
            startTime = ProcessInfoReader.startTime(of: pid)
        }
        let processStart = startTime ?? 0
        // QEMU holds the TAP descriptors now; qnet's copies close when this scope ends.

        let control = try connect(qmpSocket, pid: pid, startTime: processStart, qemuLog: qemuLog)
        defer { control.close() }

        // Started paused (-S): only continue once every NIC is on its bridge.
        for index in tapIndices {
            let tap = tapFor[index]!
            let attachment = attachments[index]!
            let link = try? host.link(named: tap.name)
            let bridge = try? host.link(named: attachment.bridge)
            guard let link, let bridge, link.masterIndex == UInt32(bridge.index) else {
                throw VMError.nicNotOnBridge(tap: tap.name, bridge: attachment.bridge)
            }
        }
        try control.cont()

        let state = VMState(
            name: definition.name, pid: pid, startTime: processStart, qemu: qemu, arguments: arguments, qmpSocket: qmpSocket,
            consoleLog: consoleLog, qemuLog: qemuLog, accel: accel, user: user.name, netns: netns,
            startedAt: monotonicNow(),
            nics: definition.nics.indices.map { index in
                let nic = definition.nics[index]
                var state = NICState(tap: tapFor[index]?.name ?? "", bridge: attachments[index]?.bridge ?? "", network: nic.network,
                                     mac: macs[index].description, model: nic.model, queues: nic.queues)
                if let userNIC = nic.user {
                    state.backend = userNIC.backend.rawValue
                    state.forwards = userNIC.forwards.map(HostForward.render)
                }
                return state
            },
            passt: definition.nics.indices.compactMap { passts[$0] },
            definition: definition)
        try VMStore.save(state)
        unlink("\(directory)/starting")
        succeeded = true

        if foreground {
            for tap in taps { tap.close() }
            control.close()
            Self.waitForExit(pid)
            for passt in passts.values { passt.stop(grace: 2) }
            VMStore.remove(definition.name)
        }
        return state
    }

    private func checkFiles(_ definition: VMDefinition, user: UserAccount) throws {
        func check(_ what: String, _ path: String?, write: Bool = false) throws {
            guard let path else { return }
            guard fileExists(path) else { throw VMError.missingFile(what: what, path: path) }
            guard user.canAccess(path, write: write) else { throw VMError.unreadableFile(what: what, path: path, user: user.name) }
        }
        for disk in definition.disks { try check("disk", disk, write: true) }
        try check("ISO", definition.cdrom)
        try check("kernel", definition.kernel)
        try check("initrd", definition.initrd)
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
        let deadline = monotonicNow() + startTimeout
        while monotonicNow() < deadline {
            if let status = Self.reapIfExited(pid) {
                throw VMError.qemuExited(status: status, stderr: readText(qemuLog) ?? "")
            }
            if !ProcessInfoReader.isAlive(pid, startTime: startTime) {
                throw VMError.qemuExited(status: "no longer running", stderr: readText(qemuLog) ?? "")
            }
            if fileExists(socket), let control = try? VMControl(socketPath: socket, timeout: 5) {
                return control
            }
            usleep(10_000)  // poll interval; bounded by startTimeout
        }
        throw VMError.timeout("QEMU's QMP socket \(socket) did not appear within \(Int(startTimeout)) s")
    }

    // MARK: - list, status, stop, kill

    /// States of VMs whose QEMU is alive; leftovers of dead ones are removed.
    public func liveStates() throws -> [VMState] {
        var result: [VMState] = []
        for (name, state) in VMStore.all() {
            if state == nil, VMStore.isBeingStarted(name) { continue }
            guard let state, ProcessInfoReader.isAlive(state.pid, startTime: state.startTime) else {
                if let state {
                    _ = Self.reapIfExited(state.pid)
                    for passt in state.passt { passt.stop(grace: 1) }
                }
                VMStore.remove(name)
                continue
            }
            result.append(state)
        }
        return result
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
                        netns: state.netns, uptimeSeconds: max(0, monotonicNow() - state.startedAt), nics: state.nics,
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
            let deadline = monotonicNow() + timeout
            while monotonicNow() < deadline && ProcessInfoReader.isAlive(state.pid, startTime: state.startTime) {
                _ = Self.reapIfExited(state.pid)
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
        for passt in state.passt { passt.stop(grace: 2) }
        VMStore.remove(name)
        return outcome
    }

    /// SIGKILL. Equivalent to `virsh destroy` / `kill -9`.
    public func kill(_ name: String) throws {
        guard let state = try liveStates().first(where: { $0.name == name }) else { throw VMError.noSuchVM(name) }
        Glibc.kill(state.pid, SIGKILL)
        try waitGone(state, grace: 5)
        for passt in state.passt { passt.stop(grace: 2) }
        VMStore.remove(name)
    }

    /// Waits until QEMU's process is gone: reaped when it is our child (foreground runs,
    /// library use), else gone from /proc or a zombie awaiting its own parent. SIGKILL
    /// after `grace` seconds.
    private func waitGone(_ state: VMState, grace: Double) throws {
        let deadline = monotonicNow() + grace
        while true {
            if Self.reapIfExited(state.pid) != nil { return }
            if Glibc.kill(state.pid, 0) != 0 { return }
            if !ProcessInfoReader.isAlive(state.pid, startTime: state.startTime) {
                var status: Int32 = 0
                if waitpid(state.pid, &status, WNOHANG) < 0 && errno == ECHILD { return }
            }
            if monotonicNow() > deadline {
                Glibc.kill(state.pid, SIGKILL)
                if monotonicNow() > deadline + 5 { throw VMError.timeout("QEMU (pid \(state.pid)) did not exit") }
            }
            usleep(5_000)  // poll interval; SIGKILL at the grace deadline, error 5 s later
        }
    }

    // MARK: - process helpers

    /// Reaps `pid` if it is our child and has exited; returns how it ended.
    static func reapIfExited(_ pid: Int32) -> String? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return nil }
        if status & 0x7f == 0 { return "exit status \((status >> 8) & 0xff)" }
        return "killed by signal \(status & 0x7f)"
    }

    static func waitForExit(_ pid: Int32) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    static func terminate(_ pid: Int32) {
        Glibc.kill(pid, SIGKILL)
        waitForExit(pid)
    }
}

func monotonicNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
