import PCIDevices
import HostNetwork
import NetlinkWire
import QNetTypes
import VirtualMachines

/// Builds the picture's model from what the kernel reports (links, addresses, the default
/// route) and qnet's network definitions. Pure: the reading is done by the caller
/// (``HostNetwork/topology(namespace:networks:isActive:)``), so this is tested without root.
public enum TopologyBuilder {
    public static func namespace(
        name: String, links: [Link], addresses: [InterfaceAddress], defaultRouteIndex: InterfaceIndex? = nil,
        vxlanPeers: [InterfaceIndex: [IPAddress]] = [:], networks: [NetworkDefinition] = [], isActive: (String) -> Bool = { _ in true }
    ) -> NamespaceTopology {
        let byIndex = Dictionary(links.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
        var addressesByIndex: [InterfaceIndex: [String]] = [:]
        for address in addresses where !address.isIPv6LinkLocal {
            addressesByIndex[address.index, default: []].append(address.prefix.description)
        }
        var portsByMaster: [InterfaceIndex: [Link]] = [:]
        for link in links { if let master = link.masterIndex { portsByMaster[master, default: []].append(link) } }

        func node(_ link: Link, uplinkName: String?) -> InterfaceNode {
            let alias = VMTapAlias(link.alias)
            var node = InterfaceNode(
                name: link.name, role: role(of: link), kind: link.kind?.kernelName, mtu: link.mtu, up: link.isUp,
                hasCarrier: link.hasCarrier, addresses: addressesByIndex[link.index] ?? [], portState: link.port?.state,
                vm: alias?.vm, nic: alias?.nicIndex,
                isUplink: link.name == uplinkName || (link.masterIndex != nil && link.kind == nil && !link.isLoopback))
            // A veth's peer in this namespace; one in another namespace is paired later.
            if link.kind == .veth, link.peerNamespaceID == nil, let peer = link.lowerIndex.flatMap({ byIndex[$0] }) {
                node.peer = peer.name
            }
            if let vxlan = link.vxlan {
                node.vxlan = VXLANNode(vni: vxlan.vni, remote: vxlan.remote?.description, local: vxlan.local?.description,
                                       underlay: vxlan.underlayIndex.flatMap { byIndex[$0]?.name }, port: vxlan.port,
                                       fdbPeers: (vxlanPeers[link.index] ?? []).map(\.description))
            }
            return node
        }

        let bridges = links.filter(\.isBridge).sorted { $0.name < $1.name }.map { bridge -> BridgeNode in
            let uplink = HostNetwork.uplinkRecorded(in: bridge)
            let ports = (portsByMaster[bridge.index] ?? []).map { node($0, uplinkName: uplink) }
            return BridgeNode(name: bridge.name, stp: bridge.bridge?.stpEnabled ?? false, mtu: bridge.mtu, up: bridge.isUp,
                              vlanFiltering: bridge.bridge?.vlanFiltering ?? false, addresses: addressesByIndex[bridge.index] ?? [],
                              uplink: uplink, ports: PortOrder.sorted(ports))
        }
        let loose = links.filter { !$0.isBridge && !$0.isLoopback && $0.masterIndex == nil }
            .map { node($0, uplinkName: nil) }.sorted { $0.name < $1.name }
        let bridgeNames = Set(bridges.map(\.name))
        let defaultRouteName = defaultRouteIndex.flatMap { byIndex[$0]?.name }
        let networkNodes = networks.filter { bridgeNames.contains($0.bridge) }.sorted { $0.name < $1.name }.map { definition in
            let range = definition.dhcpStart.flatMap { start in definition.dhcpEnd.map { "\(start)–\($0)" } }
            // NAT masquerades whatever leaves through another interface: the default route's.
            let uplink = definition.mode == .nat ? defaultRouteName : definition.uplink
            return NetworkNode(name: definition.name, mode: definition.mode.rawValue, bridge: definition.bridge,
                               subnet: definition.subnet, gateway: definition.gateway,
                               dhcpRange: definition.servesDHCP ? range : nil, uplink: uplink, active: isActive(definition.name))
        }
        return NamespaceTopology(name: name, bridges: bridges, interfaces: loose, networks: networkNodes)
    }

    static func role(of link: Link) -> InterfaceRole {
        switch link.kind {
        case nil: link.isLoopback ? .other : .physical
        case .tun?: link.isTAP ? .tap : .tun
        case .veth?: .veth
        case .vxlan?: .vxlan
        case .bridge?: .bridge
        default: .other
        }
    }

    /// Pairs veths whose peers are in other namespaces: each end names its peer's index
    /// (IFLA_LINK) and says the peer is elsewhere (IFLA_LINK_NETNSID); a pair is two such
    /// ends in different namespaces that name each other's index.
    public static func crossNamespaceVeths(_ namespaces: [(name: String, links: [Link])]) -> [VethPair] {
        var ends: [(endpoint: Endpoint, index: InterfaceIndex, peer: InterfaceIndex)] = []
        for (name, links) in namespaces {
            for link in links where link.kind == .veth && link.peerNamespaceID != nil {
                if let peer = link.lowerIndex { ends.append((Endpoint(namespace: name, name: link.name), link.index, peer)) }
            }
        }
        var pairs: [VethPair] = []
        var used = Set<Endpoint>()
        for (position, end) in ends.enumerated() where !used.contains(end.endpoint) {
            guard let other = ends[(position + 1)...].first(where: {
                !used.contains($0.endpoint) && $0.endpoint.namespace != end.endpoint.namespace && $0.index == end.peer && $0.peer == end.index
            }) else { continue }
            used.insert(end.endpoint)
            used.insert(other.endpoint)
            pairs.append(VethPair(end.endpoint, other.endpoint))
        }
        return pairs
    }
}

/// Port order: by name stem, then the number at the end (tap2 before tap10), then name.
enum PortOrder {
    static func stem(_ name: String) -> (stem: Substring, number: Int?) {
        let digits = name.reversed().prefix { $0.isASCII && $0.isNumber }.count
        guard digits > 0, digits < name.count, digits <= 9 else { return (Substring(name), nil) }
        return (name.dropLast(digits), Int(name.suffix(digits)))
    }

