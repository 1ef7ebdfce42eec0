// Tests for the pure generators and planners of named networks: AddressPlanner,
// DnsmasqConfig and FirewallRuleset.
//
// Golden files live in Tests/VirtualMachinesTests/Golden/ (found next to this file through
// #filePath, not as bundle resources) and are reviewed like code. Tests only compare; to
// regenerate them after an intended change — a deliberate command, never automatic — run
//
//     QNET_UPDATE_GOLDEN=1 swift test --filter NetworkConfigGoldenTests
//
// and review the diff (`git diff Tests/VirtualMachinesTests/Golden`) before committing.
//
// The privileged suites check the generated files with the real tools: `nft -c -f` (check
// only) and `dnsmasq --test`, then apply them inside throwaway network namespaces: the
// ruleset is replaced and removed idempotently, a real dnsmasq hands leases to busybox
// udhcpc clients and resolves their names, and packets from a guest namespace are
// masqueraded (seen from an "outside" namespace) or blocked.

import Foundation
import Glibc
import Netlink
import QNetTestSupport
import QNetTypes
import Testing
import QNetSystem
@testable import VirtualMachines

// MARK: - fixtures

enum NetworkFixtures {
    /// The default NAT network: every default filled in by the planner.
    static let natDefault = NetworkDefinition(name: "default", mode: .nat, bridge: "qn-default", subnet: "10.0.100.0/24")

    /// A NAT network with every option set: gateway at the top, a custom range, a day's
    /// lease, a two-label domain and static leases inside and outside the range.
    static let natCustom = NetworkDefinition(
        name: "lab", mode: .nat, bridge: "qn-lab", subnet: "192.168.50.0/24", gateway: "192.168.50.254",
        dhcpStart: "192.168.50.10", dhcpEnd: "192.168.50.49", leaseTime: 86_400,
        staticLeases: [
            StaticLease(mac: "52:54:00:AA:00:01", address: "192.168.50.20", hostname: "web"),
            StaticLease(mac: "52-54-00-aa-00-02", address: "192.168.50.200", hostname: "db"),
            StaticLease(mac: "52:54:00:aa:00:03", address: "192.168.50.201"),
        ],
        domain: "lab.example")

    /// An isolated /26: the default range runs from the quarter point to the last host.
    static let isolated = NetworkDefinition(name: "iso", mode: .isolated, bridge: "qn-iso", subnet: "10.0.200.0/26")

    /// A bridge-mode network: no addressing, no dnsmasq, no firewall rules.
    static let bridged = NetworkDefinition(name: "lan", mode: .bridge, bridge: "br0", uplink: "eth0")

    /// A second NAT network for the combined ruleset.
    static let natSecond = NetworkDefinition(name: "build", mode: .nat, bridge: "qn-build", subnet: "10.0.101.0/24")

    /// Dual-stack networks (`--ipv6 PREFIX/64`): NAT66, routed IPv6 (`--ipv6-nat off`), isolated.
    static let natDual = NetworkDefinition(name: "dual", mode: .nat, bridge: "qn-dual", subnet: "10.0.110.0/24",
                                           ipv6Prefix: "fd12:3456:789a::/64")
    static let natRouted = NetworkDefinition(name: "routed", mode: .nat, bridge: "qn-routed", subnet: "10.0.111.0/24",
                                             ipv6Prefix: "2001:db8:1:2::/64", ipv6NAT: false)
    static let isolatedDual = NetworkDefinition(name: "iso6", mode: .isolated, bridge: "qn-iso6", subnet: "10.0.112.0/24",
                                                ipv6Prefix: "fd12:3456:789b::/64")

    /// A systemd-resolved host's /etc/resolv.conf.
    static let stubResolver = ["127.0.0.53"]

    /// Every kind of nameserver line: the gateway itself and duplicates are dropped, a
    /// scoped link-local address kept, junk skipped.
    static let mixedResolvers = ["192.0.2.53", "2001:db8::53", "fe80::1%eth0", "not-an-address", "192.0.2.53", "192.168.50.254", "fe80::2%bad/name"]

    static func paths(_ network: String) -> DnsmasqPaths {
        DnsmasqPaths(leaseFile: "/run/qnet/networks/\(network)/dnsmasq.leases", pidFile: "/run/qnet/networks/\(network)/dnsmasq.pid",
                     configFile: "/run/qnet/networks/\(network)/dnsmasq.conf",
                     hostsDirectory: DnsmasqPaths.hostsDirectory(runtime: "/run/qnet/networks/\(network)"))
    }

    static func addressing(_ definition: NetworkDefinition) throws -> NetworkAddressing {
        try AddressPlanner.resolve(definition, existing: [], otherNetworks: [])
    }

    static func prefix(_ text: String) -> IPPrefix { IPPrefix(text)! }
    static func address(_ text: String) -> IPAddress { IPAddress(text)! }
}

/// Golden files: compare, or write them when QNET_UPDATE_GOLDEN=1 (see the top of this file).
enum NetworkGolden {
    static func check(_ file: String, _ actual: String, testFile: String = #filePath,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        try GoldenFile.check(file, actual, suite: "NetworkConfigGoldenTests", testFile: testFile, sourceLocation: sourceLocation)
    }
}

/// The generated files of every golden case, shared by the golden and the real-tool tests.
enum GeneratedFiles {
    static func dnsmasq() throws -> [(String, String)] {
        [
            ("nat-default.dnsmasq.conf", DnsmasqConfig.render(
                definition: NetworkFixtures.natDefault, addressing: try NetworkFixtures.addressing(NetworkFixtures.natDefault),
                paths: NetworkFixtures.paths("default"), upstreamServers: NetworkFixtures.stubResolver)),
            ("nat-custom.dnsmasq.conf", DnsmasqConfig.render(
                definition: NetworkFixtures.natCustom, addressing: try NetworkFixtures.addressing(NetworkFixtures.natCustom),
                paths: NetworkFixtures.paths("lab"), upstreamServers: NetworkFixtures.mixedResolvers)),
            ("isolated.dnsmasq.conf", DnsmasqConfig.render(
                definition: NetworkFixtures.isolated, addressing: try NetworkFixtures.addressing(NetworkFixtures.isolated),
                paths: NetworkFixtures.paths("iso"), upstreamServers: NetworkFixtures.stubResolver)),
            // Under `--netns lab`: dnsmasq runs in that namespace, so the host's loopback
            // resolvers (unreachable there) are left out and the comments say where it runs.
            ("nat-netns.dnsmasq.conf", DnsmasqConfig.render(
                definition: NetworkFixtures.natDefault, addressing: try NetworkFixtures.addressing(NetworkFixtures.natDefault),
                paths: NetworkFixtures.paths("default"), upstreamServers: ["127.0.0.53", "192.0.2.53", "::1"], namespace: "lab")),
            ("nat-dualstack.dnsmasq.conf", DnsmasqConfig.render(
                definition: NetworkFixtures.natDual, addressing: try NetworkFixtures.addressing(NetworkFixtures.natDual),
                paths: NetworkFixtures.paths("dual"), upstreamServers: NetworkFixtures.stubResolver)),
            ("isolated-dualstack.dnsmasq.conf", DnsmasqConfig.render(
                definition: NetworkFixtures.isolatedDual, addressing: try NetworkFixtures.addressing(NetworkFixtures.isolatedDual),
                paths: NetworkFixtures.paths("iso6"), upstreamServers: NetworkFixtures.stubResolver)),
            // A vxlan segment's DHCP host with an IPv6 prefix: the advertisements carry the overlay's MTU.
            ("vxlan-dualstack.dnsmasq.conf", DnsmasqConfig.render(
                definition: VXLANConfigTests.dualStack, addressing: try NetworkFixtures.addressing(VXLANConfigTests.dualStack),
                paths: NetworkFixtures.paths("ov"), upstreamServers: NetworkFixtures.stubResolver)),
        ]
    }

