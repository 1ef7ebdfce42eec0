import CLinuxNet
import Glibc
import HostNetwork
import Netlink
import NetlinkWire
import Yams
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What `net start` made, recorded so `net stop` removes exactly that.
public struct NetworkRuntimeState: Codable, Equatable, Sendable {
    public var name: String
    public var bridgeCreated: Bool
    public var dnsmasqPid: Int32?
    public var dnsmasqStartTime: UInt64?
    public var firewall: Bool
    /// Sysctls changed by this start and their previous values (path → value).
    public var changedSysctls: [String: String]
    public var addressing: String?
    /// The network namespace the network runs in (nil: the host's). Firewall rules and
    /// sysctls are per namespace, so only networks of the same namespace share them.
    public var netns: String?
}

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
}

/// Named networks: definitions under /var/lib/qnet/networks, runtime state under
/// /run/qnet/networks. Equivalent to `virsh net-define/net-start/net-destroy/net-undefine`
/// or `incus network create/delete`. Needs CAP_NET_ADMIN (bridges, firewall, sysctls).
public final class NetworkManager {
    public let host: HostNetwork
    public let namespace: NetworkNamespace?

    public init(host: HostNetwork) {
        self.host = host
        self.namespace = host.namespace
    }

    static var definitionsDirectory: String { "\(QNetPaths.persistent)/networks" }
    static var runtimeDirectory: String { "\(QNetPaths.runtime)/networks" }
    static func definitionPath(_ name: String) -> String { "\(definitionsDirectory)/\(name).yaml" }
    static func runtimePath(_ name: String) -> String { "\(runtimeDirectory)/\(name)" }

    // MARK: - definitions

    /// All stored definitions, by name.
    public func definitions() throws -> [NetworkDefinition] {
        try listDirectory(Self.definitionsDirectory).filter { $0.hasSuffix(".yaml") }.map { file in
            try load(String(file.dropLast(5)))
        }
    }

    public func load(_ name: String) throws -> NetworkDefinition {
        guard let text = readText(Self.definitionPath(name)) else { throw VMError.state("no network named '\(name)' (see `qnet net list`)") }
        do { return try YAMLDecoder().decode(NetworkDefinition.self, from: text) } catch {
            throw VMError.state("network definition \(Self.definitionPath(name)) is invalid: \(error)")
        }
    }

    func save(_ definition: NetworkDefinition) throws {
        try makeDirectories(Self.definitionsDirectory)
        let text = try YAMLEncoder().encode(definition)
        try writeFileAtomically(Self.definitionPath(definition.name), Array(text.utf8))
    }

    /// Defines a network: checks every value, picks a free subnet when none is given, and
    /// stores it. Equivalent to `virsh net-define` / `incus network create`.
    @discardableResult
    public func create(_ requested: NetworkDefinition) throws -> NetworkDefinition {
        var definition = requested
        try NetworkNames.validate(definition.name)
        if fileExists(Self.definitionPath(definition.name)) {
            throw VMError.invalidValue(what: "network name", value: definition.name, allowed: "a network with that name exists; delete it first or pick another")
        }
        let others = try definitions()
        if let clash = others.first(where: { $0.bridge == definition.bridge }) {
            throw VMError.invalidValue(what: "bridge", value: definition.bridge, allowed: "network '\(clash.name)' already uses it")
        }
        if definition.mode != .bridge, try host.linkIfPresent(named: definition.bridge) != nil {
            throw VMError.invalidValue(what: "bridge name", value: definition.bridge, allowed: "an interface with that name exists; \(definition.mode.rawValue) networks make their own bridge")
        }
        if definition.mode != .bridge {
            let existing = try hostPrefixes()
            let otherSubnets = others.compactMap { $0.subnet.flatMap(IPPrefix.init) }
            if definition.subnet == nil {
                guard let free = AddressPlanner.firstFreeSubnet(existing: existing, otherNetworks: otherSubnets) else {
                    throw VMError.state("no free 10.x.y.0/24 subnet is left; pass --subnet")
                }
                definition.subnet = free.description
            }
            let addressing = try plan(definition, existing: existing, otherNetworks: otherSubnets)
            definition.gateway = addressing.gateway.description
            definition.dhcpStart = addressing.dhcpStart.description
            definition.dhcpEnd = addressing.dhcpEnd.description
        }
        if definition.interfaceGroup == 0 {
            let used = Set(others.map(\.interfaceGroup))
            var group: UInt32 = Self.firstInterfaceGroup
            while used.contains(group) { group += 1 }
            definition.interfaceGroup = group
        }
        try save(definition)
        return definition
    }