    static func sorted(_ ports: [InterfaceNode]) -> [InterfaceNode] {
        ports.sorted { a, b in
            let (sa, na) = stem(a.name), (sb, nb) = stem(b.name)
            if sa != sb { return sa < sb }
            if na != nb { return (na ?? -1) < (nb ?? -1) }
            return a.name < b.name
        }
    }
}

/// Narrows a namespace to the named bridges and networks (`qnet show --graph br0 lab`).
extension NamespaceTopology {
    /// Every interface drawn as a node of its own (grouped ports count too).
    public var drawnInterfaceNames: [String] {
        bridges.map(\.name) + bridges.flatMap { $0.ports.map(\.name) } + interfaces.map(\.name)
    }

    /// Names that are neither a bridge nor a network here.
    public func unknownNames(_ names: [String]) -> [String] {
        names.filter { name in !bridges.contains { $0.name == name } && !networks.contains { $0.name == name } }
    }

    /// Keeps the named bridges, the bridges of the named networks, their networks, and the
    /// loose interfaces they lean on (a NAT uplink, a VXLAN port's underlay).
    public func restricted(to names: [String]) -> NamespaceTopology {
        let wanted = Set(names)
        let bridgeNames = Set(bridges.map(\.name).filter { wanted.contains($0) })
            .union(networks.filter { wanted.contains($0.name) }.map(\.bridge))
        let keptBridges = bridges.filter { bridgeNames.contains($0.name) }
        let keptNetworks = networks.filter { bridgeNames.contains($0.bridge) }
        var needed = Set(keptNetworks.compactMap(\.uplink))
        for bridge in keptBridges { for port in bridge.ports { if let underlay = port.vxlan?.underlay { needed.insert(underlay) } } }
        return NamespaceTopology(name: name, bridges: keptBridges, interfaces: interfaces.filter { needed.contains($0.name) },
                                 networks: keptNetworks)
    }
}

extension TopologyBuilder {
    /// The functions on vfio-pci, in address order, each with the VM whose passthrough NIC it is
    /// (`records`: every running VM's `PassthroughRecord`s) and, for a VF, its PF's interface.
    public static func passthrough(_ functions: [PCIFunction], records: [(vm: String, record: PassthroughRecord)]) -> [PassthroughNode] {
        let byAddress = Dictionary(functions.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
        return functions.filter(\.isBoundToVFIO).map { function in
            var node = PassthroughNode(address: function.address.description, device: function.displayName,
                                       driver: function.driver, group: function.iommuGroup, vfIndex: function.virtualFunctionIndex)
            if let pf = function.physicalFunction { node.pf = byAddress[pf]?.interfaces.first ?? pf.description }
            if let owner = records.first(where: { $0.record.address == function.address.description }) {
                node.vm = owner.vm
                node.nic = owner.record.nic
                node.mac = owner.record.vf?.mac
                node.vlan = owner.record.vf?.vlan
            }
            return node
        }
    }
}
