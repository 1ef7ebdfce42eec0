import Foundation
import GuestImage
import QNetTestSupport
import Testing

/// Three hosts, simulated by network namespaces joined by an underlay switch (a fourth
/// namespace holding a bridge; each host's `u0` is 192.0.2.N/24 on it), each with its own
/// qnet state directory and the same vxlan network `ov` (VNI 42). Host 1 is the DHCP host.
final class VXLANHosts {
    let underlay: TestNamespace
    let hosts: [TestNamespace]
    let states: [PrivateStateDirectory]
    static let network = "ov"
    static let subnet = "10.77.0.0/24"
    /// The segment's IPv6 /64 (`--ipv6`, the same on every host) and the DHCP host's ::1 in it.
    static let prefix6 = "fd77:42::/64"
    static let gateway6 = "fd77:42::1"

    /// The SLAAC address a guest with MAC 52:54:00:77:00:0N makes in `prefix6` (EUI-64).
    static func slaacAddress(_ number: Int) -> String { "fd77:42::5054:ff:fe77:\(number)" }

    init(_ label: String) throws {
        underlay = try TestNamespace("\(label)-ul")
        try underlay.ip("link", "add", "sw", "type", "bridge")
        try underlay.ip("link", "set", "sw", "up")
        var hosts: [TestNamespace] = []
        var states: [PrivateStateDirectory] = []
        for number in 1...3 {
            let host = try TestNamespace("\(label)-h\(number)")
            let created = try run("ip", ["link", "add", "u0", "netns", host.name, "type", "veth", "peer", "name", "p\(number)", "netns", underlay.name])
            guard created.status == 0 else { throw TestSupportError("veth: \(created.stderr)") }
            try underlay.ip("link", "set", "p\(number)", "master", "sw", "up")
            try host.ip("addr", "add", Self.underlayAddress(number) + "/24", "dev", "u0")
            try host.ip("link", "set", "u0", "up")
            hosts.append(host)
            states.append(try PrivateStateDirectory())
        }
        self.hosts = hosts
        self.states = states
    }

    static func underlayAddress(_ number: Int) -> String { "192.0.2.\(number)" }
    /// Host `number`'s address on an IPv6 underlay (`createAndStart(ipv6Underlay: true)`).
    static func underlayAddress6(_ number: Int) -> String { "2001:db8::\(number)" }

    /// `qnet --netns HOST --state-dir STATE ARGS...` on host `number` (1-based).
    func qnet(_ number: Int, _ arguments: [String]) throws -> CommandResult {
        try QNetCommandsTests.qnet(["--netns", hosts[number - 1].name, "--state-dir", states[number - 1].path] + arguments)
    }

    /// Creates and starts `ov` on every host; each host's peers are the other two (static flood
    /// entries, or with `evpn` its BGP neighbours in AS 65042). With `ipv6Underlay`, each `u0`
    /// also gets 2001:db8::N/64 and the tunnels run between those. Returns what each create printed.
    @discardableResult
    func createAndStart(evpn: Bool = false, ipv6Underlay: Bool = false, extra: (Int) -> [String] = { _ in [] }) throws -> [String] {
        let address = ipv6Underlay ? Self.underlayAddress6 : Self.underlayAddress
        if ipv6Underlay {
            // nodad: usable at once (no duplicate address detection delay).
            for number in 1...3 { try hosts[number - 1].ip("addr", "add", "\(address(number))/64", "dev", "u0", "nodad") }
        }
        var printed: [String] = []
        for number in 1...3 {
            let peers = (1...3).filter { $0 != number }.map(address).joined(separator: ",")
            let control = evpn ? ["--control-plane", "evpn", "--asn", "65042", "--bgp-peers", peers] : ["--peers", peers]
            var arguments = ["net", "create", Self.network, "--mode", "vxlan", "--vni", "42", "--underlay",
                             number == 2 || ipv6Underlay ? address(number) : "u0", "--subnet", Self.subnet] + control
            if number == 1 { arguments.append("--dhcp-host") }
            let created = try qnet(number, arguments + extra(number))
            guard created.status == 0 else { throw TestSupportError("net create on host \(number): \(created.stderr)") }
            printed.append(created.stdout)
            let started = try qnet(number, ["net", "start", Self.network])
            guard started.status == 0 else { throw TestSupportError("net start on host \(number): \(started.stderr)") }
        }
        return printed
    }