    /// Interface groups qnet gives networks start here (well above iproute2's few named groups).
    static let firstInterfaceGroup: UInt32 = 0x5100

    private func plan(_ definition: NetworkDefinition, existing: [IPPrefix], otherNetworks: [IPPrefix]) throws -> NetworkAddressing {
        do { return try AddressPlanner.resolve(definition, existing: existing, otherNetworks: otherNetworks) } catch let error as NetworkConfigError {
            throw VMError.invalidValue(what: "network setting", value: definition.name, allowed: error.description)
        }
    }

    /// The host's addresses and routes (IPv4), which a new subnet must not overlap.
    func hostPrefixes() throws -> [IPPrefix] {
        do {
            var result = try host.addresses(family: .inet).map { IPPrefix(address: $0.prefix.network, length: $0.prefix.length) }
            for route in try host.routes(family: .inet) {
                if let destination = route.destination, destination.length > 0 { result.append(destination) }
            }
            return result
        } catch let error as HostNetworkError { throw VMError.network(error) }
    }

    /// Adds a static lease. Equivalent to `virsh net-update ... add ip-dhcp-host`.
    public func addLease(_ name: String, mac: String, address: String, hostname: String?) throws {
        var definition = try load(name)
        guard definition.servesDHCP else {
            throw VMError.invalidValue(what: "network", value: name, allowed: "static leases need a nat or isolated network (qnet serves no DHCP on bridge networks)")
        }
        definition.staticLeases.removeAll { $0.mac.lowercased() == mac.lowercased() }
        definition.staticLeases.append(StaticLease(mac: mac.lowercased(), address: address, hostname: hostname))
        let others = try definitions().filter { $0.name != name }.compactMap { $0.subnet.flatMap(IPPrefix.init) }
        _ = try plan(definition, existing: [], otherNetworks: others)
        try save(definition)
        if isActive(name) { try restartDNSMasq(definition) }
    }

    // MARK: - start / stop

    public enum StartResult: Equatable, Sendable { case started, alreadyRunning }

    public func isActive(_ name: String) -> Bool {
        guard let state = runtimeState(name) else { return false }
        if let pid = state.dnsmasqPid, let start = state.dnsmasqStartTime, !ProcessInfoReader.isAlive(pid, startTime: start) { return false }
        return true
    }

    func runtimeState(_ name: String) -> NetworkRuntimeState? {
        guard let bytes = readFile("\(Self.runtimePath(name))/state.json") else { return nil }
        return try? JSONDecoder().decode(NetworkRuntimeState.self, from: Data(bytes))
    }

    func saveRuntimeState(_ state: NetworkRuntimeState) throws {
        try makeDirectories(Self.runtimePath(state.name))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeFileAtomically("\(Self.runtimePath(state.name))/state.json", Array(try encoder.encode(state)))
    }

