import HostNetwork
import Netlink
import PCIDevices
import QNetSystem
import QNetTypes
import VirtualMachines

/// Reads the picture's model from the kernel: `ip -d link show`, `ip addr show`, the default
/// route, and qnet's network definitions. Needs no capability in the caller's namespace;
/// reading other namespaces (`--all-namespaces`) needs CAP_SYS_ADMIN to enter them.
public enum TopologyReader {
    /// One namespace, as seen through `host`.
    public static func namespace(_ host: HostNetwork, name: String, networks: [NetworkDefinition],
                                 isActive: (String) -> Bool) throws -> (topology: NamespaceTopology, links: [Link]) {
        let links = try host.links()
        let addresses = try host.addresses()
        let defaultRoute = try host.routes().first { $0.isDefault }?.outputIndex
        var vxlanPeers: [InterfaceIndex: [IPAddress]] = [:]
        for link in links where link.kind == .vxlan { vxlanPeers[link.index] = try host.vxlanPeers(device: link.index) }
        let topology = TopologyBuilder.namespace(name: name, links: links, addresses: addresses, defaultRouteIndex: defaultRoute,
                                                 vxlanPeers: vxlanPeers, networks: networks, isActive: isActive)
        return (topology, links)
    }

    /// The whole picture: `host`'s namespace (named `name`), restricted to the bridges and
    /// networks in `names` when some are given. With `allNamespaces`, every namespace in
    /// /run/netns too (with names: only those a veth leads to from what is drawn), veth
    /// pairs between them joined. Throws for a name that is neither a bridge nor a network.
    /// Passthrough functions (vfio-pci, from `pciSysfs`) are drawn with their VMs when no
    /// names restrict the picture.
    public static func graph(_ host: HostNetwork, name: String, names: [String], allNamespaces: Bool,
                             pciSysfs: PCISysfs = .host) throws -> TopologyGraph {
        let store = NetworkStore()
        let networks = (try? store.definitions()) ?? []
        let active = { (network: String) in store.isActive(network) }
        let (main, mainLinks) = try namespace(host, name: name, networks: networks, isActive: active)
        var views = [main]
        var linkSets = [(name: name, links: mainLinks)]
        if allNamespaces {
            for other in FileSystem.list(NetworkNamespace.directory).sorted() where other != name {
                // A namespace that vanished or cannot be entered is left out of the picture.
                guard let otherHost = try? HostNetwork(namespace: NetworkNamespace(name: other)),
                      let (view, links) = try? namespace(otherHost, name: other, networks: networks, isActive: active) else { continue }
                views.append(view)
                linkSets.append((other, links))
            }
        }
        var pairs = allNamespaces ? TopologyBuilder.crossNamespaceVeths(linkSets) : []
        if !names.isEmpty {
            // Names are of the main namespace. With --all-namespaces, the namespaces at the far
            // end of a veth from what is drawn come too, whole (a bridge's uplink leads to its
            // LAN), and so on from them.
            if let unknown = main.unknownNames(names).first { throw TopologyError.noSuchBridgeOrNetwork(unknown) }
            var kept = [main.restricted(to: names)]
            var grew = true
            while grew {
                grew = false
                let drawn = Set(kept.flatMap { view in view.drawnInterfaceNames.map { Endpoint(namespace: view.name, name: $0) } })
                for pair in pairs {
                    for (near, far) in [(pair.a, pair.b), (pair.b, pair.a)]
                    where drawn.contains(near) && !kept.contains(where: { $0.name == far.namespace }) {
                        if let view = views.first(where: { $0.name == far.namespace }) {
                            kept.append(view)
                            grew = true
                        }
                    }
                }
            }
            views = kept
            let shown = Set(views.flatMap { view in view.drawnInterfaceNames.map { Endpoint(namespace: view.name, name: $0) } })
            pairs = pairs.filter { shown.contains($0.a) && shown.contains($0.b) }
        }
        var passthrough: [PassthroughNode] = []
        if names.isEmpty {
            let pci = PCIHost(sysfs: pciSysfs, stateDirectory: QNetPaths.runtime + "/pci")
            let records = VMStore.recordedStates().flatMap { state in (state.passthrough ?? []).map { (vm: state.name, record: $0) } }
            passthrough = TopologyBuilder.passthrough(pci.functions(), records: records)
        }
        return TopologyGraph(namespaces: views, crossNamespaceVeths: pairs, passthrough: passthrough)
    }
}

public enum TopologyError: UserFacingError, Equatable {
    case noSuchBridgeOrNetwork(String)
    case renderingFailed(format: String, reason: String)

    public var isUsageError: Bool { if case .noSuchBridgeOrNetwork = self { true } else { false } }

    public var description: String {
        switch self {
        case let .noSuchBridgeOrNetwork(name): "no bridge or qnet network named '\(name)' (see qnet show and qnet net list)"
        case let .renderingFailed(format, reason): "dot could not render \(format): \(reason)"
        }
    }
}
