import Foundation
@testable import HostChecks
import HostNetwork
import Netlink
import QNetTestSupport
import Testing

/// `--bridge` checks against real bridges, each in a namespace of the test's own.
@Suite(.serialized, Privileged.enabled) struct BridgeCheckTests {
    func checks(_ ns: TestNamespace, _ name: String = "br0", wireless: Set<String> = []) throws -> [String: CheckResult] {
        let network = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        let (checks, _) = BridgeChecks.run(network: network, name: name, isWireless: { wireless.contains($0) })
        return Dictionary(checks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    @Test func missingOrNotABridgeFails() throws {
        let ns = try TestNamespace("bmiss")
        let missing = try checks(ns)
        #expect(missing.count == 1)
        #expect(missing["bridge.exists"]?.status == .fail)
        #expect(missing["bridge.exists"]?.remedy?.hasPrefix("qnet bridge create br0") == true)
        try ns.ip("link", "add", "br0", "type", "veth", "peer", "name", "br1")
        let veth = try #require(try checks(ns)["bridge.exists"])
        #expect(veth.status == .fail && veth.found == "br0 is a veth interface, not a bridge")
    }

    @Test func downBridgeFailsUpBridgePasses() throws {
        let ns = try TestNamespace("bup")
        try ns.ip("link", "add", "br0", "type", "bridge")
        let down = try checks(ns)
        #expect(down["bridge.exists"]?.status == .ok)
        #expect(down["bridge.up"]?.status == .fail && down["bridge.up"]?.remedy == "ip link set dev br0 up")
        try ns.ip("link", "set", "br0", "up")
        #expect(try checks(ns)["bridge.up"]?.status == .ok)
    }

    @Test func stpWithLongForwardDelayWarns() throws {
        let ns = try TestNamespace("bstp")
        try ns.ip("link", "add", "br0", "type", "bridge", "stp_state", "1", "forward_delay", "1500")
        let long = try #require(try checks(ns)["bridge.stp"])
        #expect(long.status == .warn)
        #expect(long.found.contains("forward_delay 15 s") && long.found.contains("2 × 15 = 30 s"))
        #expect(long.remedy?.hasPrefix("qnet bridge set br0 --stp off") == true)
        try ns.ip("link", "set", "br0", "type", "bridge", "forward_delay", "200")
        let short = try #require(try checks(ns)["bridge.stp"])
        #expect(short.status == .ok && short.found.contains("forward after 4 s"))
        try ns.ip("link", "set", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "1500")
        #expect(try checks(ns)["bridge.stp"]?.found == "STP off: new ports forward at once")
    }

    @Test func mtuMismatchWarnsAndTheRemedyFixesIt() throws {
        let ns = try TestNamespace("bmtu")
        try ns.ip("link", "add", "br0", "type", "bridge")
        try ns.ip("link", "add", "a0", "type", "veth", "peer", "name", "a1")
        try ns.ip("link", "add", "b0", "mtu", "1400", "type", "veth", "peer", "name", "b1")
        #expect(try checks(ns)["bridge.mtu"]?.found == "MTU 1500, no ports yet")
        try ns.ip("link", "set", "a0", "master", "br0")
        #expect(try checks(ns)["bridge.mtu"]?.status == .ok)
        try ns.ip("link", "set", "b0", "master", "br0")
        // Kernel quirk: a bridge whose MTU was never set follows its smallest port (1400).
        let odd = try #require(try checks(ns)["bridge.mtu"])
        #expect(odd.status == .warn)
        #expect(odd.found.contains("br0 1400, a0 1500, b0 1400"))
        #expect(odd.remedy == "ip link set dev a0 mtu 1400")
        try ns.ip("link", "set", "dev", "a0", "mtu", "1400")
        #expect(try checks(ns)["bridge.mtu"]?.status == .ok)
    }

    /// A lease on the uplink port (finite valid_lft, as DHCP clients set it) lapses: the
    /// client's renewals go out of the port, which no longer holds the address.
    @Test func dhcpLeaseOnAPortFails() throws {
        let ns = try TestNamespace("bdhcp")
        try ns.ip("link", "add", "br0", "type", "bridge")
        try ns.ip("link", "add", "e0", "type", "veth", "peer", "name", "e1")
        try ns.ip("link", "set", "e0", "master", "br0")
        try ns.ip("link", "set", "br0", "alias", "qnet:uplink=e0")  // the uplink qnet recorded
        #expect(try checks(ns)["bridge.dhcp"]?.status == .ok)
        try ns.ip("addr", "add", "10.7.0.5/24", "dev", "e0", "valid_lft", "600", "preferred_lft", "600")
        let leased = try #require(try checks(ns)["bridge.dhcp"])
        #expect(leased.status == .fail && leased.found.hasPrefix("10.7.0.5/24 expires in"), "\(leased.found)")
        #expect(leased.remedy?.contains("run it on br0") == true)
    }

    @Test func wirelessUplinkFails() throws {
        let ns = try TestNamespace("bwifi")
        try ns.ip("link", "add", "br0", "type", "bridge")
        try ns.ip("link", "add", "wl0", "type", "veth", "peer", "name", "wl1")
        try ns.ip("link", "set", "wl0", "master", "br0")
        #expect(try checks(ns)["bridge.uplink"]?.found == "none: guests reach the host and each other, not the LAN")
        // qnet records the uplink it moved in the bridge's alias.
        try ns.ip("link", "set", "br0", "alias", "qnet:uplink=wl0")
        #expect(try checks(ns)["bridge.uplink"]?.found == "wl0 (wired)")
        let wireless = try #require(try checks(ns, wireless: ["wl0"])["bridge.uplink"])
        #expect(wireless.status == .fail && wireless.found.hasPrefix("wl0 is wireless"))
        #expect(wireless.remedy?.hasPrefix("qnet bridge detach br0 wl0") == true)
    }

    @Test func wirelessDetectionReadsSysfs() throws {
        let fixture = try Fixture()
        try fixture.makeDirectory("sys/class/net/wlan0/phy80211")
        try fixture.makeDirectory("sys/class/net/eth0")
        let options = DoctorOptions(root: fixture.root)
        #expect(options.isWireless("wlan0"))
        #expect(!options.isWireless("eth0"))
    }

    @Test func hostAddressMustBeOnTheBridge() throws {
        let ns = try TestNamespace("baddr")
        try ns.ip("link", "add", "br0", "type", "bridge")
        try ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "lan0")
        try ns.ip("link", "set", "eth0", "master", "br0")
        try ns.ip("link", "set", "br0", "alias", "qnet:uplink=eth0")
        for name in ["br0", "eth0", "lan0"] { try ns.ip("link", "set", name, "up") }
        try ns.ip("addr", "add", "192.168.7.10/24", "dev", "eth0")
        try ns.ip("route", "add", "default", "via", "192.168.7.1", "dev", "eth0")
        let stranded = try #require(try checks(ns)["bridge.address"])
        #expect(stranded.status == .fail)
        #expect(stranded.found.contains("192.168.7.10/24 on eth0") && stranded.found.contains("default route via eth0"))
        #expect(stranded.remedy?.hasPrefix("ip addr del 192.168.7.10/24 dev eth0 && ip addr add 192.168.7.10/24 dev br0\nip route replace default via 192.168.7.1 dev br0\n") == true)

        try ns.ip("addr", "del", "192.168.7.10/24", "dev", "eth0")
        let bare = try #require(try checks(ns)["bridge.address"])
        #expect(bare.status == .warn && bare.found.contains("no address"))

        try ns.ip("addr", "add", "192.168.7.10/24", "dev", "br0")
        try ns.ip("route", "add", "default", "via", "192.168.7.1", "dev", "br0")
        let good = try #require(try checks(ns)["bridge.address"])
        #expect(good.status == .ok && good.found == "192.168.7.10/24 on br0, default route via br0")
    }

    /// The whole doctor with `--bridge`: the bridge checks come last and the managers see
    /// the bridge's index.
    @Test func doctorWithBridgeInANamespace() throws {
        let ns = try TestNamespace("bdoc")
        try ns.ip("link", "add", "br0", "type", "bridge", "stp_state", "1", "forward_delay", "1500")
        try ns.ip("link", "set", "br0", "up")
        var options = DoctorOptions(bridge: "br0", network: try HostNetwork(namespace: NetworkNamespace(name: ns.name)))
        options.probeKVM = false
        let report = HostDoctor.run(options)
        #expect(Array(report.checks.suffix(7).map(\.id)) == ["bridge.exists", "bridge.up", "bridge.stp", "bridge.mtu", "bridge.uplink", "bridge.dhcp", "bridge.address"])
        #expect(report.check("bridge.stp")?.status == .warn)
        #expect(report.check("kvm.runs")?.found == "not probed: probe turned off")
    }
}
