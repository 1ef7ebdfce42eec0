import NetlinkWire
import QNetTypes
import HostNetwork
import Testing
@testable import Topology

/// The DOT renderer and port grouping on fixed models (tier 1, no root).
@Suite struct DOTRendererTests {
    static func tap(_ name: String, state: BridgePortState = .forwarding, vm: String? = nil, nic: Int? = nil) -> InterfaceNode {
        InterfaceNode(name: name, role: .tap, kind: "tun", portState: state, vm: vm, nic: nic)
    }

    static func graph(ports: [InterfaceNode], stp: Bool = false) -> TopologyGraph {
        TopologyGraph(namespaces: [NamespaceTopology(name: "host", bridges: [BridgeNode(name: "br0", stp: stp, ports: ports)])])
    }

    /// Node lines (those with a label) of the DOT text.
    static func nodeLines(_ dot: String) -> [Substring] {
        dot.split(separator: "\n").filter { $0.contains("[") && !$0.contains(" -- ") && $0.contains("label=") && !$0.contains("label=\"namespace") }
    }

    @Test func threePortsAreDrawnOneByOne() {
        let ports = [Self.tap("tap0", vm: "web", nic: 0), Self.tap("tap1", vm: "web", nic: 1),
                     InterfaceNode(name: "eth0", role: .physical, portState: .forwarding, isUplink: true)]
        let dot = DOTRenderer().render(Self.graph(ports: PortOrder.sorted(ports)))
        for name in ["br0", "tap0", "tap1", "eth0"] { #expect(dot.contains("\"host/\(name)\" ["), "no node for \(name):\n\(dot)") }
        #expect(dot.contains("VM web · NIC 1"))
        #expect(dot.contains("uplink · NIC"))
        // The uplink is drawn above the bridge: the edge runs from it to the bridge.
        #expect(dot.contains("\"host/eth0\" -- \"host/br0\""))
        #expect(!dot.contains("box3d"), "three ports must not be grouped")
        #expect(Self.nodeLines(dot).count == 4)
    }

    @Test func fiveHundredTAPsBecomeOneGroupNode() {
        let ports = (0..<500).map { Self.tap("tap\($0)") }.shuffled()
        let dot = DOTRenderer().render(Self.graph(ports: PortOrder.sorted(ports)))
        #expect(dot.contains("tap0..tap499\\n500 TAPs, all forwarding"), "\(dot)")
        #expect(Self.nodeLines(dot).count == 2, "bridge and one group node:\n\(dot)")
        #expect(dot.split(separator: "\n").count < 20)
    }

    @Test func aBlockingPortInTheMiddleStandsOutAndSplitsTheGroup() {
        var ports = (0..<500).map { Self.tap("tap\($0)") }
        ports[250].portState = .blocking
        let dot = DOTRenderer().render(Self.graph(ports: ports, stp: true))
        #expect(dot.contains("tap0..tap249\\n250 TAPs, all forwarding"))
        #expect(dot.contains("tap251..tap499\\n249 TAPs, all forwarding"))
        let blockingNode = dot.split(separator: "\n").first { $0.contains("\"host/tap250\" [") }
        #expect(blockingNode?.contains("color=\"#cc0000\"") == true && blockingNode?.contains("penwidth=3") == true)
        let blockingEdge = dot.split(separator: "\n").first { $0.contains("-- \"host/tap250\"") }
        #expect(blockingEdge?.contains("label=\"BLOCKING\"") == true, "\(blockingEdge ?? "")")
        // Forwarding ports are not drawn in red.
        let forwardingEdges = dot.split(separator: "\n").filter { $0.contains(" -- ") && $0.contains("forwarding") }
        #expect(!forwardingEdges.isEmpty && forwardingEdges.allSatisfy { !$0.contains("#cc0000") })
    }

    @Test func aListeningGroupIsRedAsAWhole() {
        let ports = (0..<10).map { Self.tap("vnet\($0)", state: .listening) }
        let dot = DOTRenderer().render(Self.graph(ports: ports, stp: true))
        let group = dot.split(separator: "\n").first { $0.contains("10 TAPs, all listening") }
        #expect(group?.contains("#cc0000") == true, "\(dot)")
        #expect(dot.contains("label=\"LISTENING\""))
    }

    @Test func groupsNameTheirVMs() {
        let ports = (0..<8).map { Self.tap("tap\($0)", vm: "vm\($0 / 2)", nic: $0 % 2) }
        let dot = DOTRenderer().render(Self.graph(ports: ports))
        #expect(dot.contains("8 TAPs, all forwarding\\nof 4 VMs"), "\(dot)")
    }

    @Test func unlikePortsAreNotGroupedTogether() {
        let ports = (0..<6).map { Self.tap("tap\($0)") } + (0..<6).map { InterfaceNode(name: "veth\($0)", role: .veth, portState: .forwarding) }
        let runs = PortRuns.runs(PortOrder.sorted(ports), threshold: 6)
        #expect(runs.count == 2)
        let short = PortRuns.runs((0..<5).map { Self.tap("tap\($0)") }, threshold: 6)
        #expect(short.count == 5)
    }

    @Test func portsSortByTheirNumber() {
        let names = PortOrder.sorted(["tap10", "tap2", "eth0", "tap1", "tap"].map { Self.tap($0) }).map(\.name)
        #expect(names == ["eth0", "tap", "tap1", "tap2", "tap10"])
    }

    @Test func labelsAreEscaped() {
        let renderer = DOTRenderer()
        #expect(renderer.quoted("a\"b\\c\nd") == "\"a\\\"b\\\\c\\nd\"")
    }

    @Test func networksAndVXLANPeersAreDrawn() {
        let vxlan = InterfaceNode(name: "vx42", role: .vxlan, kind: "vxlan", portState: .forwarding,
                                  vxlan: VXLANNode(vni: 42, remote: "192.0.2.7", underlay: "eth1", port: 4789, fdbPeers: ["192.0.2.8", "192.0.2.7"]))
        let namespace = NamespaceTopology(
            name: "host", bridges: [BridgeNode(name: "qn-lab", addresses: ["10.77.0.1/24"], ports: [vxlan])],
            interfaces: [InterfaceNode(name: "eth1", role: .physical, addresses: ["192.0.2.2/24"])],
            networks: [NetworkNode(name: "lab", mode: "nat", bridge: "qn-lab", subnet: "10.77.0.0/24", gateway: "10.77.0.1",
                                   dhcpRange: "10.77.0.100–10.77.0.199", uplink: "eth1")])
        let dot = DOTRenderer().render(TopologyGraph(namespaces: [namespace]))
        #expect(dot.contains("network lab\\nNAT\\nsubnet 10.77.0.0/24\\ngateway 10.77.0.1\\nDHCP 10.77.0.100–10.77.0.199\\nNAT via eth1"), "\(dot)")
        #expect(dot.contains("\"host/eth1\" -- \"host/net:lab\""))
        #expect(dot.contains("\"host/eth1\" -- \"host/vx42\" [style=dotted, label=\"underlay\"]"))
        // Both VTEPs, the configured remote once.
        #expect(dot.components(separatedBy: "remote VTEP\\n192.0.2.7").count == 2)
        #expect(dot.contains("remote VTEP\\n192.0.2.8"))
    }

    @Test func crossNamespaceVethsPairByMutualIndex() {
        func veth(_ name: String, index: UInt32, peer: UInt32) -> Link {
            var link = Link.fixture(name: name, index: index, kind: .veth)
            link.lowerIndex = InterfaceIndex(peer)
            link.peerNamespaceID = 0
            return link
        }
        let pairs = TopologyBuilder.crossNamespaceVeths([
            (name: "host", links: [veth("v-a", index: 5, peer: 2), veth("v-b", index: 6, peer: 9)]),
            (name: "lan", links: [veth("eth0", index: 2, peer: 5)]),
            (name: "other", links: [veth("eth0", index: 9, peer: 7)]),  // names 7, not 6: no pair
        ])
        #expect(pairs == [VethPair(Endpoint(namespace: "host", name: "v-a"), Endpoint(namespace: "lan", name: "eth0"))])
    }
}

extension Link {
    /// A link as the kernel would report it, for builder tests.
    static func fixture(name: String, index: UInt32, kind: LinkKind?) -> Link {
        var attributes: [LinkAttribute] = [.name(name), .mtu(1500)]
        if let kind { attributes.append(.linkInfo([.kind(kind.kernelName)])) }
        return Link(message: LinkMessage(index: InterfaceIndex(index), flags: .up, attributes: attributes))
    }
}
