import Foundation
import GuestImage
import HostNetwork
import Netlink
import QNetTestSupport
import QNetTypes
import Testing
@testable import VirtualMachines

/// A namespace acting as the host (qnet runs here) plus an "outside" namespace reachable
/// only through the host's up0 — with no route back to any guest subnet.
struct NetworkFixture {
    let ns: TestNamespace
    let outside: TestNamespace
    let host: HostNetwork
    let networks: NetworkManager
    let vms: VMManager

    init(_ label: String) throws {
        _ = VMTestState.directory
        ns = try TestNamespace(label)
        outside = try TestNamespace(label + "o")
        try ns.ip("link", "add", "up0", "type", "veth", "peer", "name", "out0", "netns", outside.name)
        try ns.ip("addr", "add", "203.0.113.1/24", "dev", "up0")
        try ns.ip("link", "set", "up0", "up")
        try outside.ip("addr", "add", "203.0.113.2/24", "dev", "out0")
        try outside.ip("link", "set", "out0", "up")
        host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        networks = NetworkManager(host: host)
        vms = VMManager(host: host, netns: ns.name, kvmRunsGuests: { _ in (false, "tests run under TCG") })
    }

    func vm(_ name: String, network: String, plan: ProbePlan) throws -> VMDefinition {
        var definition = try GuestFixture.definition(name, plan: plan)
        definition.nics = [NICSpec(network: network)]
        return definition
    }

    /// Everything `net start` may touch, for before/after comparisons.
    func hostFootprint() throws -> [String] {
        let tables = try ns.exec("nft", ["list", "tables"]).stdout
        let forward = try ns.exec("sysctl", ["-n", "net.ipv4.ip_forward"]).stdout
        // Only the dnsmasqs in this fixture's namespace: other suites run their own networks
        // under the same test state directory at the same time.
        let inNamespace = Set(try run("ip", ["netns", "pids", ns.name]).stdout.split(separator: "\n").map(String.init))
        let dnsmasqs = try run("pgrep", ["-f", "dnsmasq.*\(VMTestState.directory)"]).stdout
            .split(separator: "\n").map(String.init).filter(inNamespace.contains).joined(separator: "\n")
        return [try ns.stateSummary(), tables, forward, dnsmasqs]
    }
}

@Suite(.serialized, Privileged.enabled)
struct NetworkGuestTests {
    @Test(.timeLimit(.minutes(15)))
    func natGuestsGetLeasesResolveNamesAndReachOutsideThroughMasquerade() throws {
        let fixture = try NetworkFixture("nat")
        let before = try fixture.hostFootprint()
        let lab = try fixture.networks.create(NetworkDefinition(name: "labn", mode: .nat, bridge: "qn-labn", subnet: "10.77.0.0/24"))
        #expect(lab.dhcpStart == "10.77.0.100" && lab.dhcpEnd == "10.77.0.199")
        #expect(try fixture.networks.start("labn") == .started)
        #expect(try fixture.networks.start("labn") == .alreadyRunning)

        // A capture on the outside host: the guest's ping must arrive from the host's address.
        let capture = Process()
        capture.executableURL = URL(fileURLWithPath: try locate("ip"))
        capture.arguments = ["netns", "exec", fixture.outside.name, try locate("tcpdump"), "-n", "-l", "-i", "out0", "-c", "1", "icmp[icmptype] == icmp-echo"]
        let captured = Pipe()
        capture.standardOutput = captured
        capture.standardError = FileHandle.nullDevice
        try capture.run()
        defer { if capture.isRunning { capture.terminate() } }

        let alpha = try fixture.vms.run(try fixture.vm("alpha", network: "labn", plan: ProbePlan(
            mode: .serve, dnsName: "alpha.labn", stepTimeout: 30, hostname: "alpha")))
        defer { try? fixture.vms.kill("alpha") }
        let alphaReport = GuestFixture.follow(alpha, timeout: 120) { $0.isComplete || $0.ready != nil && $0.step("dns") != nil }
        let lease = try #require(alphaReport.step("address")?.fields["addr"])
        let leased = try #require(IPPrefix(lease))
        #expect(leased.length == 24)
        let last = Int(leased.address.bytes[3])
        #expect((100...199).contains(last), "lease \(lease) outside the range")
        #expect(alphaReport.step("dns")?.ok == true, "alpha resolves its own name: \(String(describing: alphaReport.step("dns")))")

        let beta = try fixture.vms.run(try fixture.vm("beta", network: "labn", plan: ProbePlan(
            mode: .probe, targets: ["203.0.113.2"], dnsName: "alpha.labn", stepTimeout: 30, hostname: "beta")))
        defer { try? fixture.vms.kill("beta") }
        let betaReport = GuestFixture.follow(beta, timeout: 120) { $0.isComplete }
        #expect(betaReport.ok, "\(betaReport.failedSteps)")
        #expect(betaReport.step("dns")?.fields["addrs"]?.contains(leased.address.description) == true)
        #expect(betaReport.step("ping", target: "203.0.113.2")?.ok == true)

        // The outside host saw the echo request from 203.0.113.1, not from 10.77.0.x.
        let seen = captured.fileHandleForReading.readDataToEndOfFile()
        capture.waitUntilExit()
        let line = String(decoding: seen, as: UTF8.self)
        #expect(line.contains("203.0.113.1 > 203.0.113.2"), "capture: \(line)")
        #expect(!line.contains("10.77.0."))

        try? fixture.vms.kill("alpha")
        try? fixture.vms.kill("beta")
        try fixture.networks.stop("labn")
        #expect(try fixture.hostFootprint() == before)
        try fixture.networks.delete("labn")
    }

