import Foundation
import Glibc
import HostNetwork
import Netlink
import QNetTestSupport
import QNetTypes
import Testing
@testable import VirtualMachines

/// The accept_ra trap, with a real router advertisement: the "outside" namespace is the LAN's
/// router (a dnsmasq with `enable-ra` and `ra-only` ranges, no radvd, advertising every 4 s), so the host
/// namespace's up0 has a SLAAC address and a `proto ra` default route, with accept_ra = 1.
/// `net start` of a NAT network with IPv6 turns forwarding on: up0 must get accept_ra = 2 and
/// keep taking advertisements (witness: a prefix the router starts advertising afterwards
/// becomes a second SLAAC address on up0), and `net stop` must put forwarding and accept_ra
/// back. All witnesses are `ip -j` and sysctl in the namespace.
@Suite(Privileged.enabled)
struct IPv6ForwardingTests {
    /// A dnsmasq in `ns` advertising `prefixes` on `interface` (router advertisements only).
    final class Router: @unchecked Sendable {
        let ns: TestNamespace
        let directory: String
        var pid: pid_t?

        init(_ ns: TestNamespace) throws {
            self.ns = ns
            directory = NSTemporaryDirectory() + "qnet-ra-\(getpid())-\(ns.name)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }

        /// Starts dnsmasq. It advertises each of `prefixes` once `interface` has an address in
        /// it (bind-dynamic follows address changes), every 4 s and when asked (solicitations).
        func advertise(_ prefixes: [String], on interface: String) throws {
            let ranges = prefixes.map { "dhcp-range=\($0),ra-only,64,3600" }.joined(separator: "\n")
            let config = "port=0\nbind-dynamic\ninterface=\(interface)\nenable-ra\nra-param=\(interface),4,1800\n\(ranges)\n"
                + "pid-file=\(directory)/pid\nlog-facility=\(directory)/log\n"
            try config.write(toFile: directory + "/conf", atomically: true, encoding: .utf8)
            let started = try ns.exec("dnsmasq", ["--conf-file=\(directory)/conf"])
            guard started.status == 0 else { throw TestSupportError("dnsmasq: \(started.stderr)") }
            pid = pid_t(try String(contentsOfFile: directory + "/pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
        }

        func log() -> String { (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "" }

        /// Stops every dnsmasq serving this router's configuration (by its --conf-file, not
        /// only the pid file's, so a second `advertise` or a daemon that forked again cannot
        /// outlive the test: processes in a deleted namespace keep running). SIGKILL: this dnsmasq,
        /// dropped to nobody in a namespace being torn down, was seen ignoring SIGTERM.
        func stop() {
            if let pid { kill(pid, SIGKILL) }
            pid = nil
            _ = try? run("pkill", ["-KILL", "-f", "--", "--conf-file=\(directory)/conf"])
        }

        deinit {
            stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// up0's global IPv6 addresses with lifetimes (SLAAC), from `ip -j -6 addr`.
    func slaacAddresses(_ fixture: NetworkFixture) throws -> [String] {
        let info = (try fixture.ns.json("-6", "addr", "show", "dev", "up0", "scope", "global").first?["addr_info"] as? [[String: Any]]) ?? []
        return info.filter { ($0["dynamic"] as? Bool) == true }.compactMap { $0["local"] as? String }
    }

    func sysctl(_ fixture: NetworkFixture, _ name: String) throws -> String {
        try fixture.ns.exec("sysctl", ["-n", name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(.timeLimit(.minutes(15)))
    func uplinkKeepsTakingRouterAdvertisementsWhileForwarding() throws {
        let fixture = try NetworkFixture("ra")
        try fixture.outside.ip("-6", "addr", "add", "fd42:1::1/64", "dev", "out0", "nodad")
        let router = try Router(fixture.outside)
        try router.advertise(["fd42:1::", "fd42:2::"], on: "out0")
        #expect(try waitUntil(timeout: 30, interval: 0.1) { try slaacAddresses(fixture).contains { $0.hasPrefix("fd42:1:") } }, "up0 never got a SLAAC address")
        let routes = try fixture.ns.json("-6", "route", "show", "default")
        #expect(routes.contains { $0["dev"] as? String == "up0" && $0["protocol"] as? String == "ra" }, "\(routes)")
        #expect(try sysctl(fixture, "net.ipv6.conf.up0.accept_ra") == "1")
        #expect(try sysctl(fixture, "net.ipv6.conf.all.forwarding") == "0")

        _ = try fixture.networks.create(NetworkDefinition(name: "six-ra", mode: .nat, bridge: "qn-six-ra", subnet: "10.79.3.0/24"),
                                        ipv6: .prefix(IPPrefix("fd00:79:3::/64")!))
        try fixture.networks.start("six-ra")
        #expect(try sysctl(fixture, "net.ipv6.conf.all.forwarding") == "1")
        #expect(try sysctl(fixture, "net.ipv6.conf.up0.forwarding") == "1")
        #expect(try sysctl(fixture, "net.ipv6.conf.up0.accept_ra") == "2", "the trap is defused on the SLAAC uplink")
        #expect(try sysctl(fixture, "net.ipv6.conf.qn-six-ra.accept_ra") == "0", "the bridge is the router, it takes no advertisements")

        // The router starts advertising a second prefix (its interface gets an address in it):
        // up0 still listens, so it makes a second SLAAC address, and keeps the first.
        try fixture.outside.ip("-6", "addr", "add", "fd42:2::1/64", "dev", "out0", "nodad")
        #expect(try waitUntil(timeout: 30, interval: 0.1) { try slaacAddresses(fixture).contains { $0.hasPrefix("fd42:2:") } },
                "up0 ignored the router's advertisement while forwarding: \((try? slaacAddresses(fixture)) ?? []); router log: \(router.log())")
        #expect(try slaacAddresses(fixture).contains { $0.hasPrefix("fd42:1:") })

        try fixture.networks.stop("six-ra")
        #expect(try sysctl(fixture, "net.ipv6.conf.all.forwarding") == "0", "stop restores IPv6 forwarding")
        #expect(try sysctl(fixture, "net.ipv6.conf.up0.accept_ra") == "1", "stop restores accept_ra")
        try fixture.networks.delete("six-ra")
        router.stop()
    }

    /// An admin's own accept_ra change while the network runs is kept at stop (qnet restores
    /// only a value that still holds what it set), like ip_forward.
    @Test(.timeLimit(.minutes(15)))
    func anAdminsAcceptRAIsKept() throws {
        let fixture = try NetworkFixture("ra2")
        // An address with lifetimes and a `proto ra` default route, as SLAAC leaves them.
        try fixture.ns.ip("-6", "addr", "add", "fd42:3::5/64", "dev", "up0", "valid_lft", "3600", "preferred_lft", "1800", "nodad")
        try fixture.ns.ip("-6", "route", "add", "default", "via", "fe80::1", "dev", "up0", "proto", "ra")
        _ = try fixture.networks.create(NetworkDefinition(name: "six-ra2", mode: .nat, bridge: "qn-six-ra2", subnet: "10.79.4.0/24"),
                                        ipv6: .prefix(IPPrefix("fd00:79:4::/64")!))
        try fixture.networks.start("six-ra2")
        #expect(try sysctl(fixture, "net.ipv6.conf.up0.accept_ra") == "2")
        #expect(try fixture.ns.exec("sysctl", ["-qw", "net.ipv6.conf.up0.accept_ra=0"]).status == 0)
        try fixture.networks.stop("six-ra2")
        #expect(try sysctl(fixture, "net.ipv6.conf.up0.accept_ra") == "0", "the admin's value stays")
        #expect(try sysctl(fixture, "net.ipv6.conf.all.forwarding") == "0")
        try fixture.networks.delete("six-ra2")
    }
}
