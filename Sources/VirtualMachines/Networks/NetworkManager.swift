import HostNetwork
import Netlink
import QNetSystem
import QNetTypes

/// A network as `qnet net list` reports it.
public struct NetworkStatus: Codable, Equatable, Sendable {
    public var name: String
    public var mode: NetworkMode
    public var bridge: String
    public var active: Bool
    public var subnet: String?
    public var gateway: String?
    public var dhcpRange: String?
    public var dnsmasqPid: Int32?
    public var vms: [String]
    public var staticLeases: [StaticLease]
    public var interfaceGroup: UInt32
    /// The IPv6 /64 (nil: IPv4 only) and whether IPv6 leaving a nat network is masqueraded.
    public var ipv6Prefix: String?
    public var ipv6NAT: Bool?
    /// vxlan networks: the tunnel, its peers and FDB.
    public var vxlan: VXLANStatus?
}

/// Named networks: define, start, stop and delete them. Definitions and runtime records
/// are kept by `NetworkStore`; dnsmasq, nftables and sysctls by `NetworkServices`.
/// Equivalent to `virsh net-define/net-start/net-destroy/net-undefine` or
/// `incus network create/delete`. Needs CAP_NET_ADMIN (bridges, firewall, sysctls).
public final class NetworkManager {
    public let host: HostNetwork
    public let namespace: NetworkNamespace?
    public let store: NetworkStore
    let services: NetworkServices
    /// Record kinds of other layers beyond HostNetwork's (merged always), so that a network
    /// command also recovers their journals in its namespace; the command layer sets it.
    public var recovery = RecoveryRegistry()

    public init(host: HostNetwork, store: NetworkStore = NetworkStore()) {
        self.host = host
        self.namespace = host.namespace
        self.store = store
        self.services = NetworkServices(namespace: host.namespace, store: store)
    }

    // MARK: - definitions

    /// All stored definitions, by name.
    public func definitions() throws -> [NetworkDefinition] { try store.definitions() }

    /// The stored definition; throws `NetworkError.noSuchNetwork` when there is none.
    public func load(_ name: String) throws -> NetworkDefinition { try store.load(name) }

    /// Defines a network: checks every value, picks a free subnet when none is given, and
    /// stores it. Equivalent to `virsh net-define` / `incus network create`.
    ///
    /// `ipv6`: `.auto` picks a unique local /64 (RFC 4193) that overlaps nothing on the host
    /// or in another network — none when IPv6 is disabled in the namespace; `.prefix` checks
    /// the given /64; `.none` makes the network IPv4 only; nil keeps the definition's
    /// `ipv6Prefix` as it is (checked like a given one).
    @discardableResult
    public func create(_ requested: NetworkDefinition, ipv6: IPv6Choice? = nil) throws -> NetworkDefinition {
        var definition = requested
        switch ipv6 {
        case nil: break
        case .none?: definition.ipv6Prefix = nil
        case .prefix(let prefix)?: definition.ipv6Prefix = prefix.description
        case .auto?: definition.ipv6Prefix = nil
        }
        if definition.mode == .bridge && definition.ipv6Prefix != nil {
            throw NetworkError.badSetting(network: definition.name, .ipv6OnBridgeMode)
        }
        try NetworkNames.validate(definition.name)
        if store.contains(definition.name) { throw NetworkError.nameTaken(definition.name) }
        let others = try store.definitions()
        if let clash = others.first(where: { $0.bridge == definition.bridge }) {
            throw NetworkError.bridgeTaken(bridge: definition.bridge, network: clash.name)
        }
        if definition.mode == .vxlan { try prepareVXLAN(&definition) }
        if definition.mode != .bridge, try host.linkIfPresent(named: definition.bridge) != nil {
            throw NetworkError.bridgeNameExists(bridge: definition.bridge, mode: definition.mode)
        }
        if definition.hasAddressing {
            let existing = try hostPrefixes()
            let otherSubnets = others.flatMap(\.prefixes)
            if ipv6 == .auto, services.ipv6Disabled() == nil {
                guard let prefix = AddressPlanner.uniqueLocalPrefix(existing: existing, otherNetworks: otherSubnets) else {
                    throw NetworkError.badSetting(network: definition.name, .noFreeSubnet)
                }
                definition.ipv6Prefix = prefix.description
            }
            if definition.subnet == nil {
                guard let free = AddressPlanner.firstFreeSubnet(existing: existing, otherNetworks: otherSubnets) else {
                    throw NetworkError.badSetting(network: definition.name, .noFreeSubnet)
                }
                definition.subnet = free.description
            }
            let addressing = try plan(definition, existing: existing, otherNetworks: otherSubnets)
            definition.gateway = addressing.gateway.description
            definition.dhcpStart = addressing.dhcpStart.description
            definition.dhcpEnd = addressing.dhcpEnd.description
        } else if definition.mode == .vxlan {
            try checkSegmentIPv6Prefix(&definition, auto: ipv6 == .auto, otherNetworks: others.flatMap(\.prefixes))
        }
        if definition.interfaceGroup == 0 {
            let used = Set(others.map(\.interfaceGroup))
            var group: UInt32 = Self.firstInterfaceGroup
            while used.contains(group) { group += 1 }
            definition.interfaceGroup = group
        }
        try store.save(definition)
        return definition
    }