    @Test(.timeLimit(.minutes(15)))
    func isolatedGuestsReachEachOtherButNotOutside() throws {
        let fixture = try NetworkFixture("iso")
        let before = try fixture.hostFootprint()
        _ = try fixture.networks.create(NetworkDefinition(name: "isol", mode: .isolated, bridge: "qn-isol", subnet: "10.78.0.0/24"))
        // A static lease for the server, keyed by the MAC qnet will derive for it.
        try fixture.networks.addLease("isol", mac: GuestMAC.derived(vm: "iso-a", nicIndex: 0).description, address: "10.78.0.50", hostname: nil)
        try fixture.networks.start("isol")
        let server = try fixture.vms.run(try fixture.vm("iso-a", network: "isol", plan: ProbePlan(mode: .serve)))
        defer { try? fixture.vms.kill("iso-a") }
        #expect(GuestFixture.follow(server, timeout: 120) { $0.ready != nil }.ready?.address == "10.78.0.50/24")
        let client = try fixture.vms.run(try fixture.vm("iso-b", network: "isol", plan: ProbePlan(
            mode: .probe, gateway: .none, targets: ["10.78.0.50", "203.0.113.2"], stepTimeout: 8)))
        defer { try? fixture.vms.kill("iso-b") }
        let report = GuestFixture.follow(client, timeout: 120) { $0.isComplete }
        #expect(report.step("ping", target: "10.78.0.50")?.ok == true)
        #expect(report.step("ping", target: "203.0.113.2")?.ok == false)
        // Deleting a network in use is refused and names the VM.
        do {
            try fixture.networks.delete("isol")
            Issue.record("a network in use was deleted")
        } catch {
            #expect(String(describing: error).contains("iso-a"))
        }
        try? fixture.vms.kill("iso-a")
        try? fixture.vms.kill("iso-b")
        try fixture.networks.stop("isol")
        #expect(try fixture.hostFootprint() == before)
    }

    @Test func startStopCyclesLeaveTheHostAsItWas() throws {
        let fixture = try NetworkFixture("cycle")
        let before = try fixture.hostFootprint()
        _ = try fixture.networks.create(NetworkDefinition(name: "cyc", mode: .nat, bridge: "qn-cyc"))
        _ = try fixture.networks.create(NetworkDefinition(name: "cyc2", mode: .isolated, bridge: "qn-cyc2"))
        for _ in 0..<3 {
            try fixture.networks.start("cyc")
            try fixture.networks.start("cyc2")
            #expect(try fixture.ns.link("qn-cyc") != nil)
            #expect(try fixture.ns.exec("nft", ["list", "table", "inet", "qnet"]).status == 0)
            #expect(try fixture.ns.exec("sysctl", ["-n", "net.ipv4.ip_forward"]).stdout.hasPrefix("1"))
            try fixture.networks.stop("cyc")
            // The isolated network keeps its rules; forwarding goes back once no NAT network runs.
            #expect(try fixture.ns.exec("nft", ["list", "table", "inet", "qnet"]).status == 0)
            #expect(try fixture.ns.exec("sysctl", ["-n", "net.ipv4.ip_forward"]).stdout.hasPrefix("0"))
            try fixture.networks.stop("cyc2")
            #expect(try fixture.hostFootprint() == before)
        }
        // Two networks cannot share a subnet; a subnet overlapping a host route is refused.
        #expect(throws: NetworkError.self) {
            try fixture.networks.create(NetworkDefinition(name: "cyc3", mode: .nat, bridge: "qn-cyc3",
                                                           subnet: try fixture.networks.load("cyc").subnet!))
        }
        #expect(throws: NetworkError.self) {
            try fixture.networks.create(NetworkDefinition(name: "cyc4", mode: .nat, bridge: "qn-cyc4", subnet: "203.0.113.0/24"))
        }
        try fixture.networks.delete("cyc")
        try fixture.networks.delete("cyc2")
    }
}

@Suite(.serialized, Privileged.enabled)
struct BridgeNetworkTests {
    /// Bridge mode wraps an existing bridge (left alone on stop) or makes one that takes
    /// over an uplink (given back on stop).
    @Test func bridgeNetworksWrapOrMakeTheirBridge() throws {
        let fixture = try NetworkFixture("brnet")
        try fixture.host.createBridge("br9")
        _ = try fixture.networks.create(NetworkDefinition(name: "wrap", mode: .bridge, bridge: "br9"))
        try fixture.networks.start("wrap")
        try fixture.networks.stop("wrap")
        #expect(try fixture.ns.link("br9") != nil, "an existing bridge survives stop")

        let before = try fixture.hostFootprint()
        _ = try fixture.networks.create(NetworkDefinition(name: "lan", mode: .bridge, bridge: "brl", uplink: "up0"))
        try fixture.networks.start("lan")
        #expect(try fixture.ns.link("up0")?["master"] as? String == "brl")
        let addresses = (try fixture.ns.json("addr", "show", "dev", "brl").first?["addr_info"] as? [[String: Any]]) ?? []
        #expect(addresses.contains { $0["local"] as? String == "203.0.113.1" })
        try fixture.networks.stop("lan")
        #expect(try fixture.hostFootprint() == before)
    }
}
