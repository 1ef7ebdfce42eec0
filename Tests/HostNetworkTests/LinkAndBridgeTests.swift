import Foundation
import HostNetwork
import Netlink
import QNetTestSupport
import QNetTypes
import Testing

/// Privileged tests of links and bridges: each test makes its own namespace, acts through
/// HostNetwork, and checks the kernel through `ip -j` (never through qnet's own reading).
@Suite(.serialized, Privileged.enabled)
struct LinkAndBridgeTests {
    @Test func createBridgeUsesSafeDefaults() throws {
        let hostBefore = try hostLinkNames()
        let ns = try TestNamespace("brdef")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br0")

        let link = try #require(try ns.link("br0"))
        let info = try #require((link["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        #expect((link["linkinfo"] as? [String: Any])?["info_kind"] as? String == "bridge")
        #expect(info["stp_state"] as? Int == 0)
        #expect(info["forward_delay"] as? Int == 0)
        #expect((link["flags"] as? [String])?.contains("UP") == true)
        #expect(try hostLinkNames() == hostBefore)
    }

    @Test func createBridgeWithEveryOption() throws {
        let ns = try TestNamespace("bropt")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br1", options: BridgeOptions(stp: true, forwardDelay: 4, helloTime: 3, maxAge: 12,
                                                            ageingTime: 30, priority: 4096), mtu: 1400)
        let link = try #require(try ns.link("br1"))
        let info = try #require((link["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        // ip -j reports bridge timers in centiseconds (the kernel's clock_t).
        #expect(info["stp_state"] as? Int == 1)
        #expect(info["forward_delay"] as? Int == 400)
        #expect(info["hello_time"] as? Int == 300)
        #expect(info["max_age"] as? Int == 1200)
        #expect(info["ageing_time"] as? Int == 3000)
        #expect(info["priority"] as? Int == 4096)
        #expect(info["vlan_filtering"] as? Int == 0)
        #expect(link["mtu"] as? Int == 1400)

        // qnet's own reading agrees with the witness.
        let settings = try #require(try host.link(named: "br1").bridge)
        #expect(settings.stpEnabled && settings.forwardDelay == 4 && settings.priority == 4096 && !settings.vlanFiltering)
        #expect(settings.bridgeID.hasPrefix("1000."))
    }

    /// vlan_filtering needs CONFIG_BRIDGE_VLAN_FILTERING. The witness (`ip link add ... type
    /// bridge vlan_filtering 1`, iproute2 asking the same kernel) decides which outcome is the
    /// correct one here; qnet must give exactly that one: the bridge with filtering on, or
    /// (EOPNOTSUPP, as on this project's 6.x kernels) an error naming the option and no bridge.
    @Test func vlanFilteringFollowsWhatTheKernelSupports() throws {
        let ns = try TestNamespace("vlan")
        let witness = try run("ip", ["-n", ns.name, "link", "add", "brw", "type", "bridge", "vlan_filtering", "1"])
        let kernelSupportsIt = witness.status == 0
        if kernelSupportsIt {
            try ns.ip("link", "del", "brw")
        } else {
            #expect(witness.stderr.contains("Operation not supported"), "ip failed for another reason: \(witness.stderr)")
        }
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        let outcome = Result { try host.createBridge("brv", options: BridgeOptions(vlanFiltering: true)) }
        if kernelSupportsIt {
            #expect(throws: Never.self) { try outcome.get() }
            let info = ((try ns.link("brv"))?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any]
            #expect(info?["vlan_filtering"] as? Int == 1)
        } else {
            let error = #expect(throws: HostNetworkError.self) { try outcome.get() }
            #expect(error?.description.contains("CONFIG_BRIDGE_VLAN_FILTERING") == true, "\(String(describing: error))")
            #expect(try ns.link("brv") == nil)
        }
    }

    @Test func setBridgeChangesOnlyWhatIsGiven() throws {
        let ns = try TestNamespace("brset")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br0")
        try host.setBridge("br0", options: BridgeOptions(stp: true, forwardDelay: 2))
        var info = try #require(((try ns.link("br0"))?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        #expect(info["stp_state"] as? Int == 1)
        #expect(info["forward_delay"] as? Int == 200)

        // With STP on, the kernel needs forward_delay >= 2 s: refused before any request.
        #expect(throws: HostNetworkError.invalidValue(what: "forward delay", value: "1", allowed: "with STP on the kernel needs 2 to 30 seconds")) {
            try host.setBridge("br0", options: BridgeOptions(forwardDelay: 1))
        }
        info = try #require(((try ns.link("br0"))?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        #expect(info["forward_delay"] as? Int == 200)

        try host.setBridge("br0", options: BridgeOptions(stp: false))
        info = try #require(((try ns.link("br0"))?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        #expect(info["stp_state"] as? Int == 0)
        #expect(info["forward_delay"] as? Int == 200)
    }

    /// `qnet bridge set br0 --stp off --forward-delay 0` on a bridge running STP: the kernel
    /// checks the delay against the STP state it has before the request, so one request
    /// fails with ERANGE. Both must land, and turning STP back on with a delay must too.
    @Test func stpOffWithZeroForwardDelayOnABridgeRunningSTP() throws {
        let ns = try TestNamespace("stpoff")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try ns.ip("link", "add", "br0", "type", "bridge", "stp_state", "1", "forward_delay", "400")
        func info() throws -> [String: Any] {
            try #require(((try ns.link("br0"))?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        }
        try host.setBridge("br0", options: BridgeOptions(stp: false, forwardDelay: 0))
        #expect(try info()["stp_state"] as? Int == 0)
        #expect(try info()["forward_delay"] as? Int == 0)

        try host.setBridge("br0", options: BridgeOptions(stp: true, forwardDelay: 3))
        #expect(try info()["stp_state"] as? Int == 1)
        #expect(try info()["forward_delay"] as? Int == 300)
    }

    /// `--stp on` alone takes the shortest delay STP allows (2 s), not the STP-off default 0.
    @Test func createBridgeWithSTPOnAloneUsesTheMinimumDelay() throws {
        let ns = try TestNamespace("stpon")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br0", options: BridgeOptions(stp: true))
        let info = try #require(((try ns.link("br0"))?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        #expect(info["stp_state"] as? Int == 1)
        #expect(info["forward_delay"] as? Int == 200)
    }

    @Test func attachAndDetachWithPortOptions() throws {
        let ns = try TestNamespace("attach")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br0")
        try ns.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
        try host.setMaster("v0", bridge: "br0")
        #expect(try ns.link("v0")?["master"] as? String == "br0")

        try host.setBridgePort("v0", options: BridgePortOptions(cost: 17, priority: 9, isolated: true, learning: false, unicastFlood: false))
        let port = try #require(((try ns.link("v0"))?["linkinfo"] as? [String: Any])?["info_slave_data"] as? [String: Any])
        #expect(port["cost"] as? Int == 17)
        #expect(port["priority"] as? Int == 9)
        #expect(port["isolated"] as? Bool == true)
        #expect(port["learning"] as? Bool == false)
        #expect(port["flood"] as? Bool == false)
        // Unicast only, as the help text says: multicast and broadcast still flood to it.
        #expect(port["mcast_flood"] as? Bool == true)
        #expect(port["bcast_flood"] as? Bool == true)

        try host.unsetMaster("v0", bridge: "br0")
        #expect(try ns.link("v0")?["master"] == nil)
    }

    @Test func attachRefusesLoopsAndForeignPorts() throws {
        let ns = try TestNamespace("attachbad")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br0")
        try host.createBridge("br1")
        try ns.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
        try host.setMaster("v0", bridge: "br1")
        let before = try ns.stateSummary()

        #expect(throws: HostNetworkError.bridgeIntoItself("br0")) { try host.setMaster("br0", bridge: "br0") }
        #expect(throws: HostNetworkError.alreadyEnslaved(port: "v0", master: "br1")) { try host.setMaster("v0", bridge: "br0") }
        #expect(throws: HostNetworkError.noSuchDevice("nope0")) { try host.setMaster("nope0", bridge: "br0") }
        #expect(throws: HostNetworkError.notABridge("v1", kind: .veth)) { try host.setMaster("v0", bridge: "v1") }
        #expect(throws: HostNetworkError.notAPort(port: "v1", bridge: "br0")) { try host.unsetMaster("v1", bridge: "br0") }
        #expect(throws: HostNetworkError.invalidName("bad/name", reason: "'/' is not allowed")) { try host.setMaster("bad/name", bridge: "br0") }
        // Nothing changed.
        let after = try ns.stateSummary()
        #expect(after == before, "\(before)\n---\n\(after)")
    }

    @Test func createBridgeRefusesTakenAndBadNames() throws {
        let ns = try TestNamespace("brname")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br0")
        let names = try ns.linkNames()
        #expect(throws: HostNetworkError.alreadyExists("br0")) { try host.createBridge("br0") }
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "sixteen-bytes-xx"] {
            #expect(throws: HostNetworkError.self) { try host.createBridge(bad) }
        }
        #expect(throws: HostNetworkError.self) { try host.createBridge("brx", options: BridgeOptions(forwardDelay: 31)) }
        #expect(throws: HostNetworkError.self) { try host.createBridge("brx", mtu: 20) }
        #expect(try ns.linkNames() == names)
    }

    @Test func linkVerbsChangeWhatTheySay() throws {
        let ns = try TestNamespace("linkset")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try ns.ip("link", "add", "d0", "type", "veth", "peer", "name", "d0peer")
        try ns.ip("link", "set", "d0peer", "up")
        let mac = try #require(MACAddress("52:54:00:ab:cd:ef"))
        try host.setLink("d0", LinkChange(up: true, mtu: 1280, macAddress: mac, group: 42))
        let link = try #require(try ns.link("d0"))
        #expect(link["mtu"] as? Int == 1280)
        #expect(link["address"] as? String == "52:54:00:ab:cd:ef")
        #expect(link["group"] as? String == "42")
        #expect((link["flags"] as? [String])?.contains("UP") == true)

        try host.setDown("d0")
        #expect((try ns.link("d0")?["flags"] as? [String])?.contains("UP") == false)

        // The listing agrees with ip about every interface.
        let listed = try host.links()
        let witness = try ns.json("link", "show")
        #expect(Set(listed.map(\.name)) == Set(witness.compactMap { $0["ifname"] as? String }))
        let d0 = try #require(listed.first { $0.name == "d0" })
        #expect(d0.kind == .veth && d0.mtu == 1280 && d0.group == 42 && d0.macAddress == mac && !d0.isUp)
    }

    @Test func deleteGroupRemovesAllMembersInOneRequest() throws {
        let ns = try TestNamespace("group")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br0")
        let taps = try host.createTAPs((0..<20).map { _ in TAPOptions(persistent: true, bridge: "br0", interfaceGroup: 7) })
        taps.forEach { $0.close() }
        #expect(try ns.json("link", "show", "group", "7").count == 20)
        try host.deleteGroup(7)
        #expect(try ns.json("link", "show", "group", "7").isEmpty)
        #expect(try ns.linkNames() == ["lo", "br0"])
        #expect(throws: HostNetworkError.self) { try host.deleteGroup(0) }
    }
}