    /// Interface groups qnet gives networks start here (well above iproute2's few named groups).
    static let firstInterfaceGroup: UInt32 = 0x5100

    func plan(_ definition: NetworkDefinition, existing: [IPPrefix], otherNetworks: [IPPrefix]) throws -> NetworkAddressing {
        do { return try AddressPlanner.resolve(definition, existing: existing, otherNetworks: otherNetworks) } catch let error as NetworkConfigError {
            throw NetworkError.badSetting(network: definition.name, error)
        }
    }

    /// The host's addresses and routes (IPv4 and IPv6), which a new subnet or IPv6 prefix
    /// must not overlap.
    func hostPrefixes() throws -> [IPPrefix] {
        var result = try host.addresses(family: .inet).map { IPPrefix(address: $0.prefix.network, length: $0.prefix.length) }
        for route in try host.routes(family: .inet) {
            if let destination = route.destination, destination.length > 0 { result.append(destination) }
        }
        if services.ipv6Disabled() == nil {
            result += try host.addresses(family: .inet6).map { IPPrefix(address: $0.prefix.network, length: $0.prefix.length) }
            for route in try host.routes(family: .inet6) {
                if let destination = route.destination, destination.length > 0 { result.append(destination) }
            }
        }
        return result
    }

    /// Adds a static lease. Equivalent to `virsh net-update ... add ip-dhcp-host`.
    public func addLease(_ name: String, mac: String, address: String, hostname: String?) throws {
        var definition = try store.load(name)
        guard definition.servesDHCP else { throw NetworkError.noDHCP(network: name) }
        definition.staticLeases.removeAll { $0.mac.lowercased() == mac.lowercased() }
        definition.staticLeases.append(StaticLease(mac: mac.lowercased(), address: address, hostname: hostname))
        let others = try store.definitions().filter { $0.name != name }.flatMap(\.prefixes)
        _ = try plan(definition, existing: [], otherNetworks: others)
        try store.save(definition)
        if isActive(name) { try restartDNSMasq(definition) }
    }

    // MARK: - start / stop

    public enum StartResult: Equatable, Sendable { case started, alreadyRunning }

    /// Whether the network is up: started, and its dnsmasq (if it has one) still running.
    public func isActive(_ name: String) -> Bool { store.isActive(name) }

    /// Brings a network up: bridge (and gateway address), dnsmasq, firewall rules,
    /// ip_forward — each step journaled before it is made and undone if a later one fails
    /// (or by the next qnet command, if this one is killed). A second start changes nothing.
    /// Runs under the network's lock and the namespace's lock.
    @discardableResult
    public func start(_ name: String) throws -> StartResult {
        try underLocks(name, command: "net start \(name)") { transaction in
            let definition = try store.load(name)
            if isActive(name) { return .alreadyRunning }
            // A runtime state whose dnsmasq died: what is left of it goes first.
            if let state = store.runtimeState(name) { _ = try stopLocked(definition, state: state, force: true, transaction()) }
            try startLocked(definition, transaction())
            return .started
        }
    }

    /// Starts a network inside a transaction the caller owns (`qnet apply`: one transaction for
    /// links, networks and VMs). The caller holds the network's lock and the namespace's, and
    /// commits or rolls back `transaction`; a left-over runtime state (its dnsmasq died) is
    /// stopped first in a transaction of its own from `separate` (a stop cannot be undone).
    @discardableResult
    public func start(_ name: String, within transaction: HostTransaction, separate: () -> HostTransaction) throws -> StartResult {
        let definition = try store.load(name)
        if isActive(name) { return .alreadyRunning }
        if let state = store.runtimeState(name) { _ = try stopLocked(definition, state: state, force: true, separate()) }
        try transaction.step("start network \(name)")
        try startSteps(definition, transaction)
        return .started
    }