    static func nftables() throws -> [(String, String)] {
        let natDefault = (NetworkFixtures.natDefault, try NetworkFixtures.addressing(NetworkFixtures.natDefault))
        let natCustom = (NetworkFixtures.natCustom, try NetworkFixtures.addressing(NetworkFixtures.natCustom))
        let natSecond = (NetworkFixtures.natSecond, try NetworkFixtures.addressing(NetworkFixtures.natSecond))
        let isolated = (NetworkFixtures.isolated, try NetworkFixtures.addressing(NetworkFixtures.isolated))
        return [
            ("nat-default.nft", FirewallRuleset.render(networks: [natDefault])),
            ("nat-custom.nft", FirewallRuleset.render(networks: [natCustom])),
            ("isolated.nft", FirewallRuleset.render(networks: [isolated])),
            // Given out of name order on purpose: the script orders networks by name.
            ("two-nat-one-isolated.nft", FirewallRuleset.render(networks: [natSecond, isolated, natDefault])),
            ("removal.nft", FirewallRuleset.removal()),
            // NAT66, routed IPv6 and an isolated dual-stack network together.
            ("dualstack.nft", FirewallRuleset.render(networks: try [NetworkFixtures.natDual, NetworkFixtures.natRouted, NetworkFixtures.isolatedDual]
                .map { ($0, try NetworkFixtures.addressing($0)) })),
        ]
    }
}

// MARK: - address planner

struct NetworkConfigPlannerTests {
    typealias E = NetworkConfigError
    let p = NetworkFixtures.prefix
    let a = NetworkFixtures.address

    func resolve(_ definition: NetworkDefinition, existing: [IPPrefix] = [], others: [IPPrefix] = []) throws -> NetworkAddressing {
        try AddressPlanner.resolve(definition, existing: existing, otherNetworks: others)
    }

    func nat(_ subnet: String? = "10.0.100.0/24", gateway: String? = nil, start: String? = nil, end: String? = nil,
             leases: [StaticLease] = [], leaseTime: Int = 3600, domain: String? = nil) -> NetworkDefinition {
        NetworkDefinition(name: "t", mode: .nat, bridge: "qn-t", subnet: subnet, gateway: gateway, dhcpStart: start, dhcpEnd: end,
                          leaseTime: leaseTime, staticLeases: leases, domain: domain)
    }