    /// Brings a network up: bridge (and gateway address), dnsmasq, firewall rules,
    /// ip_forward — each step undone if a later one fails. A second start changes nothing.
    @discardableResult
    public func start(_ name: String) throws -> StartResult {
        let definition = try load(name)
        if isActive(name) { return .alreadyRunning }
        // Leftovers of a start that died half-way are removed first.
        if runtimeState(name) != nil { try? stop(name, force: true) }

        let undo = UndoStack()
        var succeeded = false
        defer { if !succeeded { undo.rollback() } }
        var state = NetworkRuntimeState(name: name, bridgeCreated: false, firewall: false, changedSysctls: [:],
                                        netns: namespace?.name)
        try makeDirectories(Self.runtimePath(name))
        undo.push("remove runtime state") { removeTree(Self.runtimePath(name)) }

        switch definition.mode {
        case .bridge:
            if try host.linkIfPresent(named: definition.bridge) == nil {
                do { try host.createBridge(definition.bridge, uplink: definition.uplink) } catch let error as HostNetworkError { throw VMError.network(error) }
                state.bridgeCreated = true
                undo.push("delete bridge") { [host] in try host.deleteBridge(definition.bridge) }
            } else if !(try host.link(named: definition.bridge)).isBridge {
                throw VMError.network(.notABridge(definition.bridge, kind: try host.link(named: definition.bridge).kind))
            }
        case .nat, .isolated:
            let addressing = try plan(definition, existing: try hostPrefixes(), otherNetworks: try activeSubnets(except: name))
            state.addressing = addressing.subnet.description
            let gateway = IPPrefix(address: addressing.gateway, length: addressing.subnet.length)
            do {
                try host.createBridge(definition.bridge, addresses: [gateway], uplink: nil)
            } catch let error as HostNetworkError { throw VMError.network(error) }
            state.bridgeCreated = true
            undo.push("delete bridge") { [host] in try host.deleteLink(definition.bridge) }
            try checkServicePortsFree(addressing.gateway)
            let (pid, start) = try startDNSMasq(definition, addressing: addressing)
            state.dnsmasqPid = pid
            state.dnsmasqStartTime = start
            undo.push("stop dnsmasq") { Processes.stop(pid) }
            try saveRuntimeState(state)
            if definition.mode == .nat {
                let previous = try readSysctl(Self.ipForward)
                if previous != "1" {
                    try writeSysctl(Self.ipForward, "1")
                    state.changedSysctls[Self.ipForward] = previous
                    undo.push("restore ip_forward") { [self] in try writeSysctl(Self.ipForward, previous) }
                }
            }
            try saveRuntimeState(state)
            try applyFirewall()
            state.firewall = true
            undo.push("reapply firewall") { [self] in
                removeTree(Self.runtimePath(name))
                try applyFirewall()
            }
        }
        try saveRuntimeState(state)
        succeeded = true
        return .started
    }

    /// Brings a network down, removing exactly what start made: its TAPs (one interface
    /// group, one request), dnsmasq, firewall rules, the bridge, changed sysctls.
    /// Refuses while VMs use it unless `force`.
    public func stop(_ name: String, force: Bool = false) throws {
        let definition = try load(name)
        guard let state = runtimeState(name) else {
            throw VMError.state("network '\(name)' is not running")
        }
        let users = try vmsUsing(name)
        if !users.isEmpty && !force {
            throw VMError.invalidValue(what: "network", value: name, allowed: "VMs still use it: \(users.joined(separator: ", ")); stop them first or pass --force")
        }
        var failures: [String] = []
        // TAPs of this network leave in one kernel batch.
        if definition.interfaceGroup != 0 {
            do { try host.deleteGroup(definition.interfaceGroup) } catch { /* no TAPs in the group */ }
        }
        if let pid = state.dnsmasqPid, let start = state.dnsmasqStartTime, ProcessInfoReader.isAlive(pid, startTime: start) {
            Processes.stop(pid)
        }
        // Remove our runtime record before recomputing the firewall, so this network's
        // rules are no longer part of it.
        let sysctls = state.changedSysctls
        removeTree(Self.runtimePath(name))
        if state.firewall {
            do { try applyFirewall() } catch { failures.append("firewall: \(error)") }
        }
        if state.bridgeCreated {
            do {
                if definition.mode == .bridge { try host.deleteBridge(definition.bridge) } else { try host.deleteLink(definition.bridge) }
            } catch { failures.append("bridge: \(error)") }
        }
        for (path, value) in sysctls {
            // ip_forward is shared: it goes back only when no other NAT network needs it.
            if path == Self.ipForward, try activeNATNetworks().contains(where: { $0 != name }) { continue }
            do { try writeSysctl(path, value) } catch { failures.append("\(path): \(error)") }
        }
        if !failures.isEmpty { throw VMError.state("network '\(name)' stopped with problems: \(failures.joined(separator: "; "))") }
    }

