import Foundation
import Glibc
import HostNetwork
import QNetTestSupport
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

    static let evpn = EVPNSettings(asn: 65042, bgpPeers: ["192.0.2.2", "192.0.2.3"])

    @Test("FRR's bgpd.conf for an evpn network: iBGP with each peer, l2vpn evpn only, advertise-all-vni (golden)")
    func bgpdConfiguration() throws {
        let config = FRRConfig.bgpd(network: "ov", settings: Self.evpn, local: IPAddress("192.0.2.1")!)
        try NetworkGolden.check("evpn.bgpd.conf", config)
        // An IPv6 VTEP: the router ID is its last 32 bits (BGP router IDs are IPv4-shaped).
        let v6 = FRRConfig.bgpd(network: "ov", settings: EVPNSettings(asn: 1, bgpPeers: ["2001:db8::2"]), local: IPAddress("2001:db8::c000:201")!)
        #expect(v6.contains(" bgp router-id 192.0.2.1\n") && v6.contains("  neighbor 2001:db8::2 activate\n"))
    }

    @Test("bgpd itself accepts the configuration (bgpd -C, a dry run that parses it)", Privileged.enabled)
    func bgpdAcceptsTheConfiguration() throws {
        guard let bgpd = ["/usr/lib/frr/bgpd", "/usr/sbin/bgpd"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Issue.record("bgpd is not installed; `make test` installs frr")
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-bgpd-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = "\(directory)/bgpd.conf"
        try FRRConfig.bgpd(network: "ov", settings: Self.evpn, local: IPAddress("192.0.2.1")!).write(toFile: file, atomically: true, encoding: .utf8)
        _ = chmod(directory, 0o755)
        let result = try run(bgpd, ["-C", "-f", file, "-P", "0", "-i", "\(directory)/bgpd.pid", "--vty_socket", directory, "--log", "stdout"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // bgpd -C exits 0 even on a line it does not know; it says so ("No such command on config line N").
        let said = result.stdout + result.stderr
        #expect(!said.contains("No such command") && !said.contains("Unknown command") && !said.contains("[EC "), "\(said)")
    }

    @Test("an evpn section survives the YAML store; a missing ASN or an unknown key is refused")
    func evpnYAMLRoundTrip() throws {
        // The store's form, written by hand: the keys `net create --control-plane evpn` stores.
        let text = """
            name: ov
            mode: vxlan
            bridge: qn-ov
            subnet: 10.77.0.0/24
            vxlan:
              vni: 42
              underlay: eth1
              peers: []
              port: 4789
              mtu: 1450
              dhcp_host: true
              evpn:
                asn: 65042
                bgp_peers:
                - 192.0.2.2
                - 192.0.2.3

            """
        var expected = Self.dhcpHost
        expected.vxlan?.peers = []
        expected.vxlan?.evpn = Self.evpn
        #expect(try DefinitionYAML.decode(NetworkDefinition.self, from: text, file: "ov.yaml") == expected)
        for bad in [text.replacingOccurrences(of: "    asn: 65042", with: "    as: 65042"),
                    text.replacingOccurrences(of: "    asn: 65042", with: "    asn: 65042\n    route_reflector: true")] {
            #expect(throws: DefinitionFileError.self) { try DefinitionYAML.decode(NetworkDefinition.self, from: bad, file: "ov.yaml") }
        }
    }

    @Test("a vxlan network with EVPN settings round-trips through export's YAML and `qnet apply`'s configuration folder")
    func configurationFolderRoundTrip() throws {
        var definition = Self.dhcpHost
        definition.vxlan?.peers = []
        definition.vxlan?.evpn = Self.evpn
        definition.interfaceGroup = 0x5100
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-vxlan-config-\(getpid())")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("networks"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = try ConfigurationText.yaml(NetworkConfig(definition: definition, autostart: true))
        try text.write(to: folder.appendingPathComponent("networks/ov.yaml"), atomically: true, encoding: .utf8)
        let loaded = try HostConfiguration.load(directory: folder.path)
        #expect(loaded.networks == [NetworkConfig(definition: definition, autostart: true)], "\(text)")
        // A static one too: its peers.
        let plain = Self.dhcpHost
        try ConfigurationText.yaml(NetworkConfig(definition: plain, autostart: false))
            .write(to: folder.appendingPathComponent("networks/ov.yaml"), atomically: true, encoding: .utf8)
        #expect(try HostConfiguration.load(directory: folder.path).networks.first?.definition == plain)
    }

    @Test("apply's plan: a file without mtu matches a vxlan network whose MTU came from an IPv6 underlay; other differences still count")
    func derivedMTUIsNotADifference() {
        var stored = Self.dhcpHost
        stored.vxlan?.mtu = 1430
        #expect(ApplyPlanner.matches(Self.dhcpHost, stored))
        var otherVNI = Self.dhcpHost
        otherVNI.vxlan?.vni = 43
        #expect(!ApplyPlanner.matches(otherVNI, stored))
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
