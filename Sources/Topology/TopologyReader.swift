import HostNetwork
import Netlink
import QNetSystem
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
        let topology = TopologyBuilder.namespace(name: name, links: links, addresses: addresses, defaultRouteIndex: defaultRoute,
                                                 networks: networks, isActive: isActive)
        return (topology, links)
    }

    /// The whole picture: `host`'s namespace (named `name`), restricted to `names` when some
    /// are given, and with `allNamespaces` every namespace in /run/netns too, veth pairs
    /// between them joined. Throws for a name that is neither a bridge nor a network.
    public static func graph(_ host: HostNetwork, name: String, names: [String], allNamespaces: Bool) throws -> TopologyGraph {
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
        if !names.isEmpty {
            let unknown = views.reduce(Set(names)) { $0.intersection($1.unknownNames(names)) }
            if let first = names.first(where: unknown.contains) { throw TopologyError.noSuchBridgeOrNetwork(first) }
            // The main namespace stays (possibly empty); others only where a name matched.
            views = views.enumerated().map { ($0.offset, $0.element.restricted(to: names)) }
                .filter { $0.0 == 0 || !$0.1.bridges.isEmpty }.map(\.1)
        }
        return TopologyGraph(namespaces: views, crossNamespaceVeths: allNamespaces ? TopologyBuilder.crossNamespaceVeths(linkSets) : [])
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
