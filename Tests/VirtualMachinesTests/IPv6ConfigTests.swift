// IPv6 of nat and isolated networks, pure parts: the /64 the planner accepts or refuses,
// the unique local prefix `--ipv6 auto` picks, the stored definition, and the facts the
// dual-stack golden files must keep (the golden files themselves are compared in
// NetworkConfigGoldenTests, and checked by nft and dnsmasq in NetworkConfigToolTests).

import QNetTypes
import Testing
@testable import VirtualMachines

struct IPv6PlannerTests {
    typealias E = NetworkConfigError
    let p = NetworkFixtures.prefix

    func resolve(_ prefix: String?, mode: NetworkMode = .nat, existing: [String] = [], others: [String] = []) throws -> NetworkAddressing {
        try AddressPlanner.resolve(
            NetworkDefinition(name: "six", mode: mode, bridge: "qn-six", subnet: "10.0.120.0/24", ipv6Prefix: prefix),
            existing: existing.map { p($0) }, otherNetworks: others.map { p($0) })
    }

    @Test func layoutOfTheSlash64() throws {
        let ipv6 = try #require(try resolve("fd12:3456:789a::/64").ipv6)
        #expect(ipv6.prefix == p("fd12:3456:789a::/64"))
        #expect(ipv6.gateway.description == "fd12:3456:789a::1")
        #expect(ipv6.dhcpStart.description == "fd12:3456:789a::100")
        #expect(ipv6.dhcpEnd.description == "fd12:3456:789a::1ff")
        #expect(try resolve(nil).ipv6 == nil, "no prefix: IPv4 only")
    }

    @Test func refusedPrefixes() {
        #expect(throws: E.badIPv6Prefix("10.0.0.0/24")) { try resolve("10.0.0.0/24") }
        #expect(throws: E.badIPv6Prefix("fd00::")) { try resolve("fd00::") }
        #expect(throws: E.badIPv6Prefix("auto")) { try resolve("auto") }
        #expect(throws: E.ipv6PrefixSize(p("fd00::/48"))) { try resolve("fd00::/48") }
        #expect(throws: E.ipv6PrefixSize(p("fd00::/80"))) { try resolve("fd00::/80") }
        #expect(throws: E.notANetworkAddress(given: p("fd00::5/64"), network: p("fd00::/64"))) { try resolve("fd00::5/64") }
        #expect(throws: E.reservedSubnet(p("fe80::/64"), block: p("fe80::/10"), purpose: "link-local")) { try resolve("fe80::/64") }
        #expect(throws: E.reservedSubnet(p("ff02::/64"), block: p("ff00::/8"), purpose: "multicast")) { try resolve("ff02::/64") }
        #expect(throws: E.reservedSubnet(p("::/64"), block: p("::/96"), purpose: "unspecified, loopback and IPv4-compatible addresses")) {
            try resolve("::/64")
        }
    }

    @Test func overlaps() throws {
        // Another network's prefix, a host address inside it, a host route covering it.
        #expect(throws: E.overlapsNetwork(subnet: p("fd00:1::/64"), other: p("fd00:1::/64"), suggestion: nil)) {
            try resolve("fd00:1::/64", others: ["10.0.1.0/24", "fd00:1::/64"])
        }
        #expect(throws: E.overlapsHost(subnet: p("fd00:1::/64"), existing: p("fd00:1::/64"), suggestion: nil)) {
            try resolve("fd00:1::/64", existing: ["fd00:1::/64"])
        }
        #expect(throws: E.overlapsHost(subnet: p("fd00:1::/64"), existing: p("fd00::/16"), suggestion: nil)) {
            try resolve("fd00:1::/64", existing: ["fd00::/16"])
        }
        // Default routes, link-local and multicast routes and IPv4 prefixes are no overlap.
        #expect(try resolve("fd00:1::/64", existing: ["::/0", "fe80::/64", "ff00::/8", "10.9.0.0/16"], others: ["10.0.2.0/24", "fd00:2::/64"]).ipv6 != nil)
    }

    /// RFC 4193: fd, then the 40-bit global ID, then subnet ID 0; tried again when taken.
    @Test func uniqueLocalPrefix() throws {
        let bytes: [[UInt8]] = [[0x12, 0x34, 0x56, 0x78, 0x9a], [0xab, 0xcd, 0xef, 0x01, 0x23]]
        var calls = 0
        let next: (Int) -> [UInt8] = { count in
            #expect(count == 5)
            defer { calls += 1 }
            return bytes[min(calls, bytes.count - 1)]
        }
        #expect(AddressPlanner.uniqueLocalPrefix(existing: [], otherNetworks: [], randomBytes: next) == p("fd12:3456:789a::/64"))
        calls = 0
        #expect(AddressPlanner.uniqueLocalPrefix(existing: [], otherNetworks: [p("fd12:3456:789a::/64")], randomBytes: next)
            == p("fdab:cdef:123::/64"))
        #expect(calls == 2)
        calls = 0
        #expect(AddressPlanner.uniqueLocalPrefix(existing: [p("fd00::/8")], otherNetworks: [], randomBytes: next) == nil, "every try overlaps")
        #expect(calls == 16)
        // The system generator: two picks differ (40 random bits) and both are fd00::/8 /64s.
        let first = try #require(AddressPlanner.uniqueLocalPrefix(existing: [], otherNetworks: []))
        let second = try #require(AddressPlanner.uniqueLocalPrefix(existing: [], otherNetworks: []))
        #expect(first != second)
        #expect(first.length == 64 && first.address.bytes[0] == 0xfd && first.address.bytes[6...].allSatisfy { $0 == 0 })
    }

    @Test func choices() {
        #expect(IPv6Choice("auto") == .auto)
        #expect(IPv6Choice("none") == IPv6Choice.none)
        #expect(IPv6Choice("fd00::/64") == .prefix(p("fd00::/64")))
        #expect(IPv6Choice("fd00::") == nil)
        #expect(IPv6Choice("10.0.0.0/24") == nil)
        #expect(IPv6Choice("yes") == nil)
    }

    /// Stored definitions: the two keys are read; files written before IPv6 existed (no
    /// keys) stay IPv4 only with NAT66 as the default should a prefix be added.
    @Test func storedDefinition() throws {
        let yaml = "name: routed\nmode: nat\nbridge: qn-routed\nsubnet: 10.0.111.0/24\nipv6_prefix: 2001:db8:1:2::/64\nipv6_nat: false\n"
        #expect(try DefinitionYAML.decode(NetworkDefinition.self, from: yaml, file: "routed.yaml") == NetworkFixtures.natRouted)
        let old = try DefinitionYAML.decode(NetworkDefinition.self, from: "name: old\nmode: nat\nbridge: qn-old\nlease_time: 3600\nstatic_leases: []\ninterface_group: 20736\n", file: "old.yaml")
        #expect(old.ipv6Prefix == nil && old.ipv6NAT)
    }

    @Test func messagesAreOneLine() {
        for error in [E.badIPv6Prefix("x"), .ipv6PrefixSize(p("fd00::/48")), .ipv6OnBridgeMode] {
            #expect(!error.description.contains("\n"))
            #expect(error.isUsageError)
        }
        let unavailable = NetworkError.ipv6Unavailable(network: "lab", reason: "net.ipv6.conf.all.disable_ipv6 = 1")
        #expect(unavailable.description.contains("--ipv6 none") && !unavailable.isUsageError)
    }
}