    private func startLocked(_ definition: NetworkDefinition, _ transaction: HostTransaction) throws {
        do {
            try startSteps(definition, transaction)
            try transaction.commit()
        } catch {
            transaction.rollBack()
            throw error
        }
    }

    /// The journaled steps of a start, in `transaction` (neither committed nor rolled back here).
    private func startSteps(_ definition: NetworkDefinition, _ transaction: HostTransaction) throws {
        let name = definition.name
        var state = NetworkRuntimeState(name: name, bridgeCreated: false, firewall: false, changedSysctls: [:],
                                        netns: namespace?.name)
        try transaction.record(undo: NetworkStateRecord(network: name))
        _ = try store.openRuntime(name, create: true)
        switch definition.mode {
        case .bridge: try startBridgeMode(definition, state: &state, transaction)
        case .nat, .isolated: try startRouted(definition, state: &state, transaction)
        case .vxlan: try startVXLAN(definition, state: &state, transaction)
        }
        try transaction.step("save runtime state")
        try store.saveRuntimeState(state)
    }

    /// Bridge mode: the bridge (with its uplink moved in) when it does not exist yet.
    private func startBridgeMode(_ definition: NetworkDefinition, state: inout NetworkRuntimeState, _ transaction: HostTransaction) throws {
        if let existing = try host.linkIfPresent(named: definition.bridge) {
            guard existing.isBridge else { throw HostNetworkError.notABridge(definition.bridge, kind: existing.kind) }
            return
        }
        try transaction.record(undo: NetworkBridgeRecord(bridge: definition.bridge, mode: .bridge))
        try host.createBridge(definition.bridge, uplink: definition.uplink)
        state.bridgeCreated = true
    }

    /// nat and isolated: a fresh bridge holding the gateway address, dnsmasq, ip_forward
    /// (nat), then the firewall table recomputed with this network in it.
    private func startRouted(_ definition: NetworkDefinition, state: inout NetworkRuntimeState, _ transaction: HostTransaction) throws {
        let name = definition.name
        let addressing = try plan(definition, existing: try hostPrefixes(), otherNetworks: try activeSubnets(except: name))
        state.addressing = addressing.subnet.description
        let gateway = IPPrefix(address: addressing.gateway, length: addressing.subnet.length)
        try transaction.record(undo: NetworkBridgeRecord(bridge: definition.bridge, mode: definition.mode))
        try host.createBridge(definition.bridge, addresses: [gateway], uplink: nil)
        state.bridgeCreated = true
        if let ipv6 = addressing.ipv6 { try addIPv6Gateway(ipv6, network: name, bridge: definition.bridge) }
        try startDNSMasqStep(definition, addressing: addressing, state: &state, transaction)
        if definition.mode == .nat {
            let ipForward = NetworkServices.ipForward
            let previous = try services.readSysctl(ipForward)
            if previous != NetworkServices.ipForwardOn {
                try transaction.record(undo: NetworkSysctlRecord(path: ipForward, previous: previous, set: NetworkServices.ipForwardOn))
                try services.writeSysctl(ipForward, NetworkServices.ipForwardOn)
                state.changedSysctls[ipForward] = previous
            }
            if addressing.ipv6 != nil { try enableIPv6Forwarding(state: &state, transaction) }
        }
        try transaction.record(undo: NetworkFirewallRecord(network: name))
        state.firewall = true
        // The firewall is computed from the runtime states: this one must be on disk first.
        try store.saveRuntimeState(state)
        try applyFirewall()
    }

    /// Starts the network's dnsmasq, journaled (the record gets the process once it runs).
    func startDNSMasqStep(_ definition: NetworkDefinition, addressing: NetworkAddressing, state: inout NetworkRuntimeState,
                          _ transaction: HostTransaction) throws {
        try transaction.step("start dnsmasq")
        try services.checkServicePortsFree(addressing.gateway)
        let configFile = services.dnsmasqConfigFile(definition.name)
        let dnsmasqRecord = try transaction.record(undo: NetworkDNSMasqRecord(configFile: configFile, process: nil))
        let dnsmasq = try services.startDNSMasq(definition, addressing: addressing)
        try transaction.update(dnsmasqRecord, to: NetworkDNSMasqRecord(configFile: configFile, process: dnsmasq))
        state.dnsmasqPid = dnsmasq.pid
        state.dnsmasqStartTime = dnsmasq.startTime
        state.dnsmasqExecutable = dnsmasq.executable
    }