    /// Stops and deletes `ov` everywhere; returns the hosts whose namespace still holds more than
    /// `lo` and `u0` afterwards.
    func stopAndCheckClean() throws -> [String] {
        var leftovers: [String] = []
        for number in 1...3 {
            _ = try qnet(number, ["net", "stop", Self.network, "--force"])
            _ = try qnet(number, ["net", "delete", Self.network])
            let names = try hosts[number - 1].linkNames()
            if names != ["lo", "u0"] { leftovers.append("host \(number): \(names.sorted())") }
        }
        return leftovers
    }

    /// Processes running in host `number`'s namespace (`ip netns pids`), by command name.
    func processes(in number: Int) throws -> [String] {
        try run("ip", ["netns", "pids", hosts[number - 1].name]).stdout.split(separator: "\n").compactMap { pid in
            (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// `bridge -j fdb show dev qx-ov` in host `number`'s namespace.
    func vxlanFDB(_ number: Int) throws -> [[String: Any]] {
        let fdb = try run("bridge", ["-n", hosts[number - 1].name, "-j", "fdb", "show", "dev", "qx-ov"])
        return try JSONSerialization.jsonObject(with: Data(fdb.stdout.utf8)) as? [[String: Any]] ?? []
    }

    /// Whether host `number`'s VXLAN device learns nothing from traffic (`learning` off, `ip -d -j link`).
    func learningOff(_ number: Int) throws -> Bool {
        let device = try hosts[number - 1].link("qx-ov")
        return ((device?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])?["learning"] as? Bool == false
    }

    /// Polls host `number`'s VXLAN FDB until it holds, for every other host, that host's MAC in
    /// `macs` (index = host - 1) towards its underlay address with the `extern_learn` flag: put
    /// there by zebra from a BGP type-2 route. False when that does not happen within `timeout`.
    func learnsRemoteMACsFromBGP(_ number: Int, macs: [String], timeout: Double = 20) -> Bool {
        waitUntil(timeout: timeout, interval: 0.2) {
            let fdb = (try? vxlanFDB(number)) ?? []
            return (1...3).filter { $0 != number }.allSatisfy { other in
                fdb.contains { entry in
                    entry["mac"] as? String == macs[other - 1] && entry["dst"] as? String == Self.underlayAddress(other)
                        && (entry["flags"] as? [String] ?? []).contains("extern_learn")
                }
            }
        }
    }

    /// BGP sessions established in host `number`'s namespace, by the kernel's TCP table
    /// (`ss state established` on port 179), not by asking FRR.
    func establishedBGPSessions(_ number: Int) throws -> Int {
        let result = try hosts[number - 1].exec("ss", ["-Htn", "state", "established", "( sport = :179 or dport = :179 )"])
        return result.stdout.split(separator: "\n").count
    }

    /// `ping` inside host `number` with extra arguments; true when a reply came back.
    func ping(from number: Int, _ target: String, _ extra: [String] = []) throws -> Bool {
        try hosts[number - 1].exec("ping", ["-c", "1", "-W", "1"] + extra + [target]).status == 0
    }

    /// Polls `ping` for up to `timeout` seconds (the bridges learn, ARP resolves).
    func reaches(from number: Int, _ target: String, _ extra: [String] = [], timeout: Double = 10) throws -> Bool {
        try waitUntil(timeout: timeout, interval: 0.2) { try ping(from: number, target, extra) }
    }

    /// FRR's answer to `command` in host `number`'s namespace, asked with vtysh over the vty
    /// sockets the running zebra names on its command line (`--vty_socket DIR`), not through qnet.
    func vtysh(_ number: Int, _ command: String) throws -> String {
        for pid in try run("ip", ["netns", "pids", hosts[number - 1].name]).stdout.split(separator: "\n") {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard words.first?.hasSuffix("zebra") == true, let index = words.firstIndex(of: "--vty_socket"), index + 1 < words.count else { continue }
            return try run("vtysh", ["--vty_socket", words[index + 1], "-c", command]).stdout
        }
        throw TestSupportError("no zebra runs in host \(number)'s namespace")
    }

    deinit {
        for number in 1...3 {
            _ = try? qnet(number, ["net", "stop", Self.network, "--force"])
        }
    }
}

/// `--mode vxlan` end to end on the host side (tier 3): kernel state through `ip -d -j` and
/// `bridge -j fdb`, packets between the hosts' bridges.
@Suite(.serialized, Privileged.enabled)
struct CLIVXLANTests {
    @Test(.timeLimit(.minutes(15)))
    func threeHostsShareOneSegment() throws {
        let hostLinksBefore = try hostLinkNames()
        let setup = try VXLANHosts("vx")
        try setup.createAndStart()

        // The kernel's view: a VXLAN device on the bridge, learning off, VNI/port/local/dev as asked,
        // bridge and device MTU 1450 (1500 - 50 for the IPv4 underlay).
        let host2 = setup.hosts[1]
        let device = try #require(try host2.link("qx-ov"))
        let info = try #require((device["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        #expect(info["id"] as? Int == 42)
        #expect(info["port"] as? Int == 4789)
        #expect(info["local"] as? String == "192.0.2.2")
        #expect(info["link"] as? String == "u0")
        #expect(info["learning"] as? Bool == false)
        #expect(device["master"] as? String == "qn-ov")
        #expect(device["mtu"] as? Int == 1450)
        #expect(try host2.link("qn-ov")?["mtu"] as? Int == 1450)
        // One all-zero (flood) entry per peer: head-end replication.
        let fdb = try run("bridge", ["-n", host2.name, "-j", "fdb", "show", "dev", "qx-ov"])
        let entries = try JSONSerialization.jsonObject(with: Data(fdb.stdout.utf8)) as? [[String: Any]] ?? []
        let floods = entries.filter { $0["mac"] as? String == "00:00:00:00:00:00" }.compactMap { $0["dst"] as? String }
        #expect(Set(floods) == ["192.0.2.1", "192.0.2.3"])
        // Only the DHCP host's bridge has an address, and only it runs dnsmasq.
        #expect(try setup.hosts[0].ip("-4", "-o", "addr", "show", "dev", "qn-ov").contains("10.77.0.1/24"))
        #expect(try host2.ip("-4", "-o", "addr", "show", "dev", "qn-ov").isEmpty)

        // net show: peers with their FDB entries.
        let shown = try setup.qnet(2, ["net", "show", "ov"])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.stdout.contains("peer:     192.0.2.1: fdb 00:00:00:00:00:00"), "\(shown.stdout)")
        #expect(shown.stdout.contains("mtu:      1450"), "\(shown.stdout)")

        // Host-side endpoints on hosts 2 and 3 (test addresses on their bridges).
        try host2.ip("addr", "add", "10.77.0.2/24", "dev", "qn-ov")
        try setup.hosts[2].ip("addr", "add", "10.77.0.3/24", "dev", "qn-ov")
        #expect(try setup.reaches(from: 1, "10.77.0.2"))
        #expect(try setup.reaches(from: 2, "10.77.0.3"))
        // MTU end to end: with DF, 1422 bytes of ICMP payload (1450 on the wire) pass, 1423 do not.
        #expect(try setup.ping(from: 1, "10.77.0.3", ["-M", "do", "-s", "1422"]))
        #expect(try !setup.ping(from: 1, "10.77.0.3", ["-M", "do", "-s", "1423"]))

        // Removing host 3 from host 2's peers stops host 2's traffic to it (and its flood entry goes).
        let removed = try setup.qnet(2, ["net", "peer", "remove", "ov", "192.0.2.3"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(try host2.ip("neigh", "flush", "dev", "qn-ov").isEmpty)
        let after = try run("bridge", ["-n", host2.name, "fdb", "show", "dev", "qx-ov"]).stdout
        #expect(!after.contains("dst 192.0.2.3"), "\(after)")
        #expect(try !setup.ping(from: 2, "10.77.0.3"))
        #expect(try !setup.ping(from: 2, "10.77.0.3"))
        #expect(try setup.ping(from: 2, "10.77.0.1"))
        // A bad peer is one line, exit 2; adding it back restores the traffic.
        let bad = try setup.qnet(2, ["net", "peer", "remove", "ov", "192.0.2.9"])
        #expect(bad.status == 2 && bad.stderr.split(separator: "\n").count == 1, "\(bad.stderr)")
        #expect(try setup.qnet(2, ["net", "peer", "add", "ov", "192.0.2.3"]).status == 0)
        #expect(try setup.reaches(from: 2, "10.77.0.3"))

        #expect(try setup.stopAndCheckClean().isEmpty)
        #expect(try hostLinkNames() == hostLinksBefore)
    }

    /// An IPv6 underlay (tier 3): the tunnel runs between 2001:db8::N, the bridge and device MTU is
    /// 1500 - 70 = 1430, and a ping with DF at the largest size (1402 bytes of ICMP payload) passes
    /// end to end while one byte more does not.
    @Test(.timeLimit(.minutes(15)))
    func ipv6UnderlayCarriesTheSegmentAt1430() throws {
        let setup = try VXLANHosts("v6")
        for printed in try setup.createAndStart(ipv6Underlay: true) {
            #expect(printed.contains("MTU 1430"), "\(printed)")
        }
        let device = try #require(try setup.hosts[1].link("qx-ov"))
        let info = try #require((device["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        #expect(info["local6"] as? String == "2001:db8::2" || info["local"] as? String == "2001:db8::2", "\(info)")
        #expect(device["mtu"] as? Int == 1430)
        #expect(try setup.hosts[1].link("qn-ov")?["mtu"] as? Int == 1430)
        let floods = try setup.vxlanFDB(2).filter { $0["mac"] as? String == "00:00:00:00:00:00" }.compactMap { $0["dst"] as? String }
        #expect(Set(floods) == ["2001:db8::1", "2001:db8::3"])
        try setup.hosts[1].ip("addr", "add", "10.77.0.2/24", "dev", "qn-ov")
        try setup.hosts[2].ip("addr", "add", "10.77.0.3/24", "dev", "qn-ov")
        #expect(try setup.reaches(from: 1, "10.77.0.3"))
        #expect(try setup.reaches(from: 2, "10.77.0.3"))
        // 1402 bytes of ICMP payload + 8 ICMP + 20 IPv4 = 1430 on the overlay; 1430 + 70 = 1500 on the underlay.
        #expect(try setup.ping(from: 1, "10.77.0.3", ["-M", "do", "-s", "1402"]))
        #expect(try !setup.ping(from: 1, "10.77.0.3", ["-M", "do", "-s", "1403"]))
        #expect(try setup.stopAndCheckClean().isEmpty)
    }

    /// IPv6 on the overlay (tier 3): `--ipv6 fd77:42::/64` on every host. The DHCP host's bridge
    /// holds ::1 and its dnsmasq advertises the prefix with the overlay's MTU across the tunnels;
    /// the other hosts' bridges take no address from it. Endpoints on hosts 2 and 3 (a veth into
    /// `qn-ov` at MTU 1500, its other end in a namespace of its own, as a guest without DHCPv4
    /// would be) make SLAAC addresses, their IPv6 MTU drops to the overlay's (1450 over an IPv4
    /// underlay, 1430 over IPv6) from the advertisement while the link stays at 1500, and IPv6
    /// crosses the tunnels at exactly that size.
    @Test(.timeLimit(.minutes(15)), arguments: [false, true])
    func ipv6SegmentIsAdvertisedFromTheDHCPHost(ipv6Underlay: Bool) throws {
        let mtu = ipv6Underlay ? 1430 : 1450
        let setup = try VXLANHosts(ipv6Underlay ? "vu6" : "vo6")
        try setup.createAndStart(ipv6Underlay: ipv6Underlay, extra: { _ in ["--ipv6", VXLANHosts.prefix6] })
        #expect(try setup.hosts[0].ip("-6", "-o", "addr", "show", "dev", "qn-ov", "scope", "global").contains("\(VXLANHosts.gateway6)/64"))
        var endpoints: [TestNamespace] = []
        defer { endpoints.forEach { $0.remove() } }
        for number in 2...3 {
            let endpoint = try TestNamespace("\(ipv6Underlay ? "vu6" : "vo6")-e\(number)")
            endpoints.append(endpoint)
            let created = try run("ip", ["link", "add", "e0", "netns", endpoint.name, "type", "veth", "peer", "name", "ge", "netns", setup.hosts[number - 1].name])
            #expect(created.status == 0, "\(created.stderr)")
            try setup.hosts[number - 1].ip("link", "set", "ge", "master", "qn-ov", "up")
            try endpoint.ip("link", "set", "e0", "up")
        }
        func slaac(_ endpoint: TestNamespace) -> String? {
            let shown = (try? endpoint.ip("-6", "-o", "addr", "show", "dev", "e0", "scope", "global")) ?? ""
            guard shown.contains("fd77:42:"), !shown.contains("tentative") else { return nil }
            return shown.split(separator: " ").first { $0.hasPrefix("fd77:42:") }.map { String($0.split(separator: "/")[0]) }
        }
        var addresses: [String] = []
        for endpoint in endpoints {
            #expect(waitUntil(timeout: 30, interval: 0.2) { slaac(endpoint) != nil }, "\(endpoint.name): no SLAAC address from the DHCP host's advertisements")
            addresses.append(slaac(endpoint) ?? "-")
            // The advertisement's MTU option, not the link's: the witness that the RA carries it.
            #expect(try endpoint.exec("sysctl", ["-n", "net.ipv6.conf.e0.mtu"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(mtu)")
            #expect(try endpoint.link("e0")?["mtu"] as? Int == 1500)
        }
        // The advertisements reached hosts 2 and 3 too: their bridges still have no address of the prefix.
        for number in 2...3 {
            let global = try setup.hosts[number - 1].ip("-6", "-o", "addr", "show", "dev", "qn-ov", "scope", "global")
            #expect(global.isEmpty, "host \(number): \(global)")
        }
        func ping6(_ endpoint: TestNamespace, _ target: String, _ extra: [String] = []) -> Bool {
            (try? endpoint.exec("ping", ["-6", "-c", "1", "-W", "1"] + extra + [target]).status) == 0
        }
        #expect(waitUntil(timeout: 10, interval: 0.2) { ping6(endpoints[1], VXLANHosts.gateway6) }, "host 3 to host 1's bridge")
        #expect(waitUntil(timeout: 10, interval: 0.2) { ping6(endpoints[1], addresses[0]) }, "host 3 to host 2's endpoint")
        // The largest ICMPv6 payload (MTU - 8 - 40) passes with DF; one byte more is refused by the
        // endpoint's own stack (its IPv6 MTU came from the advertisement).
        #expect(ping6(endpoints[1], addresses[0], ["-M", "do", "-s", "\(mtu - 48)"]))
        #expect(!ping6(endpoints[1], addresses[0], ["-M", "do", "-s", "\(mtu - 47)"]))

        for number in 1...3 {
            let shown = try setup.qnet(number, ["net", "show", "ov", "--json"])
            let report = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
            #expect(report?["ipv6Prefix"] as? String == VXLANHosts.prefix6, "host \(number): \(shown.stdout)\(shown.stderr)")
        }
        endpoints.forEach { $0.remove() }
        #expect(try setup.stopAndCheckClean().isEmpty)
    }

    /// `--control-plane evpn` (tier 3): FRR's zebra and bgpd per host, iBGP sessions between the
    /// three, endpoints on the bridges (a veth per host into `qn-ov`, its other end in a namespace
    /// of its own) reaching each other, and the remote endpoints' MACs in each VXLAN device's FDB
    /// from BGP: `extern_learn` (zebra put them there) on a device with learning off.
    @Test(.timeLimit(.minutes(15)))
    func evpnLearnsRemoteMACsFromBGP() throws {
        let hostLinksBefore = try hostLinkNames()
        let setup = try VXLANHosts("ve")
        try setup.createAndStart(evpn: true)
        for number in 1...3 {
            #expect(Set(try setup.processes(in: number)).isSuperset(of: ["zebra", "bgpd"]), "host \(number)")
        }
        // Each host has a session with each of the other two (the kernel's TCP table says so).
        #expect(waitUntil(timeout: 60, interval: 0.5) { (1...3).allSatisfy { (try? setup.establishedBGPSessions($0)) == 2 } })

        var endpoints: [TestNamespace] = []
        var macs: [String] = []
        for number in 1...3 {
            let endpoint = try TestNamespace("ve-e\(number)")
            let created = try run("ip", ["link", "add", "e0", "netns", endpoint.name, "type", "veth", "peer", "name", "ge", "netns", setup.hosts[number - 1].name])
            #expect(created.status == 0, "\(created.stderr)")
            try setup.hosts[number - 1].ip("link", "set", "ge", "master", "qn-ov", "up")
            try endpoint.ip("addr", "add", "10.77.0.1\(number)/24", "dev", "e0")
            try endpoint.ip("link", "set", "e0", "mtu", "1450", "up")
            macs.append(try #require(try endpoint.link("e0")?["address"] as? String))
            endpoints.append(endpoint)
        }
        defer { endpoints.forEach { $0.remove() } }
        func reaches(_ from: Int, _ to: Int) -> Bool {
            waitUntil(timeout: 20, interval: 0.2) { (try? endpoints[from - 1].exec("ping", ["-c", "1", "-W", "1", "10.77.0.1\(to)"]).status) == 0 }
        }
        #expect(reaches(1, 2))
        #expect(reaches(1, 3))
        #expect(reaches(2, 3))
        // The gateway on host 1's bridge answers from host 3 (ARP flooded by type-3 routes).
        #expect(waitUntil(timeout: 20, interval: 0.2) { (try? endpoints[2].exec("ping", ["-c", "1", "-W", "1", "10.77.0.1"]).status) == 0 })

        for number in 1...3 {
            #expect(try setup.learningOff(number), "host \(number)")
            // Every other endpoint's MAC, towards its host, installed by zebra (extern_learn).
            let learnt = setup.learnsRemoteMACsFromBGP(number, macs: macs)
            let fdb = try setup.vxlanFDB(number)
            #expect(learnt, "host \(number): \(fdb)")
            // The flood list is the peers' type-3 routes: one all-zero entry per other host, no more.
            let floods = fdb.filter { $0["mac"] as? String == "00:00:00:00:00:00" }.compactMap { $0["dst"] as? String }
            #expect(floods.sorted() == (1...3).filter { $0 != number }.map(VXLANHosts.underlayAddress), "host \(number): \(fdb)")
        }

        // net show: both sessions Established, routes received, the remote MACs with extern_learn.
        let shown = try setup.qnet(1, ["net", "show", "ov", "--json"])
        #expect(shown.status == 0, "\(shown.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
        let vxlan = report?["vxlan"] as? [String: Any]
        #expect(vxlan?["controlPlane"] as? String == "evpn")
        let evpn = vxlan?["evpn"] as? [String: Any]
        let sessions = evpn?["sessions"] as? [[String: Any]] ?? []
        #expect(sessions.count == 2 && sessions.allSatisfy { $0["state"] as? String == "Established" }, "\(shown.stdout)")
        #expect((evpn?["routesReceived"] as? Int ?? 0) >= 4, "\(shown.stdout)")
        #expect((evpn?["remoteMACs"] as? Int ?? 0) >= 2, "\(shown.stdout)")
        let peers = vxlan?["peers"] as? [[String: Any]] ?? []
        #expect(peers.contains { ($0["externLearned"] as? [String] ?? []).contains(macs[1]) }, "\(shown.stdout)")
        let text = try setup.qnet(1, ["net", "show", "ov"]).stdout
        #expect(text.contains("bgp:      192.0.2.2 Established"), "\(text)")
        // An evpn network's peers are its BGP neighbours (CLIEVPNSharedTests changes them at
        // runtime); the host's own address is refused: one line, exit 2.
        let refused = try setup.qnet(1, ["net", "peer", "add", "ov", "192.0.2.1"])
        #expect(refused.status == 2 && refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")

        endpoints.forEach { $0.remove() }
        #expect(try setup.stopAndCheckClean().isEmpty)
        for number in 1...3 {
            let left = try setup.processes(in: number)
            #expect(left.isEmpty, "host \(number): \(left)")
        }
        #expect(try hostLinkNames() == hostLinksBefore)
    }

    /// `--ipv6 auto` on the DHCP host picks a unique local /64 and prints it; another host takes
    /// that prefix as given (and is refused `auto`, see `badInput`).
    @Test func ipv6AutoOnTheDHCPHostPrintsThePrefixForTheOthers() throws {
        let setup = try VXLANHosts("vxa6")
        let created = try setup.qnet(1, ["net", "create", "ov", "--mode", "vxlan", "--vni", "5", "--underlay", "u0", "--dhcp-host", "--ipv6", "auto"])
        #expect(created.status == 0, "\(created.stderr)")
        let shown = try setup.qnet(1, ["net", "show", "ov", "--json"])
        let prefix = try #require((try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])?["ipv6Prefix"] as? String)
        #expect(prefix.hasPrefix("fd") && prefix.hasSuffix("::/64") && created.stdout.contains("IPv6 \(prefix)"), "\(created.stdout)")
        let other = try setup.qnet(2, ["net", "create", "ov", "--mode", "vxlan", "--vni", "5", "--underlay", "u0", "--ipv6", prefix])
        #expect(other.status == 0 && other.stdout.contains("IPv6 \(prefix)"), "\(other.stdout)\(other.stderr)")
        for number in 1...2 { _ = try setup.qnet(number, ["net", "delete", "ov"]) }
    }

    @Test("bad vxlan input: one line naming the value, exit 2, nothing defined")
    func badInput() throws {
        let setup = try VXLANHosts("vxbad")
        for (arguments, needle) in [
            (["--vni", "0", "--underlay", "u0"], "'0'"),
            (["--vni", "16777216", "--underlay", "u0"], "'16777216'"),
            (["--vni", "5", "--underlay", "nosuch0"], "'nosuch0'"),
            (["--vni", "5", "--underlay", "u0", "--peers", "192.0.2.1"], "'192.0.2.1'"),
            (["--vni", "5", "--underlay", "u0", "--peers", "2001:db8::1"], "'2001:db8::1'"),
            (["--vni", "5"], "--underlay"),
            (["--vni", "5", "--underlay", "u0", "--ipv6", "auto"], "--ipv6"),
            (["--vni", "5", "--underlay", "u0", "--ipv6", "fd77:42::/48"], "fd77:42::/48"),
            (["--vni", "5", "--underlay", "u0", "--ipv6", "fd77:42::/64", "--ipv6-nat", "off"], "--ipv6-nat"),
            (["--vni", "5", "--underlay", "u0", "--control-plane", "bgp"], "'bgp'"),
            (["--vni", "5", "--underlay", "u0", "--control-plane", "evpn", "--bgp-peers", "192.0.2.2"], "--asn"),
            (["--vni", "5", "--underlay", "u0", "--control-plane", "evpn", "--asn", "1", "--bgp-peers", "192.0.2.1"], "'192.0.2.1'"),
            (["--vni", "5", "--underlay", "u0", "--control-plane", "evpn", "--asn", "1", "--bgp-peers", "192.0.2.2", "--peers", "192.0.2.3"], "--peers"),
        ] {
            let result = try setup.qnet(1, ["net", "create", "ov", "--mode", "vxlan"] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains(needle), "\(arguments): \(result.stderr)")
            #expect(try setup.qnet(1, ["net", "list"]).stdout.contains("ov") == false)
        }
    }
}

/// `--mode vxlan` with real guests (tier 4): one micro-VM per host, booted in parallel under TCG;
/// each leases its address from host 1's dnsmasq (a static lease per MAC, so the others know it)
/// and pings the other two across the tunnels. The segment is dual-stack (`--ipv6` on every
/// host): each guest also makes its SLAAC address from host 1's advertisements (their MTU
/// option is its IPv6 MTU), leases a DHCPv6 address, and pings host 1's ::1 and the other two
/// guests' SLAAC addresses.
@Suite(.serialized, Privileged.enabled)
struct CLIVXLANGuestTests {
    @Test(.timeLimit(.minutes(15)))
    func guestsOnThreeHostsLeaseFromOneAndPingEachOther() throws {
        try Self.guestsLeaseFromOneAndPingEachOther(label: "vxg", evpn: false)
    }

    /// The same with `--control-plane evpn`: the FRR sessions are up before the guests boot, and
    /// afterwards every guest's MAC is in the other hosts' VXLAN FDB from BGP (`extern_learn`,
    /// learning off), and no zebra or bgpd is left after stop.
    @Test(.timeLimit(.minutes(15)))
    func evpnGuestsOnThreeHostsLeaseFromOneAndPingEachOther() throws {
        try Self.guestsLeaseFromOneAndPingEachOther(label: "veg", evpn: true)
    }

    /// Whether FRR's `show evpn arp-cache vni N json` holds a remote entry for an address
    /// starting with `prefix` with that MAC (the JSON is keyed by IP address).
    static func cacheHasRemoteIPv6(_ json: String, mac: String, prefix: String) -> Bool {
        guard let cache = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return false }
        return cache.contains { key, value in
            let entry = value as? [String: Any]
            return key.hasPrefix(prefix) && entry?["mac"] as? String == mac && entry?["type"] as? String == "remote"
        }
    }

    static func guestsLeaseFromOneAndPingEachOther(label: String, evpn: Bool) throws {
        let image = try GuestImageBuilder().cached(in: NSTemporaryDirectory() + "qnet-guest-test-cache").image
        let setup = try VXLANHosts(label)
        try setup.createAndStart(evpn: evpn, extra: { _ in ["--ipv6", VXLANHosts.prefix6] })
        if evpn {
            // Each host's two sessions Established (the kernel's TCP table), before any guest boots.
            #expect(waitUntil(timeout: 60, interval: 0.5) { (1...3).allSatisfy { (try? setup.establishedBGPSessions($0)) == 2 } })
        }
        let macs = (1...3).map { "52:54:00:77:00:0\($0)" }
        let addresses = (1...3).map { "10.77.0.\(10 + $0)" }
        for number in 1...3 {
            let lease = try setup.qnet(1, ["net", "lease", "add", "ov", macs[number - 1], addresses[number - 1]])
            #expect(lease.status == 0, "\(lease.stderr)")
        }
        let addresses6 = (1...3).map(VXLANHosts.slaacAddress)
        for number in 1...3 {
            let targets = addresses.enumerated().filter { $0.offset != number - 1 }.map(\.element).joined(separator: ",")
            let targets6 = addresses6.enumerated().filter { $0.offset != number - 1 }.map(\.element).joined(separator: ",")
            let started = try setup.qnet(number, [
                "vm", "run", "g\(number)", "--memory", "128", "--accel", "tcg", "--nic", "network=ov,mac=\(macs[number - 1])",
                "--kernel", image.kernel, "--initrd", image.initramfs,
                "--append", "console=ttyS0 quiet qnet.mode=serve qnet.gw=none qnet.timeout=240 qnet.targets=\(targets) "
                    + "qnet.ipv6=1 qnet.gw6=\(VXLANHosts.gateway6) qnet.targets6=\(targets6)"])
            #expect(started.status == 0, "host \(number): \(started.stderr)")
        }
        defer { for number in 1...3 { _ = try? setup.qnet(number, ["vm", "kill", "g\(number)"]) } }
        var consoles: [String] = ["", "", ""]
        // Serve mode: each guest runs its steps (lease, pings), says `QNET ready` and stays up
        // answering pings, so a slow guest still finds the others. Read from the console logs.
        let finished = waitUntil(timeout: 300, interval: 1) {
            for number in 1...3 {
                let log = "\(setup.states[number - 1].path)/run/vms/g\(number)/console.log"
                consoles[number - 1] = FileManager.default.contents(atPath: log).map { String(decoding: $0, as: UTF8.self) } ?? ""
            }
            // `QNET ready` comes before the ping steps in serve mode: wait for every ping step's
            // line (ok or not) too.
            return consoles.enumerated().allSatisfy { number, console in
                console.contains("QNET ready")
                    && (addresses + addresses6).enumerated().allSatisfy { $0.offset % 3 == number || console.contains("target=\($0.element) ") }
            }
        }
        #expect(finished, "\(consoles)")
        /// The guest's report line of `step` (towards `target`), from its console.
        func line(_ console: String, _ step: String, target: String? = nil) -> String {
            console.split(separator: "\n").last { report in
                report.contains("step=\(step) ") && (target.map { report.contains("target=\($0) ") } ?? true)
            }.map(String.init) ?? ""
        }
        for number in 1...3 {
            let console = consoles[number - 1]
            #expect(!console.contains(" ok=0 "), "host \(number): \(console)")
            for (index, target) in addresses.enumerated() where index != number - 1 {
                #expect(console.contains("step=ping ok=1") && console.contains("detail=reply from \(target)"), "host \(number): \(console)")
            }
            #expect(console.contains("addr=\(addresses[number - 1])/24"), "host \(number): \(console)")
            #expect(console.contains("server=10.77.0.1"), "host \(number): \(console)")
            // IPv6 from host 1 across the tunnels: the SLAAC address (EUI-64 in the prefix), the
            // advertisement's MTU as the interface's IPv6 MTU, a DHCPv6 lease, ::1 and the others reached.
            let slaac = line(console, "slaac")
            #expect(slaac.contains(" ok=1 ") && slaac.contains("addr=\(addresses6[number - 1])/64") && slaac.contains("mtu6=1450"),
                    "host \(number): \(slaac)")
            #expect(line(console, "dhcp6").contains(" ok=1 "), "host \(number): \(line(console, "dhcp6"))")
            #expect(line(console, "gateway6").contains(" ok=1 "), "host \(number): \(line(console, "gateway6"))")
            for (index, target) in addresses6.enumerated() where index != number - 1 {
                let ping6 = line(console, "ping6", target: target)
                #expect(ping6.contains(" ok=1 ") && ping6.contains("reply from \(target)"), "host \(number): \(ping6)")
            }
        }
        if evpn {
            for number in 1...3 {
                #expect(try setup.learningOff(number), "host \(number)")
                // The other guests' MACs towards their hosts, installed by zebra from type-2 routes.
                let learnt = setup.learnsRemoteMACsFromBGP(number, macs: macs)
                let fdb = try setup.vxlanFDB(number)
                #expect(learnt, "host \(number): \(fdb)")
                let shown = try setup.qnet(number, ["net", "show", "ov"]).stdout
                #expect(shown.components(separatedBy: " Established, ").count == 3, "host \(number): \(shown)")
            }
            // Type-2 routes carry IPv6 too: guest 1's IPv6 neighbour entry on host 1's bridge (it
            // pinged ::1) reaches hosts 2 and 3 as a remote MAC+IP entry in FRR's ARP/ND cache.
            for number in 2...3 {
                var cache = ""
                let learnt = waitUntil(timeout: 20, interval: 0.5) {
                    cache = (try? setup.vtysh(number, "show evpn arp-cache vni 42 json")) ?? ""
                    return Self.cacheHasRemoteIPv6(cache, mac: macs[0], prefix: "fd77:42:")
                }
                #expect(learnt, "host \(number): \(cache)")
            }
        }
        for number in 1...3 { _ = try setup.qnet(number, ["vm", "kill", "g\(number)"]) }
        #expect(try setup.stopAndCheckClean().isEmpty)
        for number in 1...3 {
            let left = try setup.processes(in: number)
            #expect(left.isEmpty, "host \(number): \(left)")
        }
    }
}
