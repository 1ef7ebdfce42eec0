import Foundation
import GuestImage
import QNetTestSupport
import QNetTypes
import Testing
@testable import VirtualMachines

/// The anti-spoofing ruleset as text (golden files, reviewed by a human when regenerated with
/// QNET_UPDATE_GOLDEN=1), the `--nic` syntax for it, and nft accepting it in a namespace.
@Suite struct PortFilterRulesetTests {
    static let mac = MACAddress("52:54:00:12:34:56")!

    @Test func addingAPortWithItsLeaseIsOneTransaction() throws {
        let script = PortFilterRuleset.add([PortFilter(tap: "vnet0", mac: Self.mac, ipv4: [IPAddress("10.77.0.100")!], ipv6: [])])
        try GoldenFile.check("port-filter-add.nft", script, suite: "PortFilterRulesetTests")
    }

    @Test func staticAddressesAndUncheckedFamilies() throws {
        let script = PortFilterRuleset.add([
            PortFilter(tap: "vnet3", mac: Self.mac, ipv4: [IPAddress("192.0.2.10")!, IPAddress("192.0.2.11")!], ipv6: [IPAddress("2001:db8::10")!]),
            PortFilter(tap: "vnet4", mac: MACAddress("52:54:00:00:00:04")!, ipv4: nil, ipv6: nil),
            PortFilter(tap: "vnet5", mac: MACAddress("52:54:00:00:00:05")!, ipv4: [], ipv6: []),
            // A network guest with IPv6 as an older qnet recorded it (read back from its state):
            // its SLAAC address and the network's whole DHCPv6 range.
            PortFilter(tap: "vnet6", mac: MACAddress("52:54:00:00:00:06")!, ipv4: [IPAddress("10.77.0.101")!],
                       ipv6: [IPAddress("fd00:77::5054:ff:fe00:6")!], ipv6Ranges: [[IPAddress("fd00:77::100")!, IPAddress("fd00:77::1ff")!]],
                       dhcpv6Servers: [IPAddress("fd00:77::1")!]),
        ])
        try GoldenFile.check("port-filter-static.nft", script, suite: "PortFilterRulesetTests")
    }

    @Test func removalIsIdempotentAndTouchesOnlyItsPorts() throws {
        try GoldenFile.check("port-filter-remove.nft", PortFilterRuleset.remove(["vnet0", "vnet3"]), suite: "PortFilterRulesetTests")
        try GoldenFile.check("port-filter-removal.nft", PortFilterRuleset.removal(), suite: "PortFilterRulesetTests")
    }

    @Test func aNameThatIsNotAnIdentifierNeverReachesTheScript() {
        let hostile = "x; flush ruleset"
        #expect(!PortFilterRuleset.isChainSafe(hostile) && !PortFilterRuleset.isChainSafe("") && !PortFilterRuleset.isChainSafe("0tap"))
        #expect(PortFilterRuleset.isChainSafe("vnet12"))
        #expect(!PortFilterRuleset.add([PortFilter(tap: hostile, mac: Self.mac)]).contains("flush ruleset"))
        #expect(!PortFilterRuleset.remove([hostile]).contains("flush ruleset"))
    }

    @Test func theLinkLocalAndSLAACAddressesAreTheKernelsEUI64() {
        let filter = PortFilter(tap: "vnet0", mac: Self.mac)
        #expect(filter.linkLocal == IPAddress("fe80::5054:ff:fe12:3456"))
        #expect(filter.slaacAddress(in: IPPrefix("fd00:77::/64")!) == IPAddress("fd00:77::5054:ff:fe12:3456"))
    }