    /// Deletes a definition; refuses while running VMs use the network.
    public func delete(_ name: String) throws {
        _ = try load(name)
        let users = try vmsUsing(name)
        if !users.isEmpty {
            throw VMError.invalidValue(what: "network", value: name, allowed: "VMs still use it: \(users.joined(separator: ", ")); stop them first")
        }
        if runtimeState(name) != nil { try stop(name) }
        unlink(Self.definitionPath(name))
    }

    public func list() throws -> [NetworkStatus] {
        try definitions().map(status(of:))
    }

    public func status(_ name: String) throws -> NetworkStatus { try status(of: try load(name)) }

    private func status(of definition: NetworkDefinition) throws -> NetworkStatus {
        let state = runtimeState(definition.name)
        return NetworkStatus(
            name: definition.name, mode: definition.mode, bridge: definition.bridge, active: isActive(definition.name),
            subnet: definition.subnet, gateway: definition.gateway,
            dhcpRange: definition.dhcpStart.flatMap { start in definition.dhcpEnd.map { "\(start)-\($0)" } },
            dnsmasqPid: state?.dnsmasqPid, vms: try vmsUsing(definition.name), staticLeases: definition.staticLeases,
            interfaceGroup: definition.interfaceGroup)
    }

    /// Names of running VMs with a NIC on this network.
    public func vmsUsing(_ name: String) throws -> [String] {
        let definition = try load(name)
        return VMStore.all().compactMap { $0.state }.filter { state in
            ProcessInfoReader.isAlive(state.pid, startTime: state.startTime)
                && state.nics.contains { $0.network == name || ($0.network == nil && $0.bridge == definition.bridge) }
        }.map(\.name)
    }

    private func activeSubnets(except name: String) throws -> [IPPrefix] {
        try definitions().filter { $0.name != name && isActive($0.name) }.compactMap { $0.subnet.flatMap(IPPrefix.init) }
    }

    /// Running NAT networks in this manager's namespace.
    private func activeNATNetworks() throws -> [String] {
        try definitions().filter { $0.mode == .nat && isActive($0.name) && runsHere($0.name) }.map(\.name)
    }

    /// Whether a network's runtime state belongs to this manager's namespace.
    private func runsHere(_ name: String) -> Bool {
        guard let state = runtimeState(name) else { return false }
        return state.netns == namespace?.name
    }

    // MARK: - dnsmasq

    private func startDNSMasq(_ definition: NetworkDefinition, addressing: NetworkAddressing) throws -> (Int32, UInt64) {
        guard let dnsmasq = Processes.which("dnsmasq") else {
            throw VMError.state("dnsmasq is not installed; install it: apt-get install dnsmasq-base")
        }
        let directory = Self.runtimePath(definition.name)
        let paths = DnsmasqPaths(leaseFile: "\(directory)/dnsmasq.leases", pidFile: "\(directory)/dnsmasq.pid",
                                 configFile: "\(directory)/dnsmasq.conf")
        let config = DnsmasqConfig.render(definition: definition, addressing: addressing, paths: paths,
                                          upstreamServers: Resolver.nameservers())
        try writeFileAtomically(paths.configFile, Array(config.utf8))
        let log = "\(directory)/dnsmasq.log"
        let pid = try Processes.start(dnsmasq, ["--keep-in-foreground", "--conf-file=\(paths.configFile)"], logPath: log, namespace: namespace)
        let startTime = ProcessInfoReader.startTime(of: pid) ?? 0
        // dnsmasq writes its pid file once it has bound its sockets.
        let deadline = monotonicNow() + 10
        while monotonicNow() < deadline {
            if VMManager.reapIfExited(pid) != nil || !ProcessInfoReader.isAlive(pid, startTime: startTime) {
                let reason = (readText(log) ?? "").split(separator: "\n").suffix(2).joined(separator: " | ")
                throw VMError.state("dnsmasq for network '\(definition.name)' exited at once: \(reason)")
            }
            if fileExists(paths.pidFile) { return (pid, startTime) }
            usleep(10_000)  // poll interval; bounded by the 10 s start deadline
        }
        Processes.stop(pid)
        throw VMError.timeout("dnsmasq for network '\(definition.name)' did not start within 10 s")
    }

