import Glibc
import HostNetwork
import QNetSystem
import QNetTypes

/// Makes the changes of an `ApplyPlan`. Link changes run in the caller's host transaction
/// (one journal: a kill anywhere is rolled back by the next command, and `apply --try`
/// rolls back through it); networks and VMs are started afterwards through their own
/// managers, under their own locks.
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
            case let .deleteBridge(name):
                try host.deleteBridge(name, transaction: transaction)
                done.append(change.description)
            case let .deleteTAP(name):
                try host.deleteTAP(name)
                done.append(change.description)
            case .defineNetwork, .startNetwork, .startVM:
                break
            }
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

    /// Defines the declared networks the plan names (after the link transaction committed).
    public static func defineNetworks(_ plan: ApplyPlan, manager: NetworkManager, store: NetworkStore = NetworkStore()) throws -> [String] {
        var done: [String] = []
        for case let .defineNetwork(definition, replacing) in plan.changes {
            if replacing { store.removeDefinition(definition.name) }
            try manager.create(definition)
            done.append(PlannedChange.defineNetwork(definition, replacing: replacing).description)
        }
        return done
    }
}