    @Test func nicSyntax() throws {
        let nic = try #require(try NICSpec.parse("bridge=br0,filter=on,ip=192.0.2.10,ip=2001:db8::10"))
        #expect(nic.filter == true && nic.addresses == ["192.0.2.10", "2001:db8::10"])
        #expect(try NICSpec.parse("network=lab,filter=off")?.filter == false)
        #expect(try NICSpec.parse("network=lab")?.filter == nil)
        #expect(throws: VMError.invalidValue(what: "NIC filter", value: "yes", allowed: "use filter=on or filter=off")) {
            try NICSpec.parse("bridge=br0,filter=yes")
        }
        #expect(throws: VMError.self) { try NICSpec.parse("bridge=br0,filter=on,ip=224.0.0.1") }
        #expect(throws: VMError.self) { try NICSpec.parse("bridge=br0,filter=off,ip=192.0.2.10") }
        // The YAML form says the same, and reads back.
        let yaml = try DefinitionYAML.decode(VMDefinition.self, from: "name: v\nnics:\n  - bridge: br0\n    filter: true\n    ip: [192.0.2.10]\n", file: "v.yaml")
        #expect(yaml.nics.first?.filter == true && yaml.nics.first?.addresses == ["192.0.2.10"])
        #expect(try JSONDecoder().decode(VMDefinition.self, from: JSONEncoder().encode(yaml)) == yaml)
    }

    /// nft itself accepts the scripts in a fresh namespace; adding twice and removing twice
    /// both succeed (idempotent), and removal leaves the other port alone. Witness: `nft list`.
    @Test(Privileged.enabled) func nftAcceptsTheScriptsInANamespace() throws {
        let ns = try TestNamespace("pfnft")
        defer { ns.remove() }
        func nft(_ script: String) throws {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-pf-\(getpid()).nft").path
            try script.write(toFile: file, atomically: true, encoding: .utf8)
            defer { unlink(file) }
            let result = try ns.exec("nft", ["-f", file])
            #expect(result.status == 0, "\(result.stderr)")
        }
        let ports = [PortFilter(tap: "vnet0", mac: Self.mac, ipv4: [IPAddress("10.77.0.100")!], ipv6: []),
                     PortFilter(tap: "vnet1", mac: MACAddress("52:54:00:00:00:01")!, ipv4: nil, ipv6: nil)]
        try nft(PortFilterRuleset.add(ports))
        try nft(PortFilterRuleset.add(ports))
        let listed = try ns.exec("nft", ["list", "table", "bridge", "qnet-filter"]).stdout
        #expect(listed.components(separatedBy: "iifname vmap @ports").count == 2, "one dispatch rule after two adds:\n\(listed)")
        #expect(listed.components(separatedBy: "source MAC is not the VM's").count == 3, "\(listed)")
        try nft(PortFilterRuleset.remove(["vnet0"]))
        try nft(PortFilterRuleset.remove(["vnet0"]))
        let after = try ns.exec("nft", ["list", "table", "bridge", "qnet-filter"]).stdout
        #expect(!after.contains("port-vnet0") && after.contains("port-vnet1"), "\(after)")
        try nft(PortFilterRuleset.removal())
        try nft(PortFilterRuleset.removal())
        #expect(!(try ns.exec("nft", ["list", "tables"]).stdout.contains("qnet-filter")))
    }
}

enum PortFilterListing {
    /// The packets counted by the rule of `chain` whose comment is `comment`.
    static func dropped(_ listing: String, chain: String, comment: String) -> Int? {
        guard let start = listing.range(of: "chain \(chain) {") else { return nil }
        // The chain's lines up to its closing brace (sets inside rules have braces of their own).
        let body = listing[start.upperBound...].split(separator: "\n").prefix { $0.trimmingCharacters(in: .whitespaces) != "}" }
        guard let line = body.first(where: { $0.contains("comment \"\(comment)\"") }),
              let packets = line.range(of: "packets ") else { return nil }
        return Int(line[packets.upperBound...].prefix { $0.isNumber })
    }

}