    /// Expects `body` to throw exactly `expected`, with a one-line description.
    func expectError(_ expected: E, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Any) {
        do {
            let value = try body()
            Issue.record("expected \(expected), got \(value)", sourceLocation: sourceLocation)
        } catch let error as E {
            #expect(error == expected, sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func slash24Defaults() throws {
        let addressing = try resolve(nat())
        #expect(addressing == NetworkAddressing(subnet: p("10.0.100.0/24"), gateway: a("10.0.100.1"),
                                                dhcpStart: a("10.0.100.100"), dhcpEnd: a("10.0.100.199")))
    }

    /// Other sizes: from the quarter point (at least network + 2) to the last host address.
    @Test(arguments: [
        ("10.0.200.0/26", "10.0.200.1", "10.0.200.16", "10.0.200.62"),
        ("10.0.200.0/29", "10.0.200.1", "10.0.200.2", "10.0.200.6"),
        ("10.0.200.0/28", "10.0.200.1", "10.0.200.4", "10.0.200.14"),
        ("172.20.0.0/16", "172.20.0.1", "172.20.64.0", "172.20.255.254"),
        ("10.0.0.0/8", "10.0.0.1", "10.64.0.0", "10.255.255.254"),
        ("192.168.4.0/23", "192.168.4.1", "192.168.4.128", "192.168.5.254"),
    ])
    func otherSizeDefaults(subnet: String, gateway: String, start: String, end: String) throws {
        let addressing = try resolve(nat(subnet))
        #expect(addressing == NetworkAddressing(subnet: p(subnet), gateway: a(gateway), dhcpStart: a(start), dhcpEnd: a(end)))
    }

    /// A gateway given inside the default range splits it; the larger side is used.
    @Test func gatewayInsideDefaultRangeSplitsIt() throws {
        let high = try resolve(nat(gateway: "10.0.100.180"))
        #expect((high.dhcpStart, high.dhcpEnd) == (a("10.0.100.100"), a("10.0.100.179")))
        let low = try resolve(nat(gateway: "10.0.100.120"))
        #expect((low.dhcpStart, low.dhcpEnd) == (a("10.0.100.121"), a("10.0.100.199")))
        let small = try resolve(nat("10.0.200.0/29", gateway: "10.0.200.6"))
        #expect((small.dhcpStart, small.dhcpEnd) == (a("10.0.200.2"), a("10.0.200.5")))
    }

    @Test func explicitValuesAreKept() throws {
        let addressing = try resolve(nat("192.168.7.0/24", gateway: "192.168.7.254", start: "192.168.7.2", end: "192.168.7.253"))
        #expect(addressing == NetworkAddressing(subnet: p("192.168.7.0/24"), gateway: a("192.168.7.254"),
                                                dhcpStart: a("192.168.7.2"), dhcpEnd: a("192.168.7.253")))
        // A one-address range is a range.
        #expect(try resolve(nat(start: "10.0.100.9", end: "10.0.100.9")).dhcpEnd == a("10.0.100.9"))
    }

    /// Without a subnet the planner takes the first free one.
    @Test func missingSubnetIsChosen() throws {
        let addressing = try resolve(nat(nil), existing: [p("10.0.100.0/24")], others: [p("10.0.101.0/24")])
        #expect(addressing.subnet == p("10.0.102.0/24"))
        #expect(addressing.gateway == a("10.0.102.1"))
    }

    @Test func defaultRouteAndIPv6DoNotCountAsOverlaps() throws {
        let addressing = try resolve(nat(), existing: [p("0.0.0.0/0"), p("::/0"), p("fd00::/8"), p("192.168.1.0/24")])
        #expect(addressing.subnet == p("10.0.100.0/24"))
    }

    @Test func overlappingSubnets() throws {
        // A host route that contains the subnet, and one inside it (a /32 host route).
        expectError(.overlapsHost(subnet: p("10.0.100.0/24"), existing: p("10.0.0.0/16"), suggestion: p("10.1.0.0/24"))) {
            try resolve(nat(), existing: [p("10.0.0.0/16")])
        }
        expectError(.overlapsHost(subnet: p("10.0.100.0/24"), existing: p("10.0.100.77/32"), suggestion: p("10.0.101.0/24"))) {
            try resolve(nat(), existing: [p("10.0.100.77/32")])
        }
        expectError(.overlapsNetwork(subnet: p("10.0.100.0/23"), other: p("10.0.101.0/24"), suggestion: p("10.0.100.0/24"))) {
            try resolve(nat("10.0.100.0/23"), others: [p("10.0.101.0/24")])
        }
        expectError(.overlapsHost(subnet: p("10.0.0.0/8"), existing: p("10.9.8.0/24"), suggestion: nil)) {
            try resolve(nat("10.0.0.0/8"), existing: [p("10.9.8.0/24"), p("10.0.0.0/8")])
        }
        let error = E.overlapsHost(subnet: p("10.0.100.0/24"), existing: p("10.0.0.0/16"), suggestion: p("10.1.0.0/24"))
        #expect(error.description == "subnet 10.0.100.0/24 overlaps 10.0.0.0/16, already routed or assigned on this host; pick another subnet, e.g. 10.1.0.0/24")
    }

    @Test func notANetworkAddress() {
        expectError(.notANetworkAddress(given: p("10.0.0.5/24"), network: p("10.0.0.0/24"))) { try resolve(nat("10.0.0.5/24")) }
        #expect(E.notANetworkAddress(given: p("10.0.0.5/24"), network: p("10.0.0.0/24")).description
            == "10.0.0.5/24 is not a network address (its host bits are not zero); did you mean 10.0.0.0/24?")
    }

    @Test func badSubnets() {
        for text in ["10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "fd00::/64", "ten/24", ""] {
            expectError(.badSubnet(text)) { try resolve(nat(text)) }
        }
    }

    @Test func subnetTooSmallOrTooLarge() {
        expectError(.subnetSize(p("10.0.0.0/30"))) { try resolve(nat("10.0.0.0/30")) }
        expectError(.subnetSize(p("10.0.0.8/32"))) { try resolve(nat("10.0.0.8/32")) }
        expectError(.subnetSize(p("10.0.0.0/7"))) { try resolve(nat("10.0.0.0/7")) }
    }

    @Test func reservedSubnets() {
        expectError(.reservedSubnet(p("127.1.0.0/16"), block: p("127.0.0.0/8"), purpose: "loopback")) { try resolve(nat("127.1.0.0/16")) }
        expectError(.reservedSubnet(p("224.0.0.0/24"), block: p("224.0.0.0/4"), purpose: "multicast")) { try resolve(nat("224.0.0.0/24")) }
        expectError(.reservedSubnet(p("169.254.3.0/24"), block: p("169.254.0.0/16"), purpose: "link-local")) { try resolve(nat("169.254.3.0/24")) }
    }

    @Test func gatewayProblems() {
        expectError(.reservedAddress(what: "gateway", address: a("10.0.100.255"), role: "broadcast", subnet: p("10.0.100.0/24"))) {
            try resolve(nat(gateway: "10.0.100.255"))
        }
        expectError(.reservedAddress(what: "gateway", address: a("10.0.100.0"), role: "network", subnet: p("10.0.100.0/24"))) {
            try resolve(nat(gateway: "10.0.100.0"))
        }
        expectError(.outsideSubnet(what: "gateway", address: a("10.0.101.1"), subnet: p("10.0.100.0/24"))) {
            try resolve(nat(gateway: "10.0.101.1"))
        }
        expectError(.badAddress(what: "gateway", value: "10.0.100.1/24")) { try resolve(nat(gateway: "10.0.100.1/24")) }
        expectError(.badAddress(what: "gateway", value: "fd00::1")) { try resolve(nat(gateway: "fd00::1")) }
        #expect(E.reservedAddress(what: "gateway", address: a("10.0.100.255"), role: "broadcast", subnet: p("10.0.100.0/24")).description
            == "gateway 10.0.100.255 is the broadcast address of 10.0.100.0/24; use another host address from 10.0.100.1 to 10.0.100.254")
    }

    @Test func rangeProblems() {
        expectError(.outsideSubnet(what: "DHCP range end", address: a("10.0.101.10"), subnet: p("10.0.100.0/24"))) {
            try resolve(nat(start: "10.0.100.10", end: "10.0.101.10"))
        }
        expectError(.outsideSubnet(what: "DHCP range start", address: a("192.168.0.10"), subnet: p("10.0.100.0/24"))) {
            try resolve(nat(start: "192.168.0.10", end: "10.0.100.20"))
        }
        expectError(.rangeReversed(start: a("10.0.100.200"), end: a("10.0.100.100"))) {
            try resolve(nat(start: "10.0.100.200", end: "10.0.100.100"))
        }
        expectError(.reservedAddress(what: "DHCP range end", address: a("10.0.100.255"), role: "broadcast", subnet: p("10.0.100.0/24"))) {
            try resolve(nat(start: "10.0.100.2", end: "10.0.100.255"))
        }
        expectError(.reservedAddress(what: "DHCP range start", address: a("10.0.100.0"), role: "network", subnet: p("10.0.100.0/24"))) {
            try resolve(nat(start: "10.0.100.0", end: "10.0.100.9"))
        }
        expectError(.gatewayInRange(gateway: a("10.0.100.1"), start: a("10.0.100.1"), end: a("10.0.100.50"))) {
            try resolve(nat(start: "10.0.100.1", end: "10.0.100.50"))
        }
        expectError(.gatewayInRange(gateway: a("10.0.100.30"), start: a("10.0.100.10"), end: a("10.0.100.50"))) {
            try resolve(nat(gateway: "10.0.100.30", start: "10.0.100.10", end: "10.0.100.50"))
        }
        expectError(.incompleteRange(start: "10.0.100.10", end: nil)) { try resolve(nat(start: "10.0.100.10")) }
        expectError(.incompleteRange(start: nil, end: "10.0.100.10")) { try resolve(nat(end: "10.0.100.10")) }
        expectError(.badAddress(what: "DHCP range start", value: "10.0.100")) { try resolve(nat(start: "10.0.100", end: "10.0.100.9")) }
    }

    @Test func staticLeaseProblems() {
        let good = StaticLease(mac: "52:54:00:00:00:01", address: "10.0.100.10", hostname: "web")
        for mac in ["01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "52:54:00:00:00", "52:54:00:00:00:0g", ""] {
            expectError(.badMAC(mac)) { try resolve(nat(leases: [StaticLease(mac: mac, address: "10.0.100.10")])) }
        }
        expectError(.outsideSubnet(what: "static lease address", address: a("10.0.1.10"), subnet: p("10.0.100.0/24"))) {
            try resolve(nat(leases: [StaticLease(mac: "52:54:00:00:00:01", address: "10.0.1.10")]))
        }
        expectError(.reservedAddress(what: "static lease address", address: a("10.0.100.1"), role: "gateway", subnet: p("10.0.100.0/24"))) {
            try resolve(nat(leases: [StaticLease(mac: "52:54:00:00:00:01", address: "10.0.100.1")]))
        }
        expectError(.reservedAddress(what: "static lease address", address: a("10.0.100.255"), role: "broadcast", subnet: p("10.0.100.0/24"))) {
            try resolve(nat(leases: [StaticLease(mac: "52:54:00:00:00:01", address: "10.0.100.255")]))
        }
        // The same MAC written two ways is still one MAC.
        expectError(.duplicateLeaseMAC(MACAddress("52:54:00:00:00:01")!)) {
            try resolve(nat(leases: [good, StaticLease(mac: "52-54-00-00-00-01", address: "10.0.100.11")]))
        }
        expectError(.duplicateLeaseAddress(a("10.0.100.10"), first: MACAddress("52:54:00:00:00:01")!, second: MACAddress("52:54:00:00:00:02")!)) {
            try resolve(nat(leases: [good, StaticLease(mac: "52:54:00:00:00:02", address: "10.0.100.10")]))
        }
        expectError(.duplicateLeaseHostname("WEB")) {
            try resolve(nat(leases: [good, StaticLease(mac: "52:54:00:00:00:02", address: "10.0.100.11", hostname: "WEB")]))
        }
        for name in ["web.lab", "-web", "", "we b", "web_1", String(repeating: "a", count: 64), "web\nserver=1.2.3.4"] {
            expectError(.badHostname(name)) {
                try resolve(nat(leases: [StaticLease(mac: "52:54:00:00:00:01", address: "10.0.100.10", hostname: name)]))
            }
        }
        // Inside and outside the dynamic range are both fine.
        #expect(throws: Never.self) {
            try resolve(nat(leases: [good, StaticLease(mac: "52:54:00:00:00:02", address: "10.0.100.150", hostname: "db")]))
        }
    }

    @Test func leaseTimeLimits() throws {
        expectError(.badLeaseTime(119)) { try resolve(nat(leaseTime: 119)) }
        expectError(.badLeaseTime(31_536_001)) { try resolve(nat(leaseTime: 31_536_001)) }
        _ = try resolve(nat(leaseTime: 120))
        _ = try resolve(nat(leaseTime: 31_536_000))
    }

    @Test func domains() throws {
        for good in ["lab", "lab.example", "my-vms.internal", "a_b.test", String(repeating: "a", count: 63)] {
            _ = try resolve(nat(domain: good))
        }
        for bad in ["", ".lab", "lab.", "lab..example", "-lab", "_lab", "la b", "lab/x", "lab\nserver=8.8.8.8", String(repeating: "a", count: 64)] {
            expectError(.badDomain(bad)) { try resolve(nat(domain: bad)) }
        }
    }

    @Test func bridgeModeHasNoAddressing() {
        expectError(.bridgeModeHasNoAddressing(network: "lan")) { try resolve(NetworkFixtures.bridged) }
    }

    @Test func bridgeNames() throws {
        for good in ["qn-default", "br0", "virbr0", "a.b_c-d", "qn-123456789012"] { try NetworkNames.validateBridge(good) }
        for bad in ["", ".", "..", "qn-1234567890123", "br 0", "br\"0", "br/0", "br:0", "brü"] {
            #expect(throws: E.badBridgeName(bad)) { try NetworkNames.validateBridge(bad) }
        }
        var definition = nat()
        definition.bridge = "qn-a;b"
        expectError(.badBridgeName("qn-a;b")) { try resolve(definition) }
    }

    @Test func usageErrorsAndOneLineMessages() {
        #expect(E.noFreeSubnet.isUsageError == false)
        #expect(E.badMAC("x").isUsageError)
        #expect(E.overlapsNetwork(subnet: p("10.0.0.0/24"), other: p("10.0.0.0/16"), suggestion: nil).isUsageError)
        let samples: [E] = [
            .badNetworkName("Lab"), .badBridgeName("x y"), .badDomain("-x"), .bridgeModeHasNoAddressing(network: "lan"),
            .badSubnet("x"), .subnetSize(p("10.0.0.0/30")), .incompleteRange(start: "10.0.0.9", end: nil), .badLeaseTime(5),
            .badHostname("a.b"), .duplicateLeaseHostname("web"), .noFreeSubnet, .badAddress(what: "gateway", value: "x"),
            .reservedSubnet(p("127.0.0.0/24"), block: p("127.0.0.0/8"), purpose: "loopback"),
        ]
        for error in samples {
            #expect(!error.description.contains("\n"))
            #expect(!error.description.isEmpty)
        }
        #expect(E.badLeaseTime(5).description == "invalid lease time 5 s: use 120 (dnsmasq's minimum) to 31536000 seconds (one year)")
        #expect(E.subnetSize(p("10.0.0.0/30")).description.contains("/8 to /29"))
        // Whatever was typed, the message stays one line: control characters are escaped.
        #expect(E.badHostname("web\nserver=1.2.3.4").description.hasPrefix("invalid static lease hostname 'web\\nserver=1.2.3.4': "))
        #expect(E.badDomain("a\u{1B}[2Jb").description.hasPrefix("invalid DNS domain 'a\\u{1B}[2Jb': "))
    }
}

