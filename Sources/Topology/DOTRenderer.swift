import HostNetwork

/// Draws a ``TopologyGraph`` as Graphviz DOT text. Pure and deterministic (everything in
/// name order), so its output is compared with golden files.
///
/// Layout: top to bottom, each namespace a dashed cluster. qnet networks (notes) and
/// uplinks sit above their bridge, ports below it. Runs of similar ports (same kind, same
/// STP state, names differing only in a trailing number) of ``groupThreshold`` or more are
/// drawn as one node ("tap0..tap499 / 500 TAPs, all forwarding"), so 500 ports stay
/// readable. A port that is not forwarding while its bridge runs STP (blocking, listening,
/// learning) is drawn red and bold with its state in capitals.
public struct DOTRenderer: Sendable {
    /// The shortest run of similar ports drawn as one node.
    public var groupThreshold: Int

    public init(groupThreshold: Int = 6) { self.groupThreshold = groupThreshold }

    public func render(_ graph: TopologyGraph) -> String {
        var out = DOTText()
        out.line("graph qnet {")
        out.line("  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=11, nodesep=0.25, ranksep=0.6, newrank=true];")
        out.line("  node [fontname=\"Helvetica\", fontsize=10, shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", color=\"#555555\"];")
        out.line("  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];")
        for namespace in graph.namespaces { render(namespace, into: &out) }
        // An uplink's far end (the LAN) is drawn above it: the edge runs from there.
        let uplinks = Set(graph.namespaces.flatMap { ns in
            ns.bridges.flatMap(\.ports).filter(\.isUplink).map { Endpoint(namespace: ns.name, name: $0.name) }
        })
        for pair in graph.crossNamespaceVeths {
            let (tail, head) = uplinks.contains(pair.a) ? (pair.b, pair.a) : (pair.a, pair.b)
            out.line("  \(id(tail.namespace, tail.name)) -- \(id(head.namespace, head.name)) [label=\"veth pair\", style=dashed, color=\"#a64d79\"];")
        }
        if let main = graph.namespaces.first { renderPassthrough(graph.passthrough, host: main, into: &out) }
        out.line("}")
        return out.text
    }

    // MARK: - namespaces

    func render(_ namespace: NamespaceTopology, into out: inout DOTText) {
        let ns = namespace.name
        out.line("  subgraph \(quoted("cluster_" + ns)) {")
        out.line("    label=\(quoted("namespace " + ns)); style=dashed; color=\"#999999\"; fontcolor=\"#666666\";")
        for network in namespace.networks { renderNetwork(network, namespace: ns, into: &out) }
        for interface in namespace.interfaces { renderInterface(interface, namespace: ns, into: &out) }
        for bridge in namespace.bridges { renderBridge(bridge, namespace: ns, into: &out) }
        // Edges that tie loose interfaces in: NAT uplinks, VXLAN underlays, veth peers.
        let looseNames = Set(namespace.interfaces.map(\.name))
        for network in namespace.networks {
            out.line("    \(id(ns, "net:" + network.name)) -- \(id(ns, network.bridge)) [style=dashed, label=\"serves\"];")
            if network.mode == "nat", let uplink = network.uplink, looseNames.contains(uplink) {
                out.line("    \(id(ns, uplink)) -- \(id(ns, "net:" + network.name)) [style=dashed, color=\"#b45f06\", label=\"NAT out\"];")
            }
        }
        for interface in namespace.interfaces + namespace.bridges.flatMap(\.ports) {
            if let underlay = interface.vxlan?.underlay, looseNames.contains(underlay) {
                out.line("    \(id(ns, underlay)) -- \(id(ns, interface.name)) [style=dotted, label=\"underlay\"];")
            }
        }
        var pairedPeers = Set<String>()
        for interface in namespace.interfaces + namespace.bridges.flatMap(\.ports) {
            guard let peer = interface.peer, !pairedPeers.contains(interface.name) else { continue }
            pairedPeers.insert(peer)
            pairedPeers.insert(interface.name)
            out.line("    \(id(ns, interface.name)) -- \(id(ns, peer)) [style=dashed, color=\"#a64d79\", label=\"veth pair\"];")
        }
        out.line("  }")
    }

    func renderNetwork(_ network: NetworkNode, namespace ns: String, into out: inout DOTText) {
        var lines = ["network \(network.name)", "\(network.mode.uppercased())\(network.active ? "" : " (stopped)")"]
        if let subnet = network.subnet { lines.append("subnet \(subnet)") }
        if let gateway = network.gateway { lines.append("gateway \(gateway)") }
        if let range = network.dhcpRange { lines.append("DHCP \(range)") }
        if let uplink = network.uplink { lines.append(network.mode == "nat" ? "NAT via \(uplink)" : "uplink \(uplink)") }
        out.line("    \(id(ns, "net:" + network.name)) [shape=note, style=filled, fillcolor=\"#f3f3f3\", label=\(label(lines))];")
    }