/// Two real guests on a NAT network (filters on by default): B first takes A's MAC, then A's
/// IPv4 address; both times its frames are dropped at its bridge port (witness: the drop
/// counters in `nft list table bridge qnet-filter`, and B's own failed pings), while A keeps
/// its DHCP lease and answers the host. The rules go with each VM; the table with the last.
/// Part of NetworkGuestTests, so it never runs beside the other network guests (their
/// host-footprint checks count every dnsmasq of the test process).
extension NetworkGuestTests {
    @Test(.timeLimit(.minutes(15)))
    func aGuestTakingAnothersMACOrAddressIsDroppedAndTheOtherKeepsWorking() throws {
        let fixture = try NetworkFixture("pf")
        let before = try fixture.hostFootprint()
        _ = try fixture.networks.create(NetworkDefinition(name: "labf", mode: .nat, bridge: "qn-labf", subnet: "10.79.0.0/24"))
        // Fixed addresses, so the spoofing guest knows what to claim: A's by DHCP (a static lease).
        let macA = GuestMAC.derived(vm: "pf-a", nicIndex: 0)
        try fixture.networks.addLease("labf", mac: macA.description, address: "10.79.0.50", hostname: nil)
        try fixture.networks.addLease("labf", mac: GuestMAC.derived(vm: "pf-b", nicIndex: 0).description, address: "10.79.0.60", hostname: nil)
        try fixture.networks.start("labf")
        defer { try? fixture.networks.stop("labf"); try? fixture.networks.delete("labf") }

        let a = try fixture.vms.run(try fixture.vm("pf-a", network: "labf", plan: ProbePlan(mode: .serve, stepTimeout: 30)))
        defer { try? fixture.vms.kill("pf-a") }
        let ready = GuestFixture.follow(a, timeout: 120) { $0.ready != nil || $0.isComplete }
        #expect(ready.ready?.address == "10.79.0.50/24", "A leases its address through the filter: \(ready.failedSteps)")
        let tapA = try #require(a.nics.first?.tap)
        #expect(a.portFilters?.first?.ipv4 == [IPAddress("10.79.0.50")!])

        // B with A's MAC (its own address): its frames never leave its port.
        let spoofMAC = try fixture.vms.run(try fixture.vm("pf-b", network: "labf", plan: ProbePlan(
            mode: .serve, addressing: .address("10.79.0.60/24"), gateway: .none, targets: ["10.79.0.50"], stepTimeout: 6,
            extraKernelArguments: ["qnet.mac=\(macA)"])))
        let tapB1 = try #require(spoofMAC.nics.first?.tap)
        // Serve mode: B stays up after its ping step, so its chain and counters are still there.
        let report1 = GuestFixture.follow(spoofMAC, timeout: 120) { $0.step("ping", target: "10.79.0.50") != nil || $0.isComplete }
        #expect(report1.step("link")?.fields["mac"] == macA.description, "B took A's MAC: \(report1.steps)")
        #expect(report1.step("ping", target: "10.79.0.50")?.ok == false, "B with A's MAC must not reach A")
        var listing = try fixture.ns.exec("nft", ["list", "table", "bridge", "qnet-filter"]).stdout
        #expect((PortFilterListing.dropped(listing, chain: "port-\(tapB1)", comment: "source MAC is not the VM's") ?? 0) > 0, "\(listing)")
        try fixture.vms.kill("pf-b")
        listing = try fixture.ns.exec("nft", ["list", "table", "bridge", "qnet-filter"]).stdout
        #expect(!listing.contains("chain port-\(tapB1) "), "B's chain goes with B")

        // B with its own MAC and A's address: ARP and IPv4 from it are dropped.
        let spoofIP = try fixture.vms.run(try fixture.vm("pf-b", network: "labf", plan: ProbePlan(
            mode: .serve, addressing: .address("10.79.0.50/24"), gateway: .none, targets: ["10.79.0.1"], stepTimeout: 6)))
        let tapB2 = try #require(spoofIP.nics.first?.tap)
        let report2 = GuestFixture.follow(spoofIP, timeout: 120) { $0.step("ping", target: "10.79.0.1") != nil || $0.isComplete }
        #expect(report2.step("ping", target: "10.79.0.1")?.ok == false, "B with A's address must not reach the gateway")
        listing = try fixture.ns.exec("nft", ["list", "table", "bridge", "qnet-filter"]).stdout
        let arp = PortFilterListing.dropped(listing, chain: "port-\(tapB2)", comment: "ARP sender IP is not the VM's") ?? 0
        let ipv4 = PortFilterListing.dropped(listing, chain: "port-\(tapB2)", comment: "IPv4 source is not the VM's") ?? 0
        #expect(arp + ipv4 > 0, "\(listing)")
        #expect(PortFilterListing.dropped(listing, chain: "port-\(tapA)", comment: "source MAC is not the VM's") == 0, "A sends only as itself")

        // A keeps working: the host reaches it, and its neighbour entry is still A's MAC.
        let ping = try fixture.ns.exec("ping", ["-c", "1", "-W", "5", "10.79.0.50"])
        #expect(ping.status == 0, "the host still reaches A: \(ping.stdout)")
        let neighbour = try fixture.ns.ip("neigh", "show", "10.79.0.50", "dev", "qn-labf")
        #expect(neighbour.contains(macA.description), "not poisoned: \(neighbour)")

        try fixture.vms.kill("pf-b")
        try fixture.vms.kill("pf-a")
        #expect(!(try fixture.ns.exec("nft", ["list", "tables"]).stdout.contains("qnet-filter")), "the table goes with the last filtered VM")
        try fixture.networks.stop("labf")
        #expect(try fixture.hostFootprint() == before)
    }
}

