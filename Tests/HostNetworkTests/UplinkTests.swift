import Foundation
import HostNetwork
import Netlink
import NetlinkWire
import QNetTestSupport
import Testing

/// A namespace whose `eth0` is a working uplink: a veth to a "router" namespace, holding
/// IPv4 and IPv6 addresses, a default route with a metric, and a route via a gateway.
struct UplinkFixture {
    let ns: TestNamespace
    let router: TestNamespace
    let host: HostNetwork

    init(_ label: String) throws {
        ns = try TestNamespace(label)
        router = try TestNamespace(label + "r")
        try ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "lan0", "netns", router.name)
        try router.ip("addr", "add", "192.168.1.254/24", "dev", "lan0")
        try router.ip("link", "set", "lan0", "up")
        try ns.ip("link", "set", "eth0", "up")
        try ns.ip("addr", "add", "192.168.1.10/24", "dev", "eth0")
        try ns.ip("-6", "addr", "add", "2001:db8::10/64", "dev", "eth0", "nodad")
        try ns.ip("route", "add", "default", "via", "192.168.1.254", "dev", "eth0", "metric", "100")
        try ns.ip("route", "add", "10.20.0.0/16", "via", "192.168.1.1", "dev", "eth0", "metric", "5")
        try ns.ip("-6", "route", "add", "default", "via", "2001:db8::1", "dev", "eth0", "metric", "50")
        host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
    }

    /// Everything an admin would compare: eth0's link line, addresses, routes of both families.
    func snapshot() throws -> [String] {
        [try ns.ip("-o", "link", "show", "dev", "eth0"),
         try ns.ip("-o", "addr", "show", "dev", "eth0").split(separator: "\n").filter { !$0.contains("fe80") }.joined(separator: "\n"),
         try ns.ip("route", "show"),
         try ns.ip("-6", "route", "show").split(separator: "\n").filter { !$0.hasPrefix("fe80") }.joined(separator: "\n")]
    }

    func routerPings(_ address: String) throws -> Bool {
        try router.exec("ping", ["-c", "1", "-W", "2", address]).status == 0
    }
}

@Suite(.serialized, Privileged.enabled)
struct UplinkTests {
    @Test func uplinkMovesToBridgeAndBack() throws {
        let hostBefore = try hostLinkNames()
        let fixture = try UplinkFixture("up")
        let ns = fixture.ns
        let before = try fixture.snapshot()
        let eth0MAC = try ns.link("eth0")?["address"] as? String

        let move = try #require(try fixture.host.createBridge("br0", uplink: "eth0"))
        #expect(Set(move.addresses.map(\.description)) == ["192.168.1.10/24", "2001:db8::10/64"])
        #expect(move.routes.count == 3)

        // The witness: br0 holds eth0's MAC, addresses and routes; eth0 is its port.
        #expect(try ns.link("br0")?["address"] as? String == eth0MAC)
        #expect(try ns.link("eth0")?["master"] as? String == "br0")
        let bridgeAddresses = (try ns.json("addr", "show", "dev", "br0").first?["addr_info"] as? [[String: Any]]) ?? []
        #expect(bridgeAddresses.contains { $0["local"] as? String == "192.168.1.10" })
        #expect(bridgeAddresses.contains { $0["local"] as? String == "2001:db8::10" })
        let ethAddresses = (try ns.json("addr", "show", "dev", "eth0").first?["addr_info"] as? [[String: Any]]) ?? []
        #expect(!ethAddresses.contains { ($0["family"] as? String) == "inet" })
        let routes = try ns.json("route", "show")
        #expect(routes.contains { $0["dst"] as? String == "default" && $0["dev"] as? String == "br0" && $0["metric"] as? Int == 100 })
        #expect(routes.contains { $0["dst"] as? String == "10.20.0.0/16" && $0["dev"] as? String == "br0" && $0["metric"] as? Int == 5 })
        #expect(try ns.json("-6", "route", "show", "default").first?["dev"] as? String == "br0")
        // Real packets: the LAN reaches the host through the bridge.
        #expect(try fixture.routerPings("192.168.1.10"))

        let back = try #require(try fixture.host.deleteBridge("br0"))
        #expect(back.uplink == "eth0")
        #expect(try ns.link("br0") == nil)
        #expect(try fixture.snapshot() == before)
        #expect(try fixture.routerPings("192.168.1.10"))
        #expect(try hostLinkNames() == hostBefore)
    }

