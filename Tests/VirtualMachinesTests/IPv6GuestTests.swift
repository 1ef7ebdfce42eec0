import Foundation
import GuestImage
import HostNetwork
import Netlink
import QNetTestSupport
import QNetTypes
import Testing
@testable import VirtualMachines

/// IPv6 on nat and isolated networks with real guests (tier 4, TCG): the micro-VM takes a
/// SLAAC address from dnsmasq's router advertisements and a DHCPv6 address (dhcpcd), pings
/// the bridge's ::1 and an "outside" namespace, and resolves another guest's AAAA record.
/// The outside's tcpdump is the witness for NAT66 (it sees the host's address) and for routed
/// IPv6 (it sees the guest's own). Each test has namespaces, networks and VMs of its own, so
/// the tests may run in parallel.
@Suite(Privileged.enabled)
struct IPv6GuestTests {
    /// The outside's IPv6 side: the host's up0 is 2001:db8:ff::1, the outside 2001:db8:ff::2.
    static func wireIPv6(_ fixture: NetworkFixture) throws {
        try fixture.ns.ip("-6", "addr", "add", "2001:db8:ff::1/64", "dev", "up0", "nodad")
        try fixture.outside.ip("-6", "addr", "add", "2001:db8:ff::2/64", "dev", "out0", "nodad")
    }

    /// tcpdump on the outside host for the first ICMPv6 echo request; `source()` waits for it.
    final class EchoCapture: @unchecked Sendable {
        let process = Process()
        let output = Pipe()

        init(_ outside: TestNamespace) throws {
            process.executableURL = URL(fileURLWithPath: try locate("ip"))
            process.arguments = ["netns", "exec", outside.name, try locate("tcpdump"), "-n", "-l", "-i", "out0", "-c", "1",
                                 "icmp6 and ip6[40] == 128"]
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        /// What tcpdump printed for the captured packet ("IP6 SRC > DST: ICMP6, echo request ...").
        func line() -> String {
            if process.isRunning { process.terminate() }
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }

        deinit { if process.isRunning { process.terminate() } }
    }

    func plan(_ mode: ProbePlan.Mode, hostname: String? = nil, dns: String? = nil, targets6: [String] = [],
              gateway6: ProbePlan.Gateway = .automatic) -> ProbePlan {
        var plan = ProbePlan(mode: mode, dnsName: dns, stepTimeout: 20, hostname: hostname)
        plan.ipv6 = true
        plan.targets6 = targets6
        plan.gateway6 = gateway6
        return plan
    }

    /// NAT66: SLAAC and DHCPv6 addresses from the prefix, the gateway and the outside reached,
    /// the outside sees the host's address, AAAA of another guest's name resolves; stop puts
    /// forwarding back.
    @Test(.timeLimit(.minutes(15)))
    func natGuestsGetBothAddressesAndReachOutsideMasqueraded() throws {
        let fixture = try NetworkFixture("n6")
        try Self.wireIPv6(fixture)
        let forwardingBefore = try fixture.ns.exec("sysctl", ["-n", "net.ipv6.conf.all.forwarding"]).stdout
        let network = try fixture.networks.create(NetworkDefinition(name: "six-n", mode: .nat, bridge: "qn-six-n", subnet: "10.79.0.0/24"),
                                                  ipv6: .auto)
        let prefix = try #require(network.ipv6Prefix.flatMap(IPPrefix.init))
        #expect(prefix.length == 64 && prefix.address.bytes[0] == 0xfd, "a unique local /64: \(prefix)")
        let ipv6 = IPv6Addressing(prefix: prefix)
        try fixture.networks.start("six-n")
        #expect(try fixture.ns.exec("sysctl", ["-n", "net.ipv6.conf.all.forwarding"]).stdout.hasPrefix("1"))
        let capture = try EchoCapture(fixture.outside)

        let alpha = try fixture.vms.run(try fixture.vm("six-alpha", network: "six-n", plan: plan(.serve, hostname: "alpha")))
        defer { try? fixture.vms.kill("six-alpha") }
        let ready = try #require(GuestFixture.follow(alpha, timeout: 120) { $0.ready != nil || $0.isComplete }.ready)
        let alphaSLAAC = try #require(ready.address6)
        #expect(prefix.contains(try #require(IPAddress(alphaSLAAC))))

        let beta = try fixture.vms.run(try fixture.vm("six-beta", network: "six-n", plan: plan(
            .probe, hostname: "beta", dns: "alpha.six-n", targets6: ["2001:db8:ff::2"], gateway6: .address(ipv6.gateway.description))))
        defer { try? fixture.vms.kill("six-beta") }
        let report = GuestFixture.follow(beta, timeout: 150) { $0.isComplete }
        #expect(report.ok, "\(report.failedSteps)")
        let slaac = try #require(report.step("slaac")?.fields["addr"].flatMap(IPPrefix.init))
        #expect(slaac.length == 64 && prefix.contains(slaac.address), "SLAAC address \(slaac) in \(prefix)")
        let leased = try #require(report.step("dhcp6")?.fields["addr"].flatMap(IPPrefix.init))
        let low = Int(leased.address.bytes[14]) << 8 | Int(leased.address.bytes[15])
        #expect(leased.length == 128 && prefix.contains(leased.address) && (0x100...0x1ff).contains(low), "DHCPv6 address \(leased) from ::100-::1ff")
        #expect(report.step("gateway6")?.ok == true)
        #expect(report.step("ping6", target: "2001:db8:ff::2")?.ok == true)
        #expect(report.step("dns6")?.fields["addrs"]?.split(separator: ",").contains(Substring(alphaSLAAC)) == true,
                "AAAA of alpha: \(String(describing: report.step("dns6")))")