// MARK: - first free subnet

struct NetworkConfigSubnetScanTests {
    let p = NetworkFixtures.prefix

    func scan(_ existing: [String], _ others: [String] = []) -> IPPrefix? {
        AddressPlanner.firstFreeSubnet(existing: existing.map(p), otherNetworks: others.map(p))
    }

    @Test func firstCandidate() {
        #expect(scan([]) == p("10.0.100.0/24"))
        // The default route and IPv6 prefixes do not block anything.
        #expect(scan(["0.0.0.0/0", "::/0", "fd00::/8"]) == p("10.0.100.0/24"))
    }

    @Test func skipsTakenRanges() {
        #expect(scan(["10.0.100.0/24"]) == p("10.0.101.0/24"))
        #expect(scan(["10.0.100.5/24"]) == p("10.0.101.0/24"), "a host address with its prefix blocks its whole network")
        #expect(scan(["10.0.100.9/32"]) == p("10.0.101.0/24"), "a host route blocks the /24 around it")
        #expect(scan(["10.0.100.0/22"], ["10.0.104.0/24"]) == p("10.0.105.0/24"))
        #expect(scan(["10.0.0.0/16"]) == p("10.1.0.0/24"))
        #expect(scan(["10.0.0.0/9"]) == p("10.128.0.0/24"))
        #expect(scan([], ["10.0.100.0/24", "10.0.101.0/24"]) == p("10.0.102.0/24"))
        // Prefixes outside 10/8 do not matter.
        #expect(scan(["192.168.122.0/24", "172.16.0.0/12"]) == p("10.0.100.0/24"))
    }

    @Test func wrapsRoundToTheLowBlocksLast() {
        // Everything from 10.0.100.0 to 10.255.255.255 taken, in aligned pieces.
        let upper = ["10.0.100.0/22", "10.0.104.0/21", "10.0.112.0/20", "10.0.128.0/17", "10.1.0.0/16", "10.2.0.0/15", "10.4.0.0/14",
                     "10.8.0.0/13", "10.16.0.0/12", "10.32.0.0/11", "10.64.0.0/10", "10.128.0.0/9"]
        #expect(scan(upper) == p("10.0.0.0/24"))
        #expect(scan(upper + ["10.0.0.0/25"]) == p("10.0.1.0/24"))
        #expect(scan(upper, ["10.0.0.0/18", "10.0.64.0/19", "10.0.96.0/22"]) == nil)
    }

    @Test func nothingFree() {
        #expect(scan(["10.0.0.0/8"]) == nil)
        #expect(scan(["8.0.0.0/6"]) == nil, "a route covering 8.0.0.0-11.255.255.255")
    }