    /// Fails the transaction at every step in turn: each time eth0 must end exactly as it
    /// was and no bridge may be left.
    @Test func everyPartialUplinkMoveIsRolledBack() throws {
        let fixture = try UplinkFixture("rb")
        let before = try fixture.snapshot()
        let linksBefore = try fixture.ns.linkNames()

        // Count the steps of a successful run first.
        var steps: [String] = []
        fixture.host.stepCheckpoint = { steps.append($0) }
        try fixture.host.createBridge("br0", uplink: "eth0")
        fixture.host.stepCheckpoint = nil
        try fixture.host.deleteBridge("br0")
        let createSteps = steps.count
        #expect(createSteps >= 8)
        #expect(try fixture.snapshot() == before)

        struct Injected: Error {}
        for failAt in 0..<createSteps {
            var seen = 0
            fixture.host.stepCheckpoint = { _ in
                if seen == failAt { throw Injected() }
                seen += 1
            }
            #expect(throws: RolledBackError.self) { try fixture.host.createBridge("br0", uplink: "eth0") }
            #expect(try fixture.snapshot() == before, "after failing at step \(failAt)")
            #expect(try fixture.ns.linkNames() == linksBefore, "after failing at step \(failAt)")
        }
        fixture.host.stepCheckpoint = nil
        #expect(try fixture.routerPings("192.168.1.10"))
    }