        // The outside saw the echo request from the host's up0, not from the guest's prefix.
        let seen = capture.line()
        #expect(seen.contains("2001:db8:ff::1 > 2001:db8:ff::2"), "capture: \(seen)")
        #expect(!seen.contains(String(prefix.address.description.dropLast(2))), "no source from \(prefix)")

        try? fixture.vms.kill("six-alpha")
        try? fixture.vms.kill("six-beta")
        try fixture.networks.stop("six-n")
        #expect(try fixture.ns.exec("sysctl", ["-n", "net.ipv6.conf.all.forwarding"]).stdout == forwardingBefore)
        try fixture.networks.delete("six-n")
    }

    /// `--ipv6-nat off`: the prefix is routed; with a route back on the outside host, the
    /// outside sees the guest's own address and answers it.
    @Test(.timeLimit(.minutes(15)))
    func routedIPv6KeepsTheGuestsSource() throws {
        let fixture = try NetworkFixture("r6")
        try Self.wireIPv6(fixture)
        let prefix = IPPrefix("fd00:79:1::/64")!
        _ = try fixture.networks.create(NetworkDefinition(name: "six-r", mode: .nat, bridge: "qn-six-r", subnet: "10.79.1.0/24",
                                                          ipv6NAT: false), ipv6: .prefix(prefix))
        try fixture.outside.ip("-6", "route", "add", prefix.description, "via", "2001:db8:ff::1")
        try fixture.networks.start("six-r")
        let capture = try EchoCapture(fixture.outside)
        let guest = try fixture.vms.run(try fixture.vm("six-rt", network: "six-r", plan: plan(.probe, targets6: ["2001:db8:ff::2"])))
        defer { try? fixture.vms.kill("six-rt") }
        let report = GuestFixture.follow(guest, timeout: 150) { $0.isComplete }
        #expect(report.step("ping6", target: "2001:db8:ff::2")?.ok == true, "\(report.failedSteps)")
        let seen = capture.line()
        let sources = [report.step("slaac")?.fields["addr"], report.step("dhcp6")?.fields["addr"]].compactMap { $0?.split(separator: "/").first }
        #expect(sources.contains { seen.contains("\($0) > 2001:db8:ff::2") }, "capture: \(seen); guest addresses \(sources)")
        #expect(!seen.contains("2001:db8:ff::1 >"), "not masqueraded")
        try? fixture.vms.kill("six-rt")
        try fixture.networks.stop("six-r")
    }

    /// Isolated: guests reach each other over IPv6 (SLAAC addresses, no default route from the
    /// advertisements), and nothing outside, even with the host's ::1 as a default route and
    /// IPv6 forwarding on in the host namespace (the firewall drops it).
    @Test(.timeLimit(.minutes(15)))
    func isolatedGuestsReachEachOtherOnlyOverIPv6() throws {
        let fixture = try NetworkFixture("i6")
        try Self.wireIPv6(fixture)
        let prefix = IPPrefix("fd00:79:2::/64")!
        _ = try fixture.networks.create(NetworkDefinition(name: "six-i", mode: .isolated, bridge: "qn-six-i", subnet: "10.79.2.0/24"),
                                        ipv6: .prefix(prefix))
        try fixture.networks.start("six-i")
        #expect(try fixture.ns.exec("sysctl", ["-qw", "net.ipv6.conf.all.forwarding=1"]).status == 0)
        try fixture.outside.ip("-6", "route", "add", prefix.description, "via", "2001:db8:ff::1")
        let server = try fixture.vms.run(try fixture.vm("six-ia", network: "six-i", plan: plan(.serve, gateway6: .none)))
        defer { try? fixture.vms.kill("six-ia") }
        let ready = try #require(GuestFixture.follow(server, timeout: 120) { $0.ready != nil || $0.isComplete }.ready)
        let serverAddress = try #require(ready.address6)
        let client = try fixture.vms.run(try fixture.vm("six-ib", network: "six-i", plan: plan(
            .probe, targets6: [serverAddress, "2001:db8:ff::2"], gateway6: .address(IPv6Addressing(prefix: prefix).gateway.description))))
        defer { try? fixture.vms.kill("six-ib") }
        let report = GuestFixture.follow(client, timeout: 150) { $0.isComplete }
        #expect(report.step("slaac")?.ok == true, "\(String(describing: report.step("slaac"))) \((try? String(contentsOfFile: client.consoleLog, encoding: .utf8)) ?? "")")
        #expect(report.step("slaac")?.fields["router"] == "-", "router lifetime 0: no default route from the advertisements")
        #expect(report.step("gateway6")?.ok == true, "the host's ::1 answers")
        #expect(report.step("ping6", target: serverAddress)?.ok == true, "guests reach each other")
        #expect(report.step("ping6", target: "2001:db8:ff::2")?.ok == false, "no way out")
        try? fixture.vms.kill("six-ia")
        try? fixture.vms.kill("six-ib")
        try fixture.networks.stop("six-i")
    }
}