/// Two real guests on a dual-stack NAT network: each NIC's DHCPv6 address is reserved for
/// its MAC when the VM starts, so A's dhcpcd is granted exactly the address A's filter
/// allows (not the whole DHCPv6 range); B, doing DHCPv6 through its own filter (it gets its
/// own, other address), then also takes A's DHCPv6 address and pings the gateway from it:
/// dropped at B's port (the counter, B's failed ping6), while the host still reaches A at
/// that address and its neighbour entry stays A's MAC.
extension NetworkGuestTests {
    @Test(.timeLimit(.minutes(15)))
    func aGuestTakingAnothersDHCPv6AddressIsDroppedAndTheOtherKeepsIt() throws {
        let fixture = try NetworkFixture("pf6")
        let before = try fixture.hostFootprint()
        let prefix = IPPrefix("fd00:79:6::/64")!
        let gateway = IPv6Addressing(prefix: prefix).gateway
        _ = try fixture.networks.create(NetworkDefinition(name: "labf6", mode: .nat, bridge: "qn-labf6", subnet: "10.79.6.0/24"),
                                        ipv6: .prefix(prefix))
        try fixture.networks.start("labf6")
        defer { try? fixture.networks.stop("labf6"); try? fixture.networks.delete("labf6") }

        var planA = ProbePlan(mode: .serve, stepTimeout: 30)
        planA.ipv6 = true
        let a = try fixture.vms.run(try fixture.vm("pf6-a", network: "labf6", plan: planA))
        defer { try? fixture.vms.kill("pf6-a") }
        let filterA = try #require(a.portFilters?.first)
        #expect(filterA.ipv6Ranges.isEmpty, "the filter allows addresses, not the DHCPv6 range: \(filterA)")
        let readyA = GuestFixture.follow(a, timeout: 150) { $0.ready != nil || $0.isComplete }
        let leasedA = try #require(readyA.ready?.dhcp6.flatMap { IPAddress(String($0.split(separator: "/")[0])) },
                                   "A has a DHCPv6 lease through its filter: \(readyA.failedSteps)")
        #expect(filterA.ipv6?.contains(leasedA) == true, "A's lease \(leasedA) is the address reserved for its MAC: \(filterA.ipv6 ?? [])")

        // B: its own DHCPv6 lease, then A's address too, the gateway pinged from that.
        var planB = ProbePlan(mode: .serve, gateway: .none, stepTimeout: 20, extraKernelArguments: ["qnet.addr6=\(leasedA)"])
        planB.ipv6 = true
        planB.gateway6 = .none
        planB.targets6 = [gateway.description]
        let b = try fixture.vms.run(try fixture.vm("pf6-b", network: "labf6", plan: planB))
        defer { try? fixture.vms.kill("pf6-b") }
        let tapA = try #require(a.nics.first?.tap), tapB = try #require(b.nics.first?.tap)
        let reportB = GuestFixture.follow(b, timeout: 180) { $0.step("ping6", target: gateway.description) != nil || $0.isComplete }
        let leasedB = reportB.step("dhcp6")?.fields["addr"].flatMap { IPAddress(String($0.split(separator: "/")[0])) }
        #expect(leasedB != nil && leasedB != leasedA, "B leases its own DHCPv6 address through its filter: \(reportB.steps)")
        #expect(leasedB.map { b.portFilters?.first?.ipv6?.contains($0) == true } == true, "B's lease is B's reservation")
        #expect(reportB.step("addr6")?.ok == true, "B took A's DHCPv6 address: \(reportB.steps)")
        let ping6 = reportB.step("ping6", target: gateway.description)
        #expect(ping6?.ok == false && ping6?.skipped != true, "B from A's DHCPv6 address must not reach the gateway: \(reportB.steps)")
        let listing = try fixture.ns.exec("nft", ["list", "table", "bridge", "qnet-filter"]).stdout
        #expect((PortFilterListing.dropped(listing, chain: "port-\(tapB)", comment: "IPv6 source is not the VM's") ?? 0) > 0, "\(listing)")
        #expect(PortFilterListing.dropped(listing, chain: "port-\(tapA)", comment: "IPv6 source is not the VM's") == 0, "A sends only as itself")

        // A keeps its address: the host reaches it there, and the neighbour entry is A's MAC.
        let ping = try fixture.ns.exec("ping", ["-6", "-c", "1", "-W", "5", leasedA.description])
        #expect(ping.status == 0, "the host still reaches A at \(leasedA): \(ping.stdout)")
        let neighbour = try fixture.ns.ip("-6", "neigh", "show", leasedA.description, "dev", "qn-labf6")
        #expect(neighbour.contains(filterA.mac.description), "not poisoned: \(neighbour)")

