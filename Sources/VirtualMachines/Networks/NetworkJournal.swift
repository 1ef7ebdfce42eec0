import Glibc
import HostNetwork
import QNetSystem

// Journal records of `net start` and `net stop`, and the code recovery runs on them.
//
// `net start` writes one record before each change (runtime state, bridge, dnsmasq,
// ip_forward, firewall) and rolls back newest first: after a kill at any instruction the
// next command that takes the namespace lock removes exactly what the start had made.
// `net stop` writes one `network-stop` record and passes its point of no return at once:
// its work *is* the record's completion handler, so a kill anywhere is finished by the
// next command. Every handler accepts a change that was never made or made half-way.

/// `net start` is about to write the network's runtime directory (state, dnsmasq.conf).
/// Undo: remove it.
struct NetworkStateRecord: JournalRecord {
    static let kind = "network-state"
    var network: String
}

/// `net start` is about to create the network's bridge (it did not exist). Undo: delete it
/// if present (bridge mode: `deleteBridge`, which hands the uplink back).
struct NetworkBridgeRecord: JournalRecord {
    static let kind = "network-bridge"
    var bridge: String
    var mode: NetworkMode
}

/// `net start` is about to start dnsmasq with `configFile`; `process` is filled in once it
/// runs. Undo: stop it — only a process whose identity matches, or a dnsmasq whose command
/// line names this very config file (a kill between spawn and the update leaves no pid).
struct NetworkDNSMasqRecord: JournalRecord {
    static let kind = "network-dnsmasq"
    var configFile: String
    var process: ProcessIdentity?
}

/// `net start` is about to set a sysctl (ip_forward, IPv6 forwarding, an uplink's
/// accept_ra) from `previous` to `set`. Undo: put
/// `previous` back, only while the sysctl still holds `set` (an admin's change is kept).
struct NetworkSysctlRecord: JournalRecord, Equatable {
    static let kind = "network-sysctl"
    var path: String
    var previous: String
    var set: String
}

/// `net start` is about to recompute qnet's nftables table with `network` in it. The table
/// is derived from the runtime states of the networks running in the namespace, so its
/// prior contents are those of the others. Undo: recompute it without `network`.
struct NetworkFirewallRecord: JournalRecord {
    static let kind = "network-firewall"
    var network: String
}

/// `net peer add|remove` of a static vxlan network is about to change the device's flood
/// entries, then the stored definition; `peers` is the list before. Undo: the definition
/// is stored last, so it still holds `peers`: bring the running device's flood entries back
/// to them.
struct NetworkPeerRecord: JournalRecord {
    static let kind = "network-peers"
    var network: String
    var device: String
    var peers: [String]
}

/// `net stop`: everything needed to remove what the network's start made, with no help from
/// its runtime state (which the stop removes part-way). Completed by recovery.
struct NetworkStopRecord: JournalRecord {
    static let kind = "network-stop"
    var network: String
    var bridge: String
    var mode: NetworkMode
    var interfaceGroup: UInt32
    var bridgeCreated: Bool
    var firewall: Bool
    var configFile: String
    var dnsmasq: ProcessIdentity?
    var sysctls: [NetworkSysctlRecord]
    /// evpn networks: qnet's FRR of the namespace (its daemons and folder; nil in records of
    /// older qnets), or the system FRR's vty folder.
    var frr: NetworkFRRRecord?
    var frrSystem: String?
}

extension NetworkManager {
    /// The record kinds of `net start`/`net stop` and how to roll back or complete each, in
    /// this manager's namespace. The command layer merges it with the other layers' kinds.
    public func recoveryRegistry() -> RecoveryRegistry {
        var registry = RecoveryRegistry()
        registry.register(NetworkStateRecord.self) { [store] record, context in
            guard context.direction == .rollBack else { return nil }
            store.removeRuntimeState(record.network)
            return nil
        }
        registry.register(NetworkBridgeRecord.self) { [self] record, context in
            guard context.direction == .rollBack, try removeBridgeIfPresent(record.bridge, mode: record.mode) else { return nil }
            return "bridge \(record.bridge) removed"
        }
        registry.register(NetworkDNSMasqRecord.self) { record, context in
            guard context.direction == .rollBack else { return nil }
            return Self.stopDNSMasq(record.process, configFile: record.configFile) ? "dnsmasq stopped" : nil
        }
        registry.register(NetworkFRRRecord.self) { record, context in
            guard context.direction == .rollBack else { return nil }
            return Self.stopFRR(record) ? "FRR stopped" : nil
        }
        registry.register(NetworkFRRConfigRecord.self) { [self] record, context in
            guard context.direction == .rollBack else { return nil }
            try reconcileFRR(directory: record.directory, system: record.system, excluding: record.excluding)
            return "FRR's BGP neighbours are the started evpn networks' again"
        }
        registry.register(NetworkPeerRecord.self) { [self] record, context in
            guard context.direction == .rollBack, try reconcileFloodEntries(device: record.device, peers: record.peers) else { return nil }
            return "\(record.device)'s flood entries are \(record.peers.isEmpty ? "none" : record.peers.joined(separator: ", ")) again"
        }
        registry.register(NetworkSysctlRecord.self) { [self] record, context in
            guard context.direction == .rollBack else { return nil }
            return try restoreSysctl(record) ? "\(record.path) is \(record.previous) again" : nil
        }
        registry.register(NetworkFirewallRecord.self) { [self] record, context in
            guard context.direction == .rollBack else { return nil }
            try applyFirewall(excluding: record.network)
            return nil
        }
        registry.register(NetworkStopRecord.self) { [self] record, context in
            // Rolled back only when killed before the point of no return: nothing was changed.
            guard context.direction == .complete else { return nil }
            let problems = finishStop(record, pause: context.pause)
            if !problems.isEmpty { throw NetworkError.stopIncomplete(network: record.network, problems: problems) }
            return "network \(record.network) stopped"
        }
        return registry
    }