    /// Random host tables: the answer overlaps nothing, and every subnet earlier in the
    /// scan order overlaps something (checked by brute force).
    @Test func randomTablesAgreeWithBruteForce() {
        var generator = SystemRandomNumberGenerator()
        func overlaps(_ a: IPPrefix, _ b: IPPrefix) -> Bool { a.contains(b.network) || b.contains(a.network) }
        func candidate(_ index: Int) -> IPPrefix {
            let y = (100 + index) & 0xffff
            return p("10.\(y >> 8).\(y & 0xff).0/24")
        }
        for _ in 0..<200 {
            var taken: [IPPrefix] = []
            for _ in 0..<Int.random(in: 0...12, using: &generator) {
                let length = UInt8.random(in: 14...32, using: &generator)
                let second = Int.random(in: 0...2, using: &generator)
                let third = Int.random(in: 90...140, using: &generator)
                let text = "10.\(second).\(third).\(Int.random(in: 0...255, using: &generator))/\(length)"
                let raw = p(text)
                taken.append(IPPrefix(address: raw.network, length: length))
            }
            let found = AddressPlanner.firstFreeSubnet(existing: taken, otherNetworks: [])
            var expected: IPPrefix?
            for index in 0..<65_536 where !taken.contains(where: { overlaps($0, candidate(index)) }) {
                expected = candidate(index)
                break
            }
            #expect(found == expected, "taken: \(taken)")
        }
    }

    /// A long scan (past 10.0.0.0/9 and 2,000 host routes) finds the first free /24 after them.
    /// Its time is printed, not asserted: timings belong in benchmarks.
    @Test func longScanFindsTheFirstSubnetPastALargeTable() {
        let many = (0..<2_000).map { IPPrefix(address: .v4([10, 0, UInt8(100 + $0 % 156), UInt8($0 % 256)]), length: 32) }
        var found: IPPrefix?
        let elapsed = ContinuousClock().measure { found = AddressPlanner.firstFreeSubnet(existing: many, otherNetworks: [p("10.0.0.0/9")]) }
        #expect(found == p("10.128.0.0/24"))
        print("first free subnet past 2,000 routes and a /9: \(elapsed)")
    }
}

// MARK: - network names

struct NetworkConfigNameTests {
    @Test(arguments: ["default", "lab", "a", "x1", "0net", "build-01", "my_net", "abcdefghijkl"])
    func validNames(name: String) throws {
        try NetworkNames.validate(name)
        let bridge = NetworkNames.defaultBridge(for: name)
        #expect(bridge == "qn-" + name)
        #expect(bridge.utf8.count <= 15, "IFNAMSIZ - 1")
        try NetworkNames.validateBridge(bridge)
        // The name is the default DNS domain, so it must be one too.
        try NetworkNames.validateDomain(name)
    }

    @Test(arguments: ["", "abcdefghijklm", "Lab", "-lab", "_lab", "la b", "lab.x", "lab/x", "ünï", "lab\n", "..", "lab:1"])
    func invalidNames(name: String) {
        #expect(throws: NetworkConfigError.badNetworkName(name)) { try NetworkNames.validate(name) }
        var definition = NetworkFixtures.natDefault
        definition.name = name
        #expect(throws: NetworkConfigError.badNetworkName(name)) { try AddressPlanner.resolve(definition, existing: [], otherNetworks: []) }
    }

    @Test func message() {
        #expect(NetworkConfigError.badNetworkName("Lab").description
            == "invalid network name 'Lab': use 1 to 12 lowercase letters, digits, '-' or '_', starting with a letter or digit (it becomes part of the bridge name qn-NAME, at most 15 bytes)")
    }
}

// MARK: - generated files

struct NetworkConfigGoldenTests {
    @Test func dnsmasqConfigurations() throws {
        for (file, text) in try GeneratedFiles.dnsmasq() { try NetworkGolden.check(file, text) }
    }

    @Test func nftablesScripts() throws {
        for (file, text) in try GeneratedFiles.nftables() { try NetworkGolden.check(file, text) }
    }

    /// Bridge networks: no addressing (so no dnsmasq), and no rules — a ruleset of bridge
    /// networks only is the removal script, and one next to others leaves them unchanged.
    @Test func bridgeModeGetsNothing() throws {
        #expect(throws: NetworkConfigError.bridgeModeHasNoAddressing(network: "lan")) {
            try AddressPlanner.resolve(NetworkFixtures.bridged, existing: [], otherNetworks: [])
        }
        #expect(NetworkFixtures.bridged.servesDHCP == false)
        let someAddressing = try NetworkFixtures.addressing(NetworkFixtures.natDefault)
        #expect(FirewallRuleset.render(networks: [(NetworkFixtures.bridged, someAddressing)]) == FirewallRuleset.removal())
        #expect(FirewallRuleset.render(networks: []) == FirewallRuleset.removal())
        let natDefault = (NetworkFixtures.natDefault, someAddressing)
        #expect(FirewallRuleset.render(networks: [natDefault, (NetworkFixtures.bridged, someAddressing)])
            == FirewallRuleset.render(networks: [natDefault]))
        #expect(!FirewallRuleset.render(networks: [natDefault]).contains("br0"))
    }

    /// The order networks are given in does not change the script.
    @Test func orderIndependent() throws {
        let networks = try [NetworkFixtures.natDefault, NetworkFixtures.natSecond, NetworkFixtures.isolated, NetworkFixtures.natCustom]
            .map { ($0, try NetworkFixtures.addressing($0)) }
        #expect(FirewallRuleset.render(networks: networks) == FirewallRuleset.render(networks: networks.reversed()))
    }

    /// Facts the golden files must keep, so a careless regeneration cannot drop them.
    @Test func keyLines() throws {
        let files = Dictionary(uniqueKeysWithValues: try GeneratedFiles.dnsmasq() + GeneratedFiles.nftables())
        let natDefault = try #require(files["nat-default.dnsmasq.conf"])
        for line in ["bind-dynamic", "interface=qn-default", "except-interface=lo", "listen-address=10.0.100.1", "no-resolv",
                     "server=127.0.0.53", "domain=default", "local=/default/", "dhcp-range=10.0.100.100,10.0.100.199,255.255.255.0,3600",
                     "dhcp-option=option:router,10.0.100.1", "dhcp-option=option:dns-server,10.0.100.1", "dhcp-authoritative",
                     "dhcp-leasefile=/run/qnet/networks/default/dnsmasq.leases", "pid-file=/run/qnet/networks/default/dnsmasq.pid",
                     "dhcp-lease-max=100", "no-hosts"] {
            #expect(natDefault.split(separator: "\n").contains(Substring(line)), "missing \(line)")
        }
        #expect(!natDefault.contains("bind-interfaces\n"))
        #expect(natDefault.contains("# dnsmasq runs in the host's network namespace."))
        let netns = try #require(files["nat-netns.dnsmasq.conf"])
        #expect(netns.split(separator: "\n").filter { $0.hasPrefix("server=") } == ["server=192.0.2.53"])
        #expect(netns.contains("# dnsmasq runs in network namespace \"lab\""))
        #expect(!netns.contains("host's network namespace"), "the comment must not claim the host's namespace under --netns")
        let custom = try #require(files["nat-custom.dnsmasq.conf"])
        let serverLines = custom.split(separator: "\n").filter { $0.hasPrefix("server=") }
        #expect(serverLines == ["server=192.0.2.53", "server=2001:db8::53", "server=fe80::1%eth0"])
        #expect(custom.contains("\ndhcp-host=52:54:00:aa:00:01,192.168.50.20,web\n"))
        #expect(custom.contains("\ndhcp-host=52:54:00:aa:00:03,192.168.50.201\n"))
        #expect(custom.contains("\ndhcp-lease-max=42\n"), "40 in the range + 2 static leases outside it")
        let isolated = try #require(files["isolated.dnsmasq.conf"])
        #expect(isolated.contains("\ndhcp-option=option:router\n"))
        #expect(!isolated.contains("server="))
        // Every non-comment line of a dnsmasq file is one option.
        for (_, text) in try GeneratedFiles.dnsmasq() {
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                #expect(line.range(of: #"^[a-z-]+(=\S+)?$"#, options: .regularExpression) != nil, "odd line: \(line)")
            }
        }
        let nft = try #require(files["nat-default.nft"])
        #expect(nft.contains("ip saddr 10.0.100.0/24 oifname != \"qn-default\" meta l4proto { tcp, udp } masquerade to :1024-65535"))
        #expect(nft.contains("type filter hook forward priority filter; policy accept;"))
        // Nothing outside our table: every `table` line names inet qnet.
        for (_, script) in try GeneratedFiles.nftables() {
            for line in script.split(separator: "\n") where line.hasPrefix("table") || line.hasPrefix("delete") || line.hasPrefix("flush") {
                #expect(line.hasPrefix("table inet qnet") || line == "delete table inet qnet", "\(line)")
            }
        }
        let isolatedRules = try #require(files["isolated.nft"])
        #expect(!isolatedRules.contains("masquerade"))
        #expect(!isolatedRules.contains("postrouting"))
    }
}

