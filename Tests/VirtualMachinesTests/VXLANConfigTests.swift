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

    /// The DHCP host of a dual-stack segment (`--ipv6 fd77:42::/64`) over a 1500-byte IPv4 underlay.
    static let dualStack: NetworkDefinition = {
        var definition = dhcpHost
        definition.ipv6Prefix = "fd77:42::/64"
        return definition
    }()

    @Test("a dual-stack DHCP host advertises the prefix with the overlay's MTU and no default route, and serves DHCPv6")
    func dnsmasqAdvertisesTheOverlayMTU() throws {
        let addressing = try AddressPlanner.resolve(Self.dualStack, existing: [], otherNetworks: [])
        #expect(addressing.ipv6?.gateway == IPAddress("fd77:42::1"))
        let config = DnsmasqConfig.render(definition: Self.dualStack, addressing: addressing, paths: NetworkFixtures.paths("ov"),
                                          upstreamServers: ["192.0.2.53"])
        let lines = config.split(separator: "\n").filter { !$0.hasPrefix("#") }
        // mtu: the RA's MTU option; interval 0 (the default); router lifetime 0 (no way out).
        #expect(lines.contains("ra-param=qn-ov,mtu:1450,0,0"), "\(config)")
        #expect(lines.contains("enable-ra"))
        #expect(lines.contains("dhcp-range=fd77:42::100,fd77:42::1ff,slaac,ra-names,64,3600"))
        #expect(lines.contains("listen-address=fd77:42::1"))
        #expect(lines.contains("dhcp-option-force=option:mtu,1450"))
        #expect(!lines.contains { $0.hasPrefix("server=") })
        // Over an IPv6 underlay the advertised MTU follows (1500 - 70).
        var overIPv6 = Self.dualStack
        overIPv6.vxlan?.mtu = 1430
        let v6Config = DnsmasqConfig.render(definition: overIPv6, addressing: addressing, paths: NetworkFixtures.paths("ov"), upstreamServers: [])
        #expect(v6Config.contains("\nra-param=qn-ov,mtu:1430,0,0\n"))
        // IPv4-only segments send no advertisements at all.
        let v4Only = DnsmasqConfig.render(definition: Self.dhcpHost, addressing: try AddressPlanner.resolve(Self.dhcpHost, existing: [], otherNetworks: []),
                                          paths: NetworkFixtures.paths("ov"), upstreamServers: [])
        #expect(!v4Only.contains("\nenable-ra") && !v4Only.contains("\nra-param"))
    }

    @Test("the IPv6 prefix of a vxlan network survives the YAML store, export and `qnet apply`'s configuration folder")
    func ipv6PrefixRoundTrips() throws {
        // A hand-written file with only what differs from the defaults.
        let text = "name: ov\nmode: vxlan\nbridge: qn-ov\nipv6_prefix: fd77:42::/64\nvxlan: {vni: 42, underlay: eth1, dhcp_host: true}\n"
        var minimal = Self.dualStack
        minimal.subnet = nil
        minimal.vxlan?.peers = []
        #expect(try DefinitionYAML.decode(NetworkDefinition.self, from: text, file: "ov.yaml") == minimal)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-vxlan6-config-\(getpid())")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("networks"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for definition in [Self.dualStack, Self.otherHost] {
            let yaml = try ConfigurationText.yaml(NetworkConfig(definition: definition, autostart: true))
            #expect(yaml.contains("ipv6_prefix: fd77:42::/64"), "\(yaml)")
            try yaml.write(to: folder.appendingPathComponent("networks/ov.yaml"), atomically: true, encoding: .utf8)
            #expect(try HostConfiguration.load(directory: folder.path).networks == [NetworkConfig(definition: definition, autostart: true)])
        }
        // apply's plan: the prefix is part of what the file declares.
        #expect(ApplyPlanner.matches(Self.dualStack, Self.dualStack))
        #expect(!ApplyPlanner.matches(Self.dhcpHost, Self.dualStack))
    }

    /// Another host of the dual-stack segment: the same prefix, no DHCP.
    static let otherHost: NetworkDefinition = {
        var definition = dualStack
        definition.vxlan?.dhcpHost = false
        definition.vxlan?.peers = ["192.0.2.1", "192.0.2.3"]
        return definition
    }()

    @Test("a filtered VM with ip= on a host that does not serve the dual-stack segment: its SLAAC address, the DHCPv6 range and server are allowed too")
    func filterOnAnotherHostAllowsIPv6Autoconfiguration() throws {
        _ = VMTestState.directory  // QNET_STATE_DIR for this process
        let store = NetworkStore()
        var network = Self.otherHost
        network.name = "ov6f\(getpid() % 10000)"
        try store.save(network)
        defer { store.removeDefinition(network.name) }
        var nic = NICSpec(network: network.name)
        nic.filter = true
        nic.addresses = ["10.77.0.12"]
        let mac = MACAddress("52:54:00:77:00:02")!
        let filters = try VMPortFilters.prepare(VMDefinition(name: "f", nics: [nic]), macs: [mac], taps: [0: "vnet9"], undo: UndoStack(),
                                                store: store)
        let filter = try #require(filters.first)
        #expect(filter.ipv4 == [IPAddress("10.77.0.12")!])
        #expect(filter.ipv6 == [IPAddress("fd77:42::5054:ff:fe77:2")!])
        #expect(filter.ipv6Ranges == [[IPAddress("fd77:42::100")!, IPAddress("fd77:42::1ff")!]])
        #expect(filter.dhcpv6Servers == [IPAddress("fd77:42::1")!])
        // An IPv4-only segment: link-local only, as before.
        network.ipv6Prefix = nil
        try store.save(network)
        let v4 = try VMPortFilters.prepare(VMDefinition(name: "f", nics: [nic]), macs: [mac], taps: [0: "vnet9"], undo: UndoStack(), store: store)
        #expect(v4.first?.ipv6 == [] && v4.first?.ipv6Ranges == [])
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
        let config = FRRConfig.bgpd(namespace: "lab", settings: Self.evpn, local: IPAddress("192.0.2.1")!)
        try NetworkGolden.check("evpn.bgpd.conf", config)
        // An IPv6 VTEP: the router ID is its last 32 bits (BGP router IDs are IPv4-shaped).
        let v6 = FRRConfig.bgpd(namespace: "lab", settings: EVPNSettings(asn: 1, bgpPeers: ["2001:db8::2"]), local: IPAddress("2001:db8::c000:201")!)
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
        try FRRConfig.bgpd(namespace: "lab", settings: Self.evpn, local: IPAddress("192.0.2.1")!).write(toFile: file, atomically: true, encoding: .utf8)
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