    /// Fails the release at every step in turn: before the bridge is deleted (the point of
    /// no return) everything must be back on br0; at the deletion the release is finished.
    @Test func everyPartialReleaseIsRolledBackOrFinished() throws {
        let fixture = try UplinkFixture("rel")
        let before = try fixture.snapshot()
        try fixture.host.createBridge("br0", uplink: "eth0")

        // Count the steps of a successful release first.
        var steps: [String] = []
        fixture.host.stepCheckpoint = { steps.append($0) }
        try fixture.host.deleteBridge("br0")
        fixture.host.stepCheckpoint = nil
        let releaseSteps = steps.count
        #expect(releaseSteps >= 8)
        #expect(steps.last == "release: delete bridge")
        #expect(try fixture.snapshot() == before)

        try fixture.host.createBridge("br0", uplink: "eth0")
        let bridged = try fixture.ns.ip("-o", "addr", "show", "dev", "br0") + fixture.ns.ip("route", "show")
        struct Injected: Error {}
        for failAt in 0..<releaseSteps {
            var seen = 0
            fixture.host.stepCheckpoint = { _ in
                if seen == failAt { throw Injected() }
                seen += 1
            }
            let error = #expect(throws: RolledBackError.self) { try fixture.host.deleteBridge("br0") }
            if failAt == releaseSteps - 1 {
                #expect(error?.completedInstead == true)
                #expect(try fixture.ns.link("br0") == nil)
                #expect(try fixture.snapshot() == before, "after failing at the last release step")
            } else {
                #expect(error?.completedInstead == false)
                #expect(try fixture.ns.ip("-o", "addr", "show", "dev", "br0") + fixture.ns.ip("route", "show") == bridged,
                        "after failing at release step \(failAt)")
            }
        }
        fixture.host.stepCheckpoint = nil
        #expect(try fixture.routerPings("192.168.1.10"))
    }

    /// Secondary addresses, routes of another table and metrics move and come back exactly:
    /// `ip -j addr` and `ip -j route show table all` before the move and after the release
    /// are equal, and the gateway answers throughout.
    @Test func secondaryAddressesAndEveryTableMoveAndComeBackExactly() throws {
        let lab = try UplinkNamespaces("sec")
        defer { lab.remove() }
        let host = try HostNetwork(namespace: NetworkNamespace(name: lab.host.name))
        let before = try lab.host.normalizedState()
        #expect(try lab.gatewayAnswers())

        let move = try #require(try host.createBridge("br0", uplink: "eth0"))
        #expect(Set(move.addresses.map(\.description)) == ["192.168.1.10/24", "192.168.1.11/24", "2001:db8::10/64"])
        let bridgeAddresses = (try lab.host.json("addr", "show", "dev", "br0").first?["addr_info"] as? [[String: Any]]) ?? []
        #expect(bridgeAddresses.contains { $0["local"] as? String == "192.168.1.11" && $0["secondary"] as? Bool == true })
        #expect(bridgeAddresses.contains { $0["local"] as? String == "192.168.1.10" && $0["secondary"] == nil })
        let table100 = try lab.host.json("route", "show", "table", "100")
        #expect(table100.count == 2 && table100.allSatisfy { $0["dev"] as? String == "br0" })
        let metric50 = try lab.host.json("route", "show", "10.20.0.0/16").first
        #expect(metric50?["metric"] as? Int == 50)
        #expect(metric50?["dev"] as? String == "br0")
        // RTA_METRICS travel with the route: `mtu 1400 initcwnd 10`.
        let metrics = (metric50?["metrics"] as? [[String: Any]]) ?? []
        #expect(metrics.contains { $0["mtu"] as? Int == 1400 } && metrics.contains { $0["initcwnd"] as? Int == 10 }, "\(metrics)")
        // The multipath route: the nexthop through eth0 now goes through br0, the other stays.
        let nexthops = (try lab.host.json("route", "show", "10.40.0.0/16").first?["nexthops"] as? [[String: Any]]) ?? []
        #expect(nexthops.count == 2)
        #expect(nexthops.contains { $0["dev"] as? String == "br0" && $0["gateway"] as? String == "192.168.1.254" && $0["weight"] as? Int == 1 })
        #expect(nexthops.contains { $0["dev"] as? String == "side0" && $0["gateway"] as? String == "10.99.0.2" && $0["weight"] as? Int == 3 })
        // Nothing but the kernel's own routes (fe80::/64, multicast) is left on eth0.
        #expect(try lab.host.json("route", "show", "table", "all", "dev", "eth0").filter { ($0["protocol"] as? String) != "kernel" }.isEmpty)
        #expect(try lab.host.json("-6", "route", "show", "table", "all", "dev", "eth0").filter { ($0["protocol"] as? String) != "kernel" }.isEmpty)
        #expect(try lab.gatewayAnswers())

        try host.deleteBridge("br0")
        #expect(try lab.host.normalizedState() == before)
        #expect(try lab.gatewayAnswers())
    }

    /// The same namespace, the move failing at each step: the uplink is back exactly.
    @Test func everyPartialMoveOfAFullUplinkIsRolledBackExactly() throws {
        let lab = try UplinkNamespaces("secrb")
        defer { lab.remove() }
        let host = try HostNetwork(namespace: NetworkNamespace(name: lab.host.name))
        let before = try lab.host.normalizedState()
        var steps = 0
        host.stepCheckpoint = { _ in steps += 1 }
        try host.createBridge("br0", uplink: "eth0")
        host.stepCheckpoint = nil
        try host.deleteBridge("br0")
        struct Injected: Error {}
        for failAt in 0..<steps {
            var seen = 0
            host.stepCheckpoint = { _ in
                if seen == failAt { throw Injected() }
                seen += 1
            }
            #expect(throws: RolledBackError.self) { try host.createBridge("br0", uplink: "eth0") }
            let after = try lab.host.normalizedState()
            #expect(after == before, "after failing at step \(failAt):\n\(after)\nbefore:\n\(before)")
        }
        host.stepCheckpoint = nil
        #expect(try lab.gatewayAnswers())
    }

    @Test func refusesWirelessEnslavedAndMissingUplinks() throws {
        let fixture = try UplinkFixture("wl")
        let before = try fixture.snapshot()
        let links = try fixture.ns.linkNames()
        #expect(throws: HostNetworkError.wirelessUplink("eth0")) {
            try fixture.host.createBridge("br0", uplink: "eth0", isWireless: { $0 == "eth0" })
        }
        #expect(throws: HostNetworkError.noSuchDevice("wlan9")) { try fixture.host.createBridge("br0", uplink: "wlan9") }
        #expect(throws: HostNetworkError.bridgeIntoItself("br0")) { try fixture.host.createBridge("br0", uplink: "br0") }
        #expect(throws: HostNetworkError.uplinkInUse("lo", reason: "it is the loopback device")) { try fixture.host.createBridge("br0", uplink: "lo") }
        try fixture.host.createBridge("br9")
        try fixture.host.setMaster("eth0", bridge: "br9")
        #expect(throws: HostNetworkError.alreadyEnslaved(port: "eth0", master: "br9")) { try fixture.host.createBridge("br0", uplink: "eth0") }
        try fixture.host.unsetMaster("eth0")
        try fixture.host.deleteBridge("br9")
        #expect(try fixture.snapshot() == before)
        #expect(try fixture.ns.linkNames() == links)
    }
}
