import Glibc
import HostNetwork
import QNetSystem
import QNetTypes

/// Makes the changes of an `ApplyPlan`, all in the caller's one host transaction (one
/// journal: a failure at any step rolls back every step taken, a kill anywhere is rolled
/// back by the next command, and `apply --try` rolls back through it): links first, then
/// network definitions, network starts and VM starts. `--prune`'s deletions, which cannot be
/// undone, follow in a transaction of their own (`applyDeletions`).
public struct ApplyExecutor {
    public let host: HostNetwork
    /// Resolves TAP owners and groups (tunctl -u / -g): a name or a number.
    public var userID: (String) throws -> uid_t
    public var groupID: (String) throws -> gid_t

    public init(host: HostNetwork, userID: @escaping (String) throws -> uid_t, groupID: @escaping (String) throws -> gid_t) {
        self.host = host
        self.userID = userID
        self.groupID = groupID
    }

    /// The link changes of `plan`, in order, in `transaction`. Returns one line per change made.
    public func applyLinks(_ plan: ApplyPlan, configuration: HostConfiguration, transaction: HostTransaction) throws -> [String] {
        var done: [String] = []
        for change in plan.changes where change.isLinkChange {
            switch change {
            case let .createBridge(bridge):
                try createBridge(bridge, transaction: transaction)
                done.append(change.description)
                // What the creation did not set (declared addresses, routes, a MAC other than
                // the uplink's) is planned against the new bridge and changed in place.
                let link = try host.link(named: bridge.name)
                var follow = ApplyPlan()
                let links = try host.links()
                try ApplyPlanner(host: host).planExisting(bridge, link, Dictionary(links.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }), into: &follow)
                for case let .changeLink(name, settings, _) in follow.changes {
                    try host.changeLink(name, settings, transaction: transaction)
                    done.append(PlannedChange.changeLink(name: name, settings, summary: []).description)
                }
            case let .changeLink(name, settings, _):
                try host.changeLink(name, settings, transaction: transaction)
                done.append(change.description)
            case let .attach(port, bridge):
                let master = try host.bridge(named: bridge)
                try host.changeLink(port, LinkSettingsChange(master: .index(master.index)), transaction: transaction)
                done.append(change.description)
            case let .createTAP(tap):
                let device = try host.createTAP(TAPOptions(name: tap.name, vnetHeader: tap.vnetHeader, queues: tap.queues, persistent: true,
                                                           owner: try tap.owner.map(userID), group: try tap.group.map(groupID),
                                                           bridge: tap.bridge, mtu: tap.mtu, alias: configAlias), transaction: transaction)
                device.close()
                done.append(change.description)
            case .deleteBridge, .deleteTAP, .defineNetwork, .startNetwork, .startVM:
                break
            }
        }
        return done
    }

    /// `--prune`'s deletions, in a transaction of their own after the main one committed: a
    /// deleted bridge or TAP cannot be made again exactly, so they cannot be part of a
    /// transaction that must be able to roll back (an uplink bridge's deletion gives the
    /// uplink its addresses back first and is finished, not undone, once the bridge goes).
    public func applyDeletions(_ plan: ApplyPlan, transaction: HostTransaction) throws -> [String] {
        var done: [String] = []
        for change in plan.changes {
            switch change {
            case let .deleteBridge(name):
                try host.deleteBridge(name, transaction: transaction)
            case let .deleteTAP(name):
                try host.deleteTAP(name)
            default:
                continue
            }
            done.append(change.description)
        }
        return done
    }

    /// A missing bridge: the transactional uplink move when it has an uplink, else one
    /// request (recorded first by the MAC it gets, so a rollback deletes exactly it).
    func createBridge(_ bridge: BridgeConfig, transaction: HostTransaction) throws {
        if let uplink = bridge.uplink {
            try host.createBridge(bridge.name, options: bridge.options, mtu: bridge.mtu, addresses: [], uplink: uplink, transaction: transaction)
            return
        }
        let mac = bridge.mac ?? randomBridgeMACAddress()
        try transaction.record(undo: CreatedLinkRecord(links: [.init(name: bridge.name, kind: LinkKind.bridge.kernelName, mac: mac.description)]))
        try transaction.step("create bridge \(bridge.name)")
        try host.createBridge(bridge.name, options: bridge.options, mtu: bridge.mtu, macAddress: mac, up: true, alias: configAlias)
    }

    /// The rest of the plan in the same `transaction`, after the links: defines the declared
    /// networks, starts those marked autostart (dnsmasq, firewall, sysctls: each step
    /// journaled by `NetworkManager`) and the autostart VMs (QEMU journaled by its identity
    /// before the guest runs). The caller holds the namespace's lock (`change`) and, taken
    /// before it, the lock of every network and VM named here (`vmLocks`). Returns one line
    /// per change made.
    public func applyServices(_ plan: ApplyPlan, transaction: HostTransaction, change: NamespaceChange,
                              networks: NetworkManager, vms: VMManager, vmLocks: [String: HostLock]) throws -> [String] {
        var done: [String] = []
        for planned in plan.changes where !planned.isLinkChange {
            switch planned {
            case let .defineNetwork(definition, replacing):
                try transaction.record(undo: AppliedNetworkDefinitionRecord(
                    network: definition.name, previous: replacing ? try networks.store.definitionIfPresent(definition.name) : nil))
                try transaction.step("define network \(definition.name)")
                if replacing { networks.store.removeDefinition(definition.name) }
                try networks.create(definition)
            case let .startNetwork(name):
                try networks.start(name, within: transaction, separate: change.transaction)
            case let .startVM(definition):
                guard let lock = vmLocks[definition.name] else { throw ApplyError("VM \(definition.name): its lock was not taken before the namespace's") }
                let position = try transaction.record(undo: AppliedVMRecord(vm: definition.name, netns: vms.netns, qemu: nil))
                try transaction.step("start VM \(definition.name)")
                try vms.run(definition, enclosing: VMManager.EnclosingChange(vmLock: lock, change: change) { qemu in
                    try transaction.update(position, to: AppliedVMRecord(vm: definition.name, netns: vms.netns, qemu: qemu))
                })
                if let signal = vms.interruption { throw signal }
            default:
                continue
            }
            done.append(planned.description)
        }
        return done
    }
}
