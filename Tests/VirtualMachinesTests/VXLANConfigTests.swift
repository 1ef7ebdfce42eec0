import Foundation
import HostNetwork
import QNetTypes
import Testing
@testable import VirtualMachines

/// vxlan networks without a kernel: the stored definition, dnsmasq's configuration on the
/// DHCP host, and which networks get addressing (tier 1).
struct VXLANConfigTests {
    static let dhcpHost = NetworkDefinition(
        name: "ov", mode: .vxlan, bridge: "qn-ov", subnet: "10.77.0.0/24",
        vxlan: VXLANNetworkSettings(vni: 42, underlay: "eth1", peers: ["192.0.2.2", "192.0.2.3"], dhcpHost: true, mtu: 1450))

    @Test("the DHCP host's dnsmasq: MTU forced as option 26, no router, no upstream DNS (golden)")
    func dnsmasqOnTheDHCPHost() throws {
        let definition = Self.dhcpHost
        let addressing = try AddressPlanner.resolve(definition, existing: [], otherNetworks: [])
        let config = DnsmasqConfig.render(definition: definition, addressing: addressing, paths: NetworkFixtures.paths("ov"),
                                          upstreamServers: ["192.0.2.53"])
        try NetworkGolden.check("vxlan-dhcp-host.dnsmasq.conf", config)
        let lines = config.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines.contains("dhcp-option-force=option:mtu,1450"))
        #expect(lines.contains("dhcp-option=option:router"))
        #expect(!lines.contains { $0.hasPrefix("server=") })
    }

    @Test("only the DHCP host serves DHCP and has addressing; other hosts' bridges carry no address")
    func dhcpHostOnly() {
        #expect(Self.dhcpHost.servesDHCP && Self.dhcpHost.hasAddressing)
        var other = Self.dhcpHost
        other.vxlan?.dhcpHost = false
        #expect(!other.servesDHCP && !other.hasAddressing)
        #expect(NetworkNames.vxlanDevice(for: "abcdefghijkl").utf8.count == 15)
    }

    @Test("the vxlan section survives the YAML store and unknown keys in it are refused")
    func yamlRoundTrip() throws {
        // The store's form, written by hand: the keys `net create` stores.
        let text = """
            name: ov
            mode: vxlan
            bridge: qn-ov
            subnet: 10.77.0.0/24
            lease_time: 3600
            static_leases: []
            interface_group: 0
            vxlan:
              vni: 42
              underlay: eth1
              peers:
              - 192.0.2.2
              - 192.0.2.3
              port: 4789
              mtu: 1450
              dhcp_host: true

            """
        let decoded = try DefinitionYAML.decode(NetworkDefinition.self, from: text, file: "ov.yaml")
        #expect(decoded == Self.dhcpHost)
        let bad = text.replacingOccurrences(of: "  vni: 42", with: "  vni: 42\n  learning: true")
        #expect(throws: DefinitionFileError.self) { try DefinitionYAML.decode(NetworkDefinition.self, from: bad, file: "ov.yaml") }
    }

    @Test("the encapsulation overhead is 50 bytes over IPv4 and 70 over IPv6; VNIs are 24 bits, 0 reserved")
    func overheadAndVNI() throws {
        #expect(VXLANOptions.encapsulationOverhead(ipv6Underlay: false) == 50)
        #expect(VXLANOptions.encapsulationOverhead(ipv6Underlay: true) == 70)
        #expect(throws: HostNetworkError.self) { try VXLANOptions(vni: 0).validate() }
        #expect(throws: HostNetworkError.self) { try VXLANOptions(vni: 1 << 24).validate() }
        try VXLANOptions(vni: (1 << 24) - 1).validate()
    }
}
