import Foundation
import HostNetwork
import Netlink
import NetlinkWire
import QNetTestSupport
import Testing

@Suite(.serialized, Privileged.enabled)
struct TAPTests {
    @Test func transientTAPJoinsBridgeWithItsMTUAndVanishesOnClose() throws {
        let ns = try TestNamespace("tap")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br0", mtu: 1400)
        let bridgeMAC = try ns.link("br0")?["address"] as? String

        let tap = try host.createTAP(TAPOptions(name: "tap%d", vnetHeader: true, bridge: "br0", interfaceGroup: 5))
        #expect(tap.name.hasPrefix("tap") && tap.name != "tap%d")
        let link = try #require(try ns.link(tap.name))
        #expect(link["master"] as? String == "br0")
        #expect(link["mtu"] as? Int == 1400)
        #expect(link["group"] as? String == "5")
        #expect((link["address"] as? String)?.hasPrefix("fe:") == true)
        #expect((link["flags"] as? [String])?.contains("UP") == true)
        let info = try #require((link["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        #expect(info["type"] as? String == "tap")
        #expect(info["pi"] as? Bool == false)
        #expect(info["vnet_hdr"] as? Bool == true)
        #expect(info["persist"] as? Bool == false)
        // The bridge kept its MAC and MTU as the TAP joined.
        #expect(try ns.link("br0")?["address"] as? String == bridgeMAC)
        #expect(try ns.link("br0")?["mtu"] as? Int == 1400)

        tap.close()
        #expect(try waitUntil(timeout: 2) { try ns.link(tap.name) == nil })
    }

    @Test func multiQueuePersistentTAPWithOwnerSurvivesClose() throws {
        let ns = try TestNamespace("mq")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        let tap = try host.createTAP(TAPOptions(name: "mq0", queues: 4, persistent: true, owner: 65534, group: 65534, keepDescriptors: true))
        #expect(tap.descriptors.count == 4)
        let info = try #require(((try ns.link("mq0"))?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        #expect(info["multi_queue"] as? Bool == true)
        #expect(info["persist"] as? Bool == true)
        #expect(info["user"] as? String == "nobody" || info["user"] as? Int == 65534)
        tap.close()
        #expect(try ns.link("mq0") != nil)
        let listed = try #require(try host.taps().first { $0.name == "mq0" })
        #expect(listed.tun?.persistent == true && listed.tun?.multiQueue == true && listed.tun?.owner == 65534)
        try host.deleteTAP("mq0")
        #expect(try ns.link("mq0") == nil)
    }

    @Test func takenNameAndBadOptionsLeaveNothingBehind() throws {
        let ns = try TestNamespace("tapbad")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br0")
        try ns.ip("link", "add", "taken0", "type", "veth", "peer", "name", "taken0p")
        let before = try ns.linkNames()
        #expect(throws: HostNetworkError.alreadyExists("taken0")) { try host.createTAP(TAPOptions(name: "taken0", bridge: "br0")) }
        #expect(throws: HostNetworkError.noSuchDevice("nobr")) { try host.createTAP(TAPOptions(name: "t1", bridge: "nobr")) }
        #expect(throws: HostNetworkError.notABridge("taken0", kind: .veth)) { try host.createTAP(TAPOptions(name: "t1", bridge: "taken0")) }
        #expect(throws: HostNetworkError.self) { try host.createTAP(TAPOptions(name: "t1", queues: 0)) }
        #expect(throws: HostNetworkError.self) { try host.createTAP(TAPOptions(name: "t%d%d")) }
        #expect(throws: HostNetworkError.self) { try host.deleteTAP("taken0") }
        // A batch whose second TAP fails leaves no first TAP behind either.
        #expect(throws: HostNetworkError.self) {
            try host.createTAPs([TAPOptions(name: "ok0", persistent: true, bridge: "br0"), TAPOptions(name: "taken0", persistent: true)])
        }
        #expect(try ns.linkNames() == before)
    }
}