    private func restartDNSMasq(_ definition: NetworkDefinition) throws {
        guard var state = runtimeState(definition.name) else { return }
        if let pid = state.dnsmasqPid { Processes.stop(pid) }
        let addressing = try plan(definition, existing: [], otherNetworks: [])
        let (pid, start) = try startDNSMasq(definition, addressing: addressing)
        state.dnsmasqPid = pid
        state.dnsmasqStartTime = start
        try saveRuntimeState(state)
    }

    /// Something else answering DNS on the gateway address would make dnsmasq fail (or
    /// worse, serve guests): detect it before starting.
    private func checkServicePortsFree(_ gateway: IPAddress) throws {
        for (type, port, name) in [(SOCK_DGRAM, 53, "DNS (udp 53)"), (SOCK_STREAM, 53, "DNS (tcp 53)")] {
            let inUse = try inNamespace { () -> Bool in
                let fd = socket(AF_INET, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                guard fd >= 0 else { return false }
                defer { close(fd) }
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = UInt16(port).bigEndian
                let bytes = gateway.bytes
                address.sin_addr.s_addr = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
                let result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                return result != 0 && errno == EADDRINUSE
            }
            if inUse {
                throw VMError.state("\(name) on \(gateway) is already taken by another program (a system dnsmasq or resolver?); stop it or bind it elsewhere")
            }
        }
    }

    private func inNamespace<T>(_ body: () throws -> T) throws -> T {
        guard let namespace else { return try body() }
        do { return try namespace.withEntered(body) } catch let error as NamespaceError { throw VMError.network(.namespace(error)) }
    }

    // MARK: - firewall and sysctls

    static let ipForward = "/proc/sys/net/ipv4/ip_forward"

    /// Regenerates qnet's whole nftables table from the running nat/isolated networks and
    /// applies it atomically with `nft -f`; with none left, removes the table.
    func applyFirewall() throws {
        guard let nft = Processes.which("nft") else {
            throw VMError.state("nft is not installed; NAT and isolated networks need nftables: apt-get install nftables")
        }
        var networks: [(NetworkDefinition, NetworkAddressing)] = []
        for definition in try definitions() where definition.mode != .bridge && runsHere(definition.name) {
            networks.append((definition, try plan(definition, existing: [], otherNetworks: [])))
        }
        let script = networks.isEmpty ? FirewallRuleset.removal() : FirewallRuleset.render(networks: networks)
        try makeDirectories(Self.runtimeDirectory)
        let path = "\(Self.runtimeDirectory)/firewall.nft"
        try writeFileAtomically(path, Array(script.utf8))
        let result = try Processes.run(nft, ["-f", path], namespace: namespace)
        guard result.status == 0 else {
            throw VMError.state("nft -f \(path) failed: \(result.output.split(separator: "\n").prefix(3).joined(separator: " | "))")
        }
    }

    func readSysctl(_ path: String) throws -> String {
        try inNamespace {
            guard let text = readText(path) else { throw VMError.state("cannot read \(path)") }
            return String(text.filter { !$0.isWhitespace })
        }
    }

    func writeSysctl(_ path: String, _ value: String) throws {
        try inNamespace {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw VMError.state("cannot write \(path): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            let bytes = Array((value + "\n").utf8)
            guard write(fd, bytes, bytes.count) == bytes.count else { throw VMError.state("cannot write \(path)") }
        }
    }
}

/// Network names: they become part of bridge names (`qn-NAME`, at most 15 bytes) and file names.
public enum NetworkNames {
    /// Names become bridge names (`qn-NAME`, at most 15 bytes), DNS domains and file names.
    public static func validate(_ name: String) throws {
        do { try AddressPlanner.validateNetworkName(name) } catch let error as NetworkConfigError {
            throw VMError.invalidValue(what: "network name", value: name, allowed: error.description)
        }
    }

    public static func defaultBridge(for name: String) -> String { AddressPlanner.defaultBridgeName(for: name) }
}

/// The host's upstream DNS servers, from /etc/resolv.conf.
enum Resolver {
    static func nameservers(_ path: String = "/etc/resolv.conf") -> [String] {
        (readText(path) ?? "").split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver" else { return nil }
            return String(words[1])
        }
    }
}