struct IPv6GoldenFactsTests {
    /// Facts the dual-stack golden files must keep, so a careless regeneration cannot drop them.
    @Test func dualStackLines() throws {
        let files = Dictionary(uniqueKeysWithValues: try GeneratedFiles.dnsmasq() + GeneratedFiles.nftables())
        func lines(_ name: String) throws -> [Substring] { try #require(files[name]).split(separator: "\n") }
        let nat = try lines("nat-dualstack.dnsmasq.conf")
        for line in ["listen-address=10.0.110.1", "listen-address=fd12:3456:789a::1", "enable-ra",
                     "dhcp-range=fd12:3456:789a::100,fd12:3456:789a::1ff,slaac,ra-names,64,3600",
                     "dhcp-option=option6:dns-server,[fd12:3456:789a::1]", "dhcp-lease-max=356"] {
            #expect(nat.contains(Substring(line)), "missing \(line)")
        }
        #expect(!nat.contains { $0.hasPrefix("ra-param=") }, "a nat network's RAs make it the default router")
        let isolated = try lines("isolated-dualstack.dnsmasq.conf")
        #expect(isolated.contains("ra-param=qn-iso6,0,0"), "router lifetime 0: no default route on an isolated network")
        #expect(isolated.contains("enable-ra"))
        // IPv4-only files have no IPv6 line.
        for name in ["nat-default.dnsmasq.conf", "isolated.dnsmasq.conf"] {
            #expect(try !lines(name).contains { $0 == "enable-ra" || $0.contains("option6") })
        }

        let nft = try lines("dualstack.nft").map { $0.trimmingPrefix("\t\t") }
        for rule in [
            "ip6 saddr fd12:3456:789a::/64 oifname != \"qn-dual\" meta l4proto { tcp, udp } masquerade to :1024-65535",
            "ip6 saddr fd12:3456:789a::/64 oifname != \"qn-dual\" masquerade",
            "ip6 saddr fd12:3456:789a::/64 ip6 daddr ff00::/8 return",
            "oifname \"qn-dual\" ip6 daddr fd12:3456:789a::/64 ct state established,related accept",
            "iifname \"qn-dual\" ip6 saddr fd12:3456:789a::/64 accept",
            "oifname \"qn-routed\" ip6 daddr 2001:db8:1:2::/64 accept",
            "iifname \"qn-routed\" ip6 saddr 2001:db8:1:2::/64 accept",
            "oifname \"qn-iso6\" drop", "iifname \"qn-iso6\" drop",
            "iifname \"qn-dual\" udp dport 547 accept",
        ] {
            #expect(nft.contains(Substring(rule)), "missing \(rule)")
        }
        #expect(!nft.contains { $0.contains("2001:db8:1:2::/64") && $0.contains("masquerade") }, "--ipv6-nat off: routed, never masqueraded")
        #expect(!nft.contains { !$0.hasPrefix("#") && $0.contains("fd12:3456:789b") }, "an isolated prefix needs no rule of its own: its bridge drops everything")
    }
}