    /// Brings a network down, removing exactly what start made: its TAPs (one interface
    /// group, one request), dnsmasq, firewall rules, the bridge, changed sysctls (ip_forward
    /// only while it still holds the value qnet set). Refuses while VMs use it unless
    /// `force`. Journaled past its point of no return: if killed, the next qnet command
    /// finishes it.
    public func stop(_ name: String, force: Bool = false) throws {
        try underLocks(name, command: "net stop \(name)" + (force ? " --force" : "")) { transaction in
            let definition = try store.load(name)
            guard let state = store.runtimeState(name) else { throw NetworkError.notRunning(name) }
            try stopLocked(definition, state: state, force: force, transaction())
        }
    }

    private func stopLocked(_ definition: NetworkDefinition, state: NetworkRuntimeState, force: Bool,
                            _ transaction: HostTransaction) throws {
        let name = definition.name
        let users = try vmsUsing(name)
        if !users.isEmpty && !force { throw NetworkError.inUse(network: name, vms: users, canForce: true) }
        let dnsmasq = state.dnsmasqPid.flatMap { pid in
            state.dnsmasqStartTime.map { ProcessIdentity(pid: pid, startTime: $0, executable: state.dnsmasqExecutable) }
        }
        let record = NetworkStopRecord(
            network: name, bridge: definition.bridge, mode: definition.mode, interfaceGroup: definition.interfaceGroup,
            bridgeCreated: state.bridgeCreated, firewall: state.firewall, configFile: services.dnsmasqConfigFile(name),
            dnsmasq: dnsmasq,
            sysctls: NetworkServices.restoreOrder(state.changedSysctls), frr: state.frr, frrSystem: state.frrSystem)
        try transaction.record(undo: record)
        try transaction.markPointOfNoReturn()
        let problems = finishStop(record, pause: transaction.pastPointOfNoReturnPause)
        // The journal goes only once everything is removed; otherwise recovery retries.
        if !problems.isEmpty {
            transaction.complete()
            throw NetworkError.stopIncomplete(network: name, problems: problems)
        }
        try transaction.commit()
    }

    /// Deletes a definition; refuses while running VMs use the network.
    public func delete(_ name: String) throws {
        _ = try store.load(name)
        let users = try vmsUsing(name)
        if !users.isEmpty { throw NetworkError.inUse(network: name, vms: users, canForce: false) }
        try underLocks(name, command: "net delete \(name)") { transaction in
            let definition = try store.load(name)
            if let state = store.runtimeState(name) { try stopLocked(definition, state: state, force: false, transaction()) }
            store.removeDefinition(name)
        }
    }

    public func list() throws -> [NetworkStatus] {
        try store.definitions().map(status(of:))
    }

    public func status(_ name: String) throws -> NetworkStatus { try status(of: try store.load(name)) }

    private func status(of definition: NetworkDefinition) throws -> NetworkStatus {
        let state = store.runtimeState(definition.name)
        return NetworkStatus(
            name: definition.name, mode: definition.mode, bridge: definition.bridge, active: isActive(definition.name),
            subnet: definition.subnet, gateway: definition.gateway,
            dhcpRange: definition.dhcpStart.flatMap { start in definition.dhcpEnd.map { "\(start)-\($0)" } },
            dnsmasqPid: state?.dnsmasqPid, vms: try vmsUsing(definition.name), staticLeases: definition.staticLeases,
            interfaceGroup: definition.interfaceGroup, ipv6Prefix: definition.ipv6Prefix,
            ipv6NAT: definition.mode == .nat && definition.ipv6Prefix != nil ? definition.ipv6NAT : nil,
            vxlan: try vxlanStatus(definition))
    }

    /// Names of running VMs with a NIC on this network.
    public func vmsUsing(_ name: String) throws -> [String] {
        let definition = try store.load(name)
        return VMStore.all().compactMap { $0.state }.filter { state in
            ProcessInfoReader.isAlive(state.pid, startTime: state.startTime)
                && state.nics.contains { $0.network == name || ($0.network == nil && $0.bridge == definition.bridge) }
        }.map(\.name)
    }

    func activeSubnets(except name: String) throws -> [IPPrefix] {
        try store.definitions().filter { $0.name != name && isActive($0.name) }.flatMap(\.prefixes)
    }