    func renderBridge(_ bridge: BridgeNode, namespace ns: String, into out: inout DOTText) {
        var lines = [bridge.name, "bridge · STP \(bridge.stp ? "on" : "off") · MTU \(bridge.mtu)\(bridge.up ? "" : " · DOWN")"]
        if bridge.vlanFiltering { lines.append("VLAN filtering") }
        lines += bridge.addresses
        out.line("    \(id(ns, bridge.name)) [style=\"rounded,filled,bold\", fillcolor=\"#cfe2f3\", penwidth=2, label=\(label(lines))];")
        for run in PortRuns.runs(bridge.ports, threshold: groupThreshold) {
            switch run {
            case let .single(port):
                renderInterface(port, namespace: ns, into: &out)
                for peer in port.vxlan?.peers ?? [] { renderVTEP(peer, of: port, namespace: ns, into: &out) }
                // Uplinks above the bridge (edge from the uplink), other ports below.
                let (tail, head) = port.isUplink ? (id(ns, port.name), id(ns, bridge.name)) : (id(ns, bridge.name), id(ns, port.name))
                out.line("    \(tail) -- \(head) [\(portEdgeStyle(port.portState, stp: bridge.stp))];")
            case let .group(ports):
                let first = ports[0], last = ports[ports.count - 1]
                let groupID = id(ns, "group:\(bridge.name):\(first.name)..\(last.name)")
                var lines = ["\(first.name)..\(last.name)", "\(ports.count) \(first.role.plural), all \(stateWord(first.portState))"]
                let vms = Set(ports.compactMap(\.vm))
                if !vms.isEmpty { lines.append(vms.count == 1 ? "VM \(vms.first!)" : "of \(vms.count) VMs") }
                let attention = needsAttention(first.portState, stp: bridge.stp)
                out.line("    \(groupID) [shape=box3d, style=filled, fillcolor=\(quoted(attention ? "#f4cccc" : fill(first.role)))\(attention ? ", color=\"#cc0000\", penwidth=3" : ""), label=\(label(lines))];")
                out.line("    \(id(ns, bridge.name)) -- \(groupID) [\(portEdgeStyle(first.portState, stp: bridge.stp)), penwidth=\(attention ? 3 : 2)];")
            }
        }
    }

    func renderInterface(_ interface: InterfaceNode, namespace ns: String, into out: inout DOTText) {
        var lines = [interface.name]
        var what: String
        switch interface.role {
        case .tap: what = "TAP"
        case .tun: what = "TUN"
        case .veth: what = "veth"
        case .physical: what = "NIC"
        case .vxlan: what = "VXLAN"
        case .bridge: what = "bridge"
        case .other: what = interface.kind ?? "link"
        }
        if interface.isUplink { what = "uplink · " + what }
        if !interface.up { what += " · DOWN" } else if !interface.hasCarrier && interface.role != .tap { what += " · NO-CARRIER" }
        lines.append(what)
        if let vm = interface.vm { lines.append("VM \(vm) · NIC \(interface.nic.map(String.init) ?? "?")") }
        if let vxlan = interface.vxlan {
            var tunnel: [String] = []
            if let vni = vxlan.vni { tunnel.append("VNI \(vni)") }
            if let port = vxlan.port { tunnel.append("port \(port)") }
            if let underlay = vxlan.underlay { tunnel.append("dev \(underlay)") }
            if !tunnel.isEmpty { lines.append(tunnel.joined(separator: " · ")) }
            if let local = vxlan.local { lines.append("local \(local)") }
        }
        lines += interface.addresses
        let attention = interface.portState.map { needsAttentionState($0) } ?? false
        let style = attention ? ", color=\"#cc0000\", penwidth=3, fillcolor=\"#f4cccc\"" : ", fillcolor=\(quoted(fill(interface.role)))"
        out.line("    \(id(ns, interface.name)) [label=\(label(lines))\(style)];")
        if interface.portState == nil {
            for peer in interface.vxlan?.peers ?? [] { renderVTEP(peer, of: interface, namespace: ns, into: &out) }
        }
    }

    /// Functions on vfio-pci, outside every namespace (PCI belongs to the host): the address,
    /// what it is, its group, the VM and NIC it is, a VF's MAC and VLAN; a VF hangs off its
    /// PF's interface when that is drawn.
    func renderPassthrough(_ functions: [PassthroughNode], host: NamespaceTopology, into out: inout DOTText) {
        let drawn = Set(host.interfaces.map(\.name) + host.bridges.flatMap(\.ports).map(\.name))
        for function in functions {
            var lines = [function.address, function.device]
            var what = [function.vfIndex.map { "VF \($0)\(function.pf.map { " of \($0)" } ?? "")" } ?? "passthrough", function.driver ?? "no driver"]
            if let group = function.group { what.append("group \(group)") }
            lines.append(what.joined(separator: " · "))
            lines.append(function.vm.map { "VM \($0) · NIC \(function.nic.map(String.init) ?? "?")" } ?? "no VM")
            let settings = [function.mac.map { "mac \($0)" }, function.vlan.map { "VLAN \($0)" }].compactMap { $0 }
            if !settings.isEmpty { lines.append(settings.joined(separator: " · ")) }
            let node = quoted("pci/" + function.address)
            out.line("  \(node) [shape=component, style=filled, fillcolor=\"#fce5cd\", label=\(label(lines))];")
            if let pf = function.pf, drawn.contains(pf) {
                out.line("  \(id(host.name, pf)) -- \(node) [style=dashed, color=\"#b45f06\", label=\(quoted("VF \(function.vfIndex.map(String.init) ?? "?")"))];")
            }
        }
    }

    /// A remote VXLAN endpoint (VTEP), outside the host.
    func renderVTEP(_ address: String, of device: InterfaceNode, namespace ns: String, into out: inout DOTText) {
        let vtep = id(ns, "vtep:\(device.name):\(address)")
        out.line("    \(vtep) [shape=ellipse, style=dashed, label=\(label(["remote VTEP", address]))];")
        out.line("    \(id(ns, device.name)) -- \(vtep) [style=dashed, label=\(quoted("VNI \(device.vxlan?.vni.map(String.init) ?? "?")"))];")
    }

    // MARK: - styles

    func fill(_ role: InterfaceRole) -> String {
        switch role {
        case .tap, .tun: "#d9ead3"
        case .veth: "#ead1dc"
        case .physical: "#fff2cc"
        case .vxlan: "#d0e0e3"
        case .bridge: "#cfe2f3"
        case .other: "#eeeeee"
        }
    }

    func stateWord(_ state: BridgePortState?) -> String { state?.description ?? "detached" }

    func needsAttentionState(_ state: BridgePortState) -> Bool { state == .blocking || state == .listening || state == .learning }

    /// A port that is not (yet) forwarding because of STP.
    func needsAttention(_ state: BridgePortState?, stp: Bool) -> Bool { state.map(needsAttentionState) ?? false }

    func portEdgeStyle(_ state: BridgePortState?, stp: Bool) -> String {
        let word = stateWord(state)
        if needsAttention(state, stp: stp) {
            return "label=\(quoted(word.uppercased())), color=\"#cc0000\", fontcolor=\"#cc0000\", penwidth=3, style=bold"
        }
        if state == .disabled { return "label=\"disabled\", style=dotted" }
        return "label=\(quoted(word))"
    }

    // MARK: - DOT syntax

    func id(_ namespace: String, _ name: String) -> String { quoted("\(namespace)/\(name)") }

    func label(_ lines: [String]) -> String { quoted(lines.joined(separator: "\n")) }

    /// A DOT double-quoted string: backslash and quote escaped, newlines as `\n` (centred lines).
    func quoted(_ text: String) -> String {
        var result = "\""
        for character in text {
            switch character {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            default: result.append(character)
            }
        }
        return result + "\""
    }
}

/// Lines of DOT text.
struct DOTText {
    var text = ""
    mutating func line(_ line: String) {
        text += line
        text += "\n"
    }
}

/// Runs of similar bridge ports, for drawing many ports as one node.
public enum PortRun: Equatable, Sendable {
    case single(InterfaceNode)
    /// At least the renderer's threshold of ports alike but for their number.
    case group([InterfaceNode])
}

enum PortRuns {
    struct Key: Equatable {
        var role: InterfaceRole
        var state: BridgePortState?
        var stem: Substring
        var isUplink: Bool
        var hasVM: Bool
        var hasNumber: Bool
    }

    static func key(_ port: InterfaceNode) -> Key {
        let (stem, number) = PortOrder.stem(port.name)
        return Key(role: port.role, state: port.portState, stem: stem, isUplink: port.isUplink, hasVM: port.vm != nil,
                   hasNumber: number != nil)
    }

    /// Ports (in ``PortOrder``) split into runs of equal ``Key``; a run of `threshold` or more
    /// numbered ports becomes one group. VXLAN ports and uplinks are never grouped: their own
    /// details matter.
    static func runs(_ ports: [InterfaceNode], threshold: Int) -> [PortRun] {
        var result: [PortRun] = []
        var current: [InterfaceNode] = []
        func flush() {
            let groupable = current.count >= threshold && current.first.map { key($0).hasNumber && $0.role != .vxlan && !$0.isUplink } == true
            if groupable { result.append(.group(current)) } else { result += current.map(PortRun.single) }
            current = []
        }
        for port in ports {
            if let last = current.last, key(last) != key(port) { flush() }
            current.append(port)
        }
        flush()
        return result
    }
}