// MARK: - real tools

/// Writes `text` to a fresh temporary file and returns its path.
func writeTemporary(_ text: String, name: String) throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-netcfg-\(getpid())-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

/// Removes a file from `writeTemporary` with its directory.
func removeTemporary(_ path: String) {
    try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
}

@Suite(Privileged.enabled)
struct NetworkConfigToolTests {
    /// `nft -c -f`: the kernel checks the whole transaction and nothing is applied.
    @Test func nftAcceptsEveryScript() throws {
        let before = try run("nft", ["list", "tables"]).stdout
        for (file, script) in try GeneratedFiles.nftables() {
            let path = try writeTemporary(script, name: file)
            defer { removeTemporary(path) }
            let result = try run("nft", ["-c", "-f", path])
            #expect(result.status == 0, "\(file): \(result.stderr)")
        }
        #expect(try run("nft", ["list", "tables"]).stdout == before, "a check must change nothing")
    }

    /// `dnsmasq --test`: the syntax check of every generated configuration.
    @Test func dnsmasqAcceptsEveryConfiguration() throws {
        for (file, config) in try GeneratedFiles.dnsmasq() {
            let path = try writeTemporary(config, name: file)
            defer { removeTemporary(path) }
            let result = try run("dnsmasq", ["--test", "--conf-file=\(path)"])
            #expect(result.status == 0, "\(file): \(result.stderr)")
            #expect(result.stderr.contains("syntax check OK"), "\(file): \(result.stderr)")
        }
        // The check can fail: a broken line is reported.
        let path = try writeTemporary("bind-dynamic\ndhcp-range=nonsense\n", name: "bad.conf")
        defer { removeTemporary(path) }
        #expect(try run("dnsmasq", ["--test", "--conf-file=\(path)"]).status != 0)
    }

    /// Applied inside a namespace: the table appears with every rule, a second apply
    /// replaces rather than duplicates, another table is never touched, and the removal
    /// script removes ours and may run twice.
    @Test func applyReplaceAndRemoveInANamespace() throws {
        let ns = try TestNamespace("nft")
        let other = try writeTemporary("table ip bystander {\n\tchain c {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\tip saddr 10.9.9.9 counter drop\n\t}\n}\n", name: "bystander.nft")
        defer { removeTemporary(other) }
        #expect(try ns.exec("nft", ["-f", other]).status == 0)
        let bystander = try ns.exec("nft", ["list", "table", "ip", "bystander"]).stdout

        let networks = try [NetworkFixtures.natDefault, NetworkFixtures.natSecond, NetworkFixtures.isolated]
            .map { ($0, try NetworkFixtures.addressing($0)) }
        let script = FirewallRuleset.render(networks: networks)
        let path = try writeTemporary(script, name: "rules.nft")
        defer { removeTemporary(path) }
        let expectedRules = script.split(separator: "\n").filter { line in
            line.hasPrefix("\t\t") && !line.hasPrefix("\t\t#") && !line.hasPrefix("\t\ttype ")
        }.count

        for round in 1...2 {
            let applied = try ns.exec("nft", ["-f", path])
            #expect(applied.status == 0, "round \(round): \(applied.stderr)")
            let listing = try ns.exec("nft", ["-j", "list", "table", "inet", "qnet"])
            #expect(listing.status == 0, "\(listing.stderr)")
            let items = try nftItems(listing.stdout)
            #expect(items.filter { $0["rule"] != nil }.count == expectedRules, "round \(round)")
            let chains = items.compactMap { $0["chain"] as? [String: Any] }.compactMap { $0["name"] as? String }.sorted()
            #expect(chains == ["forward", "input", "postrouting"])
        }
        #expect(try ns.exec("nft", ["list", "table", "ip", "bystander"]).stdout == bystander)

        let removal = try writeTemporary(FirewallRuleset.removal(), name: "removal.nft")
        defer { removeTemporary(removal) }
        for round in 1...2 {
            let removed = try ns.exec("nft", ["-f", removal])
            #expect(removed.status == 0, "round \(round): \(removed.stderr)")
            #expect(try ns.exec("nft", ["list", "table", "inet", "qnet"]).status != 0, "table gone")
        }
        #expect(try ns.exec("nft", ["list", "table", "ip", "bystander"]).stdout == bystander)
        #expect(try ns.exec("nft", ["list", "tables"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "table ip bystander")
    }

    func nftItems(_ json: String) throws -> [[String: Any]] {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return (object?["nftables"] as? [[String: Any]]) ?? []
    }
}

// MARK: - live: dnsmasq and packets in namespaces

/// A host namespace with a qnet-style bridge carrying the gateway, and guest namespaces
/// whose `eth0` is a veth port of that bridge.
final class NetworkLab {
    let host: TestNamespace
    var guests: [TestNamespace] = []
    let definition: NetworkDefinition
    let addressing: NetworkAddressing
    let directory: String
    private var processes: [Int32] = []