    /// Running NAT networks in this manager's namespace.
    func activeNATNetworks() throws -> [String] {
        try store.definitions().filter { $0.mode == .nat && isActive($0.name) && runsHere($0.name) }.map(\.name)
    }

    /// Whether a network's runtime state belongs to this manager's namespace.
    private func runsHere(_ name: String) -> Bool {
        guard let state = store.runtimeState(name) else { return false }
        return state.netns == namespace?.name
    }

    // MARK: - locks and journal

    /// How long a command waits for another one changing the same network or namespace.
    static let lockWait: Duration = .seconds(60)

    /// Every journal record kind a command may find in a namespace's journal (HostNetwork's
    /// and the networks'), with the code that rolls it back or completes it there: what
    /// recovery before any change in a namespace uses.
    public static func namespaceRecoveryRegistry(host: HostNetwork) -> RecoveryRegistry {
        var registry = host.recoveryRegistry
        registry.merge(NetworkManager(host: host).recoveryRegistry())
        registry.merge(ApplyRecords.recoveryRegistry(host: host))
        return registry
    }

    /// Begins a change of this manager's namespace (`NamespaceChange`: its lock, deferred
    /// signals, recovery of what interrupted commands left), for `command`. `signals`: a
    /// deferral the caller began already.
    public func beginNamespaceChange(command: String, signals: DeferredSignals? = nil) throws -> NamespaceChange {
        let identity = try services.inNamespace { try NetworkNamespaceIdentity.current() }
        var registry = Self.namespaceRecoveryRegistry(host: host)
        registry.merge(recovery)
        return try NamespaceChange.begin(namespace: identity, name: namespace?.name, command: command,
                                         journal: Journal(directory: QNetPaths.journal), lockDirectory: QNetPaths.locks,
                                         lockWait: Self.lockWait, signals: signals, registry: { registry })
    }

    /// The signal that arrived during the last start, stop or delete after its last safe
    /// point (the change was made completely): the CLI prints the outcome, then exits
    /// 128 + the signal (`Interrupted`).
    public private(set) var interruption: Interrupted?

    /// Runs `body` holding the network's lock, then the namespace's (that order, as
    /// `HostLock` requires), after finishing or rolling back what killed commands left in
    /// the namespace's journal (one line each on stderr). `body` makes its transactions
    /// with the function it is given; SIGINT, SIGTERM and SIGHUP wait for their safe points
    /// (a signal there rolls the change back and is thrown as `Interrupted`; one after the
    /// last is kept in `interruption`).
    func underLocks<T>(_ name: String, command: String, _ body: (() -> HostTransaction) throws -> T) throws -> T {
        interruption = nil
        let networkLock = try HostLock.acquire(try .network(name), in: QNetPaths.locks, command: "qnet \(command)",
                                               timeout: Self.lockWait) { writeStandardError("qnet: waiting: \($0)\n") }
        defer { networkLock.release() }
        let change = try beginNamespaceChange(command: command)
        // The signal mask is restored when `change` goes (after taking what is pending).
        defer { change.release() }
        let result = try body(change.transaction)
        do { try change.finish() } catch let signal as Interrupted { interruption = signal }
        return result
    }

    // MARK: - services

    private func restartDNSMasq(_ definition: NetworkDefinition) throws {
        guard var state = store.runtimeState(definition.name) else { return }
        Self.stopDNSMasq(state.dnsmasqPid.flatMap { pid in
            state.dnsmasqStartTime.map { ProcessIdentity(pid: pid, startTime: $0, executable: state.dnsmasqExecutable) }
        }, configFile: services.dnsmasqConfigFile(definition.name))
        let addressing = try plan(definition, existing: [], otherNetworks: [])
        let dnsmasq = try services.startDNSMasq(definition, addressing: addressing)
        state.dnsmasqPid = dnsmasq.pid
        state.dnsmasqStartTime = dnsmasq.startTime
        state.dnsmasqExecutable = dnsmasq.executable
        try store.saveRuntimeState(state)
    }

    /// qnet's nftables table for the running nat/isolated networks of this namespace
    /// (without `excluded`, whose runtime state may still be on disk).
    func applyFirewall(excluding excluded: String? = nil) throws {
        var networks: [(NetworkDefinition, NetworkAddressing)] = []
        for definition in try store.definitions()
        where (definition.mode == .nat || definition.mode == .isolated) && definition.name != excluded && runsHere(definition.name) {
            networks.append((definition, try plan(definition, existing: [], otherNetworks: [])))
        }
        try services.applyFirewall(networks)
    }
}
