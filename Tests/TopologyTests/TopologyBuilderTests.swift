import HostNetwork
import NetlinkWire
import QNetTypes
import Testing
import VirtualMachines
@testable import Topology

/// The model built from links as the kernel reports them (tier 1, no root).
@Suite struct TopologyBuilderTests {
    /// br0 (index 2) with ports eth0 (physical, 3), tap0 (TAP of VM web, 4) and veth0 (5,
    /// peer veth1 = 6 outside the bridge); qn-lab (7), the NAT network's bridge; the default
    /// route leaves by eth1 (8, physical, outside any bridge).
    static func links() -> [Link] {
        func link(_ name: String, _ index: UInt32, kind: String? = nil, master: UInt32? = nil, alias: String? = nil,
                  lower: UInt32? = nil, info: [LinkInfoAttribute] = []) -> Link {
            var attributes: [LinkAttribute] = [.name(name), .mtu(1500)]
            var linkInfo = info
            if let kind { linkInfo.insert(.kind(kind), at: 0) }
            if master != nil { linkInfo.append(.portKind("bridge")); linkInfo.append(.bridgePortData([.state(3)])) }
            if !linkInfo.isEmpty { attributes.append(.linkInfo(linkInfo)) }
            if let master { attributes.append(.master(InterfaceIndex(master))) }
            if let alias { attributes.append(.alias(alias)) }
            if let lower { attributes.append(.link(InterfaceIndex(lower))) }
            return Link(message: LinkMessage(index: InterfaceIndex(index), flags: .up, attributes: attributes))
        }
        return [
            link("lo", 1).with { $0.flags = [.up, .loopback] },
            link("br0", 2, kind: "bridge", info: [.bridgeData([.stpState(1)])]),
            link("eth0", 3, master: 2),
            link("tap0", 4, kind: "tun", master: 2, alias: "qnet:vm=web/1", info: [.tunData([.type(2)])]),
            link("veth0", 5, kind: "veth", master: 2, lower: 6),
            link("veth1", 6, kind: "veth", lower: 5),
            link("qn-lab", 7, kind: "bridge"),
            link("eth1", 8),
        ]
    }

    @Test func bridgesPortsRolesAndNetworks() throws {
        let lab = NetworkDefinition(name: "lab", mode: .nat, bridge: "qn-lab", subnet: "10.77.0.0/24", gateway: "10.77.0.1",
                                    dhcpStart: "10.77.0.100", dhcpEnd: "10.77.0.199")
        let gone = NetworkDefinition(name: "gone", mode: .isolated, bridge: "qn-gone")
        let addresses = [InterfaceAddress(index: 2, prefix: IPPrefix("10.9.0.2/24")!),
                         InterfaceAddress(index: 2, prefix: IPPrefix("fe80::1/64")!)]
        let view = TopologyBuilder.namespace(name: "host", links: Self.links(), addresses: addresses, defaultRouteIndex: 8,
                                             networks: [lab, gone], isActive: { $0 == "lab" })
        #expect(view.bridges.map(\.name) == ["br0", "qn-lab"])
        let br0 = try #require(view.bridges.first)
        #expect(br0.stp && br0.addresses == ["10.9.0.2/24"], "link-local addresses are left out")
        #expect(br0.ports.map(\.name) == ["eth0", "tap0", "veth0"])
        let eth0 = br0.ports[0], tap0 = br0.ports[1], veth0 = br0.ports[2]
        #expect(eth0.role == .physical && eth0.isUplink && eth0.portState == .forwarding)
        #expect(tap0.role == .tap && tap0.vm == "web" && tap0.nic == 1 && !tap0.isUplink)
        #expect(veth0.role == .veth && veth0.peer == "veth1")
        // Loose interfaces: no bridges, no ports, no loopback.
        #expect(view.interfaces.map(\.name) == ["eth1", "veth1"])
        // Only networks whose bridge is here; NAT leaves by the default route's interface.
        #expect(view.networks == [NetworkNode(name: "lab", mode: "nat", bridge: "qn-lab", subnet: "10.77.0.0/24", gateway: "10.77.0.1",
                                              dhcpRange: "10.77.0.100–10.77.0.199", uplink: "eth1", active: true)])

        let onlyLab = view.restricted(to: ["lab"])
        #expect(onlyLab.bridges.map(\.name) == ["qn-lab"] && onlyLab.interfaces.map(\.name) == ["eth1"])
        #expect(view.unknownNames(["br0", "lab", "nosuch"]) == ["nosuch"])
    }
}

extension Link {
    func with(_ change: (inout Link) -> Void) -> Link {
        var copy = self
        change(&copy)
        return copy
    }
}