    init(_ definition: NetworkDefinition, label: String) throws {
        self.definition = definition
        addressing = try AddressPlanner.resolve(definition, existing: [], otherNetworks: [])
        host = try TestNamespace(label + "h")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-netlab-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try host.ip("link", "add", definition.bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        try host.ip("addr", "add", "\(addressing.gateway)/\(addressing.subnet.length)", "dev", definition.bridge)
        try host.ip("link", "set", definition.bridge, "up")
    }

    deinit {
        for pid in processes { Subprocess.stop(pid) }
        for guest in guests { guest.remove() }
        host.remove()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A guest namespace plugged into the bridge, optionally with a fixed MAC.
    @discardableResult
    func addGuest(_ label: String, mac: String? = nil) throws -> TestNamespace {
        let guest = try TestNamespace(label)
        let port = "vp\(guests.count)"
        try host.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", guest.name)
        try host.ip("link", "set", port, "master", definition.bridge, "up")
        if let mac { try guest.ip("link", "set", "eth0", "address", mac) }
        try guest.ip("link", "set", "eth0", "up")
        guests.append(guest)
        return guest
    }

    /// Starts a program inside a namespace in the background; stopped when the lab goes.
    ///
    /// Through qnet's own launcher, as the network manager does, not Foundation's `Process`:
    /// dnsmasq closes every descriptor it inherits at start-up, and Foundation takes the
    /// closing of its per-child monitoring socket for an exit, then blocks its only
    /// child-watching thread in wait4() for that pid, stalling every other `Process` in the
    /// test run. Foundation's children also inherit its blocked signal mask, so SIGTERM
    /// would stay pending in dnsmasq forever.
    func spawn(in ns: TestNamespace, _ program: String, _ arguments: [String], log: String) throws -> Int32 {
        let output = try FileSystem.openForAppending(log, mode: 0o644)
        defer { close(output) }
        let command = Command(try locate(program), arguments)
        let pid = try NetworkNamespace(name: ns.name).withEntered { try Subprocess.startDetached(command, output: output) }
        processes.append(pid)
        return pid
    }

    /// Whether a child started by `spawn` still runs (reaping it if it has exited).
    func isRunning(_ pid: Int32) -> Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// Starts dnsmasq with the generated configuration and waits for its pid file.
    func startDnsmasq(upstream: [String]) throws {
        let paths = DnsmasqPaths(leaseFile: "\(directory)/dnsmasq.leases", pidFile: "\(directory)/dnsmasq.pid", configFile: "\(directory)/dnsmasq.conf")
        let config = DnsmasqConfig.render(definition: definition, addressing: addressing, paths: paths, upstreamServers: upstream)
        try config.write(toFile: paths.configFile, atomically: true, encoding: .utf8)
        let log = "\(directory)/dnsmasq.log"
        let process = try spawn(in: host, "dnsmasq", ["--keep-in-foreground", "--conf-file=\(paths.configFile)"], log: log)
        let started = waitUntil(timeout: 10, interval: 0.02) { FileManager.default.fileExists(atPath: paths.pidFile) || !isRunning(process) }
        guard started, isRunning(process) else {
            throw TestSupportError("dnsmasq did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
    }

    /// Runs busybox udhcpc once in `guest`; returns the variables its script saw on `bound`.
    func lease(_ guest: TestNamespace, hostname: String?) throws -> [String: String] {
        let output = "\(directory)/\(guest.name).lease"
        let script = "\(directory)/\(guest.name).script"
        try """
            #!/bin/sh
            # udhcpc's event script: configure the address and record what the server sent.
            [ "$1" = bound ] || exit 0
            /usr/bin/busybox ip addr add "$ip/$mask" dev "$interface"
            printf 'ip=%s\\nmask=%s\\nrouter=%s\\ndns=%s\\ndomain=%s\\nlease=%s\\n' "$ip" "$mask" "$router" "$dns" "$domain" "$lease" > \(output)
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        var arguments = ["udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "10", "-T", "1", "-s", script]
        if let hostname { arguments += ["-x", "hostname:\(hostname)"] }
        let result = try guest.exec("busybox", arguments)
        guard result.status == 0, let text = try? String(contentsOfFile: output, encoding: .utf8) else {
            throw TestSupportError("udhcpc in \(guest.name) got no lease (\(result.status)): \(result.stderr)")
        }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        return values
    }

    /// The IPv4 addresses busybox nslookup prints for `name`, asking the gateway.
    func lookup(from guest: TestNamespace, _ name: String) throws -> [String] {
        let result = try guest.exec("busybox", ["nslookup", "-type=a", name, addressing.gateway.description])
        // Output: "Server: ... Address: GW:53" then, per answer, "Name: ..." and "Address: IP".
        let answers = result.stdout.components(separatedBy: "\n\n").dropFirst().joined(separator: "\n")
        return answers.split(separator: "\n").compactMap { line in
            line.hasPrefix("Address:") ? line.dropFirst("Address:".count).trimmingCharacters(in: .whitespaces) : nil
        }
    }
}

@Suite(Privileged.enabled)
struct NetworkConfigLiveTests {
    /// Real dnsmasq with the generated file on a bridge in a namespace; busybox udhcpc guests.
    /// A second dnsmasq already holds 127.0.0.1:53 in the same namespace (like a system
    /// resolver): ours must start beside it (bind-dynamic) and use it as its upstream.
    @Test(arguments: [NetworkMode.nat, .isolated])
    func dhcpAndDNS(mode: NetworkMode) throws {
        let definition = NetworkDefinition(
            name: "cfg", mode: mode, bridge: "qn-cfg", subnet: "10.0.100.0/24", leaseTime: 600,
            staticLeases: [StaticLease(mac: "52:54:00:12:34:10", address: "10.0.100.10", hostname: "web")], domain: "cfg.test")
        let lab = try NetworkLab(definition, label: mode == .nat ? "dn" : "di")
        let upstreamLog = "\(lab.directory)/upstream.log"
        let upstream = try lab.spawn(in: lab.host, "dnsmasq", [
            "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
            "--listen-address=127.0.0.1", "--address=/outside.test/192.0.2.99", "--log-facility=-",
            "--pid-file=\(lab.directory)/upstream.pid",
        ], log: upstreamLog)
        #expect(waitUntil(timeout: 10, interval: 0.02) { FileManager.default.fileExists(atPath: "\(lab.directory)/upstream.pid") })
        #expect(lab.isRunning(upstream))

        try lab.startDnsmasq(upstream: ["127.0.0.1"])
        let vm1 = try lab.addGuest("g1")
        let web = try lab.addGuest("g2", mac: "52:54:00:12:34:10")

        let dynamic = try lab.lease(vm1, hostname: "vm1")
        let dynamicAddress = try #require(dynamic["ip"].flatMap(IPAddress.init))
        let value = IPv4Block.value(dynamicAddress)!
        #expect(value >= IPv4Block.value(lab.addressing.dhcpStart)! && value <= IPv4Block.value(lab.addressing.dhcpEnd)!, "\(dynamic)")
        #expect(dynamic["mask"] == "24")
        #expect(dynamic["dns"] == "10.0.100.1")
        #expect(dynamic["domain"] == "cfg.test")
        #expect(dynamic["lease"] == "600")
        #expect(dynamic["router"] == (mode == .nat ? "10.0.100.1" : ""), "isolated networks send no router option")

        let fixed = try lab.lease(web, hostname: nil)
        #expect(fixed["ip"] == "10.0.100.10", "static lease by MAC")

        // Names: the guest's own hostname, short and qualified, and the static lease's name.
        #expect(try lab.lookup(from: web, "vm1.cfg.test") == [dynamicAddress.description])
        #expect(try lab.lookup(from: web, "vm1") == [dynamicAddress.description])
        #expect(try lab.lookup(from: vm1, "web.cfg.test") == ["10.0.100.10"])
        #expect(try lab.lookup(from: vm1, "nobody.cfg.test").isEmpty, "local domain: unknown names are not forwarded")
        // Upstream through the loopback resolver: NAT only.
        #expect(try lab.lookup(from: vm1, "outside.test") == (mode == .nat ? ["192.0.2.99"] : []))

        // The lease file holds the dynamic lease with the name.
        let leases = try String(contentsOfFile: "\(lab.directory)/dnsmasq.leases", encoding: .utf8)
        #expect(leases.contains(" \(dynamicAddress) vm1 "), "\(leases)")
    }

    /// The generated ruleset on a namespace "host" routing between a guest namespace on the
    /// bridge and an "outside" namespace that has no route back to the subnet.
    @Test func natMasqueradesAndBlocksInbound() throws {
        let definition = NetworkDefinition(name: "cfgnat", mode: .nat, bridge: "qn-cfgnat", subnet: "10.0.100.0/24")
        let lab = try NetworkLab(definition, label: "fn")
        let (guest, outside) = try wireOutside(lab)

        // Without our rules and with a route back, plain routing works both ways.
        try outside.ip("route", "add", "10.0.100.0/24", "via", "192.0.2.1")
        #expect(try ping(from: outside, "10.0.100.50"), "routing works before the ruleset")
        // With them, nothing new gets into the NAT subnet from outside.
        try applyRules(lab, FirewallRuleset.render(networks: [(definition, lab.addressing)]))
        #expect(try !ping(from: outside, "10.0.100.50"), "inbound into the NAT subnet is rejected")
        // The outside namespace forgets the subnet: the guest gets through only masqueraded.
        try outside.ip("route", "del", "10.0.100.0/24")
        #expect(try ping(from: guest, "192.0.2.2"))
        let (source, port) = try udpSource(from: guest, sourcePort: 500, to: outside)
        #expect(source == "192.0.2.1", "the outside sees the host's address")
        #expect((1024...65535).contains(port), "source port \(port) mapped into 1024-65535")
        // Traffic to the gateway (the host itself) is untouched.
        #expect(try ping(from: guest, "10.0.100.1"))
        // After removal: no masquerade, so no reply can come back.
        try applyRules(lab, FirewallRuleset.removal())
        #expect(try !ping(from: guest, "192.0.2.2"), "without masquerade the outside cannot answer")
    }

    @Test func isolatedReachesTheHostOnly() throws {
        let definition = NetworkDefinition(name: "cfgiso", mode: .isolated, bridge: "qn-cfgiso", subnet: "10.0.100.0/24")
        let lab = try NetworkLab(definition, label: "fi")
        let (guest, outside) = try wireOutside(lab)
        let second = try lab.addGuest("fi2")
        try second.ip("addr", "add", "10.0.100.51/24", "dev", "eth0")
        try outside.ip("route", "add", "10.0.100.0/24", "via", "192.0.2.1")
        #expect(try ping(from: guest, "192.0.2.2"), "routing works before the ruleset")
        try applyRules(lab, FirewallRuleset.render(networks: [(definition, lab.addressing)]))
        #expect(try !ping(from: guest, "192.0.2.2"), "no way out")
        #expect(try !ping(from: outside, "10.0.100.50"), "no way in")
        #expect(try ping(from: guest, "10.0.100.1"), "the host is reachable")
        #expect(try ping(from: guest, "10.0.100.51"), "guests reach each other")
    }

    // MARK: helpers

    /// Guest 10.0.100.50 on the bridge (default route via the gateway) and an outside
    /// namespace at 192.0.2.2 linked to the host's 192.0.2.1; the host forwards.
    func wireOutside(_ lab: NetworkLab) throws -> (TestNamespace, TestNamespace) {
        let guest = try lab.addGuest("g")
        try guest.ip("addr", "add", "10.0.100.50/24", "dev", "eth0")
        try guest.ip("route", "add", "default", "via", "10.0.100.1")
        let outside = try TestNamespace("out")
        lab.guests.append(outside)
        try lab.host.ip("link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", outside.name)
        try lab.host.ip("addr", "add", "192.0.2.1/24", "dev", "up0")
        try lab.host.ip("link", "set", "up0", "up")
        try outside.ip("addr", "add", "192.0.2.2/24", "dev", "eth0")
        try outside.ip("link", "set", "eth0", "up")
        // ip_forward is per namespace: this changes only the lab's host namespace.
        let forward = try lab.host.exec("sh", ["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
        guard forward.status == 0 else { throw TestSupportError("cannot enable forwarding: \(forward.stderr)") }
        return (guest, outside)
    }

    func applyRules(_ lab: NetworkLab, _ script: String) throws {
        let path = "\(lab.directory)/rules-\(UUID().uuidString.prefix(6)).nft"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try lab.host.exec("nft", ["-f", path])
        guard result.status == 0 else { throw TestSupportError("nft -f failed: \(result.stderr)") }
    }

    /// One ping with a one-second deadline (a short wait for a first ARP exchange included).
    func ping(from ns: TestNamespace, _ target: String) throws -> Bool {
        try ns.exec("ping", ["-c", "1", "-W", "1", target]).status == 0
    }

    /// Sends one UDP datagram from `guest` port `sourcePort` to 192.0.2.2:9999 in `outside`
    /// and returns the source address and port the outside saw.
    func udpSource(from guest: TestNamespace, sourcePort: UInt16, to outside: TestNamespace) throws -> (String, Int) {
        let receiver = try NetworkNamespace(name: outside.name).withEntered { try udpSocket(bindTo: "192.0.2.2", port: 9999) }
        defer { close(receiver) }
        let sender = try NetworkNamespace(name: guest.name).withEntered { try udpSocket(bindTo: "10.0.100.50", port: sourcePort) }
        defer { close(sender) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(receiver, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var destination = socketAddress("192.0.2.2", port: 9999)
        let payload: [UInt8] = Array("qnet".utf8)
        let sent = withUnsafePointer(to: &destination) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(sender, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard sent == payload.count else { throw TestSupportError("sendto failed: errno \(errno)") }
        var from = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        var buffer = [UInt8](repeating: 0, count: 64)
        let received = withUnsafeMutablePointer(to: &from) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(receiver, &buffer, buffer.count, 0, $0, &length) }
        }
        guard received == payload.count else { throw TestSupportError("nothing arrived outside (errno \(errno))") }
        let address = withUnsafeBytes(of: from.sin_addr.s_addr) { IPAddress(bytes: Array($0))!.description }
        return (address, Int(UInt16(bigEndian: from.sin_port)))
    }

    func udpSocket(bindTo address: String, port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket failed: errno \(errno)") }
        var local = socketAddress(address, port: port)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            close(fd)
            throw TestSupportError("bind \(address):\(port) failed: errno \(errno)")
        }
        return fd
    }

    func socketAddress(_ address: String, port: UInt16) -> sockaddr_in {
        var result = sockaddr_in()
        result.sin_family = sa_family_t(AF_INET)
        result.sin_port = port.bigEndian
        let bytes = IPAddress(address)!.bytes
        result.sin_addr.s_addr = bytes.withUnsafeBytes { $0.load(as: UInt32.self) }
        return result
    }
}