    /// Removes everything `record` says the network's start made; idempotent. Returns what
    /// could not be removed. `pause` runs between the steps (where a signal is noticed).
    func finishStop(_ record: NetworkStopRecord, pause: () -> Void = {}) -> [NetworkStopProblem] {
        var problems: [NetworkStopProblem] = []
        // FRR first: bgpd withdraws this host's routes while the devices still exist.
        if record.frr != nil || record.frrSystem != nil {
            do { try releaseFRR(network: record.network, own: record.frr, system: record.frrSystem) } catch {
                problems.append(NetworkStopProblem(.frr, error))
            }
        }
        pause()
        // TAPs of this network leave in one kernel batch.
        if record.interfaceGroup != 0 {
            do { try host.deleteGroup(record.interfaceGroup) } catch { /* no TAPs in the group */ }
        }
        pause()
        Self.stopDNSMasq(record.dnsmasq, configFile: record.configFile)
        pause()
        // Remove the runtime record before recomputing the firewall, so this network's
        // rules are no longer part of it.
        store.removeRuntimeState(record.network)
        if record.firewall {
            do { try applyFirewall(excluding: record.network) } catch { problems.append(NetworkStopProblem(.firewall, error)) }
        }
        pause()
        if record.bridgeCreated {
            do { try removeBridgeIfPresent(record.bridge, mode: record.mode) } catch {
                problems.append(NetworkStopProblem(.bridge(record.bridge), error))
            }
        }
        pause()
        for change in record.sysctls {
            do { try releaseSysctl(change, by: record.network) } catch { problems.append(NetworkStopProblem(.sysctl(path: change.path), error)) }
        }
        return problems
    }

    /// Deletes the bridge when it exists; false when there was none.
    @discardableResult
    func removeBridgeIfPresent(_ bridge: String, mode: NetworkMode) throws -> Bool {
        guard let link = try host.linkIfPresent(named: bridge), link.isBridge else { return false }
        if mode == .bridge { _ = try host.deleteBridge(bridge) } else { try host.deleteLink(bridge) }
        return true
    }

    /// A sysctl a stopping network had set: another running NAT network of this namespace
    /// inherits it (ip_forward is shared), else it goes back to its previous value if it
    /// still holds the value qnet set.
    func releaseSysctl(_ change: NetworkSysctlRecord, by network: String) throws {
        if let heir = try activeNATNetworks().first(where: { $0 != network }), var state = store.runtimeState(heir) {
            if state.changedSysctls[change.path] == nil {
                state.changedSysctls[change.path] = change.previous
                try store.saveRuntimeState(state)
            }
            return
        }
        try restoreSysctl(change)
    }

    /// Writes `previous` back when the sysctl still holds `set`; false when it did not.
    @discardableResult
    func restoreSysctl(_ change: NetworkSysctlRecord) throws -> Bool {
        // An uplink's accept_ra disappears with the uplink: nothing is left to restore.
        if change.path.hasSuffix("/accept_ra"), (try? services.readSysctl(change.path)) == nil { return false }
        guard try services.readSysctl(change.path) == change.set, change.previous != change.set else { return false }
        try services.writeSysctl(change.path, change.previous)
        return true
    }

    /// Stops the network's dnsmasq: the recorded process if it is still that process, and
    /// any dnsmasq whose command line names `configFile` (started by a qnet killed before
    /// it recorded the pid). Returns whether one was stopped.
    @discardableResult
    static func stopDNSMasq(_ recorded: ProcessIdentity?, configFile: String) -> Bool {
        var stopped = false
        if let recorded, recorded.isRunning { stopped = Subprocess.stop(recorded).stopped || stopped }
        for identity in dnsmasqProcesses(configFile: configFile) { stopped = Subprocess.stop(identity).stopped || stopped }
        return stopped
    }

    /// Running dnsmasq processes started with `--conf-file=configFile`, from /proc.
    static func dnsmasqProcesses(configFile: String) -> [ProcessIdentity] {
        processes(named: "dnsmasq", withArgument: "--conf-file=\(configFile)")
    }

    /// Running processes whose executable's name ends in `program` and whose command line
    /// has `argument` as one of its words, from /proc.
    static func processes(named program: String, withArgument argument: String) -> [ProcessIdentity] {
        FileSystem.list("/proc").compactMap { name -> ProcessIdentity? in
            guard let pid = pid_t(name), let bytes = try? FileSystem.readBytes("/proc/\(name)/cmdline", limit: 65536) else { return nil }
            let arguments = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard arguments.first.map({ $0.hasSuffix(program) }) == true, arguments.contains(argument) else { return nil }
            return ProcessIdentity.of(pid)
        }
    }
}