        try fixture.vms.kill("pf6-b")
        try fixture.vms.kill("pf6-a")
        #expect(!(try fixture.ns.exec("nft", ["list", "tables"]).stdout.contains("qnet-filter")), "the table goes with the last filtered VM")
        try fixture.networks.stop("labf6")
        #expect(try fixture.hostFootprint() == before)
    }
}

/// Crafted NDP and DHCPv6 frames sent from one bridge port of a fresh namespace (a veth's
/// far end standing in for guest B) past qnet's rules to another port (guest A): what
/// arrives at A is the witness (AF_PACKET on A's end, comparing whole frames), with the drop
/// counters of `nft list` as the second one. A guest cannot answer NDP for another guest's
/// address, claim another MAC in an NDP option, act as a DHCPv6 server or router, or send
/// DHCPv6 anywhere but to servers; its own NDP (SLAAC's DAD included) and DHCPv6 client
/// traffic pass (tier 3, no guest: about a second).
@Suite(.serialized, Privileged.enabled)
struct PortFilterFrameTests {
    static let macA = MACAddress("52:54:00:0a:00:0a")!, macB = MACAddress("52:54:00:0b:00:0b")!

    /// Builds the frames (from B's MAC, to the broadcast MAC so the bridge floods them
    /// whatever it learned), sends them on `send`, and prints the tags of those that arrive
    /// on `receive`, ending at a final marker frame (legitimate) or a 10 s deadline.
    static let script = #"""
socket, struct, sys, time = map(__import__, ["socket", "struct", "sys", "time"])  # not an import line (LayeringTests reads those)
send_if, recv_if, mac_a, mac_b = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4])
def ip6(text): return socket.inet_pton(socket.AF_INET6, text)
def ll(m): return bytes([0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])
def frame(src, dst, next_header, payload):
    return b"\xff" * 6 + mac_b + b"\x86\xdd" + struct.pack("!IHBB", 0x60000000, len(payload), next_header, 255) + src + dst + payload
def icmp(kind, body): return frame_args(58, bytes([kind, 0, 0, 0]) + body)
def frame_args(nh, payload): return (nh, payload)
def na(target, lladdr): return icmp(136, b"\x20\x00\x00\x00" + target + b"\x02\x01" + lladdr)
def ns(target, lladdr=None): return icmp(135, b"\x00" * 4 + target + (b"\x01\x01" + lladdr if lladdr else b""))
def udp(sport, dport, tag): data = tag.encode(); return (17, struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data)
llA, llB, all_nodes, servers = ll(mac_a), ll(mac_b), ip6("ff02::1"), ip6("ff02::1:2")
cases = [
    ("na-for-a", llB, all_nodes, na(ip6("2001:db8::a"), mac_b)),
    ("na-for-a-link-local", llB, all_nodes, na(llA, mac_b)),
    ("na-own", llB, all_nodes, na(ip6("2001:db8::b"), mac_b)),
    ("na-own-link-local", llB, all_nodes, na(llB, mac_b)),
    ("na-own-dhcpv6-lease", llB, all_nodes, na(ip6("2001:db8::150"), mac_b)),
    ("na-with-a-mac", llB, all_nodes, na(ip6("2001:db8::b"), mac_a)),
    ("ns-with-a-mac", llB, ip6("ff02::1:ff00:a"), ns(ip6("2001:db8::a"), mac_a)),
    ("ns-own", llB, ip6("ff02::1:ff00:a"), ns(ip6("2001:db8::a"), mac_b)),
    ("slaac-dad-ns", ip6("::"), ip6("ff02::1:ff00:b"), ns(ip6("2001:db8::b"))),
    ("dhcpv6-solicit", llB, servers, udp(546, 547, "solicit")),
    ("dhcpv6-to-server", ip6("2001:db8::b"), ip6("2001:db8::1"), udp(546, 547, "request")),
    ("dhcpv6-to-a", ip6("2001:db8::b"), ip6("2001:db8::a"), udp(546, 547, "request-a")),
    ("dhcpv6-not-client-port", llB, servers, udp(1234, 547, "odd")),
    ("dhcpv6-server-reply", llB, llA, udp(547, 546, "advertise")),
    ("dhcpv6-to-client-port", llB, llA, udp(1234, 546, "reply")),
    ("router-advert", llB, all_nodes, icmp(134, b"\x40\x00\x07\x08" + b"\x00" * 8)),
    ("redirect", llB, llA, icmp(137, b"\x00" * 4 + ip6("2001:db8::1") + ip6("2001:db8::99"))),
    ("end", llB, servers, udp(546, 547, "end-marker")),
]
frames = {frame(src, dst, nh, payload): tag for tag, src, dst, (nh, payload) in cases}
receiver = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
receiver.bind((recv_if, 0))
receiver.settimeout(0.2)  # poll interval; bounded by the deadline below
sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sender.bind((send_if, 0))
for tag, src, dst, (nh, payload) in cases:
    sender.send(frame(src, dst, nh, payload))
arrived, deadline = [], time.monotonic() + 10
while "end" not in arrived and time.monotonic() < deadline:
    try:
        data = receiver.recv(65535)
    except socket.timeout:
        continue
    if data in frames:
        arrived.append(frames[data])
print(" ".join(arrived))
"""#

    @Test func spoofedNDPAndDHCPv6ServerTrafficAreDroppedAndTheGuestsOwnPasses() throws {
        let ns = try TestNamespace("pfnd")
        defer { ns.remove() }
        _ = try ns.ip("link", "add", "br0", "type", "bridge")
        for (port, guest, mac) in [("vA", "gA", Self.macA), ("vB", "gB", Self.macB)] {
            _ = try ns.ip("link", "add", port, "type", "veth", "peer", "name", guest)
            _ = try ns.ip("link", "set", guest, "address", mac.description)
            _ = try ns.ip("link", "set", port, "master", "br0")
            _ = try ns.ip("link", "set", port, "up")
            _ = try ns.ip("link", "set", guest, "up")
        }
        _ = try ns.ip("link", "set", "br0", "up")
        let filters = [
            PortFilter(tap: "vA", mac: Self.macA, ipv4: [IPAddress("10.0.0.10")!], ipv6: [IPAddress("2001:db8::a")!]),
            PortFilter(tap: "vB", mac: Self.macB, ipv4: [IPAddress("10.0.0.11")!], ipv6: [IPAddress("2001:db8::b")!],
                       ipv6Ranges: [[IPAddress("2001:db8::100")!, IPAddress("2001:db8::1ff")!]], dhcpv6Servers: [IPAddress("2001:db8::1")!]),
        ]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-pfnd-\(getpid()).nft").path
        try PortFilterRuleset.add(filters).write(toFile: file, atomically: true, encoding: .utf8)
        defer { unlink(file) }
        let installed = try ns.exec("nft", ["-f", file])
        try #require(installed.status == 0, "\(installed.stderr)")

        let hex = { (mac: MACAddress) in mac.bytes.map { String(format: "%02x", $0) }.joined() }
        let result = try ns.exec("python3", ["-c", Self.script, "gB", "gA", hex(Self.macA), hex(Self.macB)])
        try #require(result.status == 0, "\(result.stderr)")
        let arrived = Set(result.stdout.split(whereSeparator: \.isWhitespace).map(String.init))
        #expect(arrived.contains("end"), "the marker frame never arrived: \(result.stdout)")
        let legitimate: Set = ["na-own", "na-own-link-local", "na-own-dhcpv6-lease", "ns-own", "slaac-dad-ns", "dhcpv6-solicit",
                               "dhcpv6-to-server", "end"]
        #expect(arrived == legitimate, "arrived at A: \(arrived.sorted()); expected only \(legitimate.sorted())")

        let listing = try ns.exec("nft", ["list", "table", "bridge", "qnet-filter"]).stdout
        for (comment, count) in [("neighbour advertisement for an address that is not the VM's", 2),
                                 ("NDP link-layer address is not the VM's MAC", 2),
                                 ("DHCPv6 request to an address that is not a server", 1),
                                 ("DHCPv6 to a server, not from the client port", 1),
                                 ("DHCPv6 server reply from a guest", 1),
                                 ("DHCPv6 message to a client from a guest", 1),
                                 ("router advertisement from a guest", 1),
                                 ("ICMPv6 redirect from a guest", 1)] {
            let dropped = PortFilterListing.dropped(listing, chain: "port-vB", comment: comment)
            #expect(dropped.map { $0 >= count } == true, "\(comment): \(dropped.map(String.init) ?? "no rule")")
        }
        // A's port dropped nothing of B's (the drops happened where B's frames came in).
        #expect(PortFilterListing.dropped(listing, chain: "port-vA", comment: "neighbour advertisement for an address that is not the VM's") == 0)
    }
}
