import Foundation
import HostNetwork
import Netlink
import NetlinkWire
import QNetTestSupport
import QNetTypes
import Testing

/// The QEMU hook verbs (`qnet ifup` / `ifdown`) in a namespace, checked through `ip -j`.
@Suite(.serialized, Privileged.enabled)
struct HookTAPTests {
    /// A namespace with bridge br0 (MTU 1400, pinned MAC), a TAP tap0 with a non-fe: MAC,
    /// a veth pair, a TUN device and a second bridge br1.
    struct Fixture {
        let ns: TestNamespace
        let host: HostNetwork

        init(_ label: String) throws {
            ns = try TestNamespace(label)
            host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
            try host.createBridge("br0", mtu: 1400, macAddress: MACAddress("52:54:00:00:00:b0"))
            try host.createBridge("br1", macAddress: MACAddress("52:54:00:00:00:b1"))
            try ns.ip("tuntap", "add", "tap0", "mode", "tap")
            try ns.ip("link", "set", "tap0", "address", "02:00:00:00:00:01")
            try ns.ip("tuntap", "add", "tun0", "mode", "tun")
            try ns.ip("link", "add", "veth0", "mtu", "1500", "type", "veth", "peer", "name", "veth1")
            try ns.ip("link", "set", "veth0", "address", "02:00:00:00:00:02")
        }

        func link(_ name: String) throws -> [String: Any] { try #require(try ns.link(name)) }
    }

    @Test func attachGivesTheTAPTheBridgesMTUAnFEMACAndUp() throws {
        let fixture = try Fixture("hookup")
        try fixture.host.attachHookTAP("tap0", to: "br0")
        let tap = try fixture.link("tap0")
        #expect(tap["master"] as? String == "br0")
        #expect(tap["mtu"] as? Int == 1400)
        let mac = try #require(tap["address"] as? String)
        #expect(mac.hasPrefix("fe:"))
        #expect((tap["flags"] as? [String])?.contains("UP") == true)
        // The bridge kept its MAC and MTU.
        #expect(try fixture.link("br0")["address"] as? String == "52:54:00:00:00:b0")
        #expect(try fixture.link("br0")["mtu"] as? Int == 1400)

        // A TAP that already has an fe: MAC keeps it; attaching again changes nothing.
        let before = try fixture.ns.stateSummary()
        try fixture.host.attachHookTAP("tap0", to: "br0")
        #expect(try fixture.link("tap0")["address"] as? String == mac)
        #expect(try fixture.ns.stateSummary() == before)
    }

    @Test func detachLetsGoOfWhicheverBridgeUnlessOneIsNamed() throws {
        let fixture = try Fixture("hookdown")
        try fixture.host.attachHookTAP("tap0", to: "br0")
        let attached = try fixture.ns.stateSummary()
        #expect(throws: HostNetworkError.notAPort(port: "tap0", bridge: "br1")) { try fixture.host.detachHookTAP("tap0", from: "br1") }
        #expect(throws: HostNetworkError.notABridge("veth0", kind: .veth)) { try fixture.host.detachHookTAP("tap0", from: "veth0") }
        #expect(try fixture.ns.stateSummary() == attached)

        try fixture.host.detachHookTAP("tap0")
        let tap = try fixture.link("tap0")
        #expect(tap["master"] == nil)
        #expect((tap["flags"] as? [String])?.contains("UP") == false)
        // Again, with the bridge named: a TAP on no bridge is only taken down.
        try fixture.host.detachHookTAP("tap0", from: "br0")
        #expect(try fixture.link("tap0")["master"] == nil)
    }

    /// The hooks act only on TAPs, and a refusal changes nothing: not the bridge's pinned
    /// MAC (`ifup br0 --bridge br0` used to rewrite it), not a veth's MAC and MTU, not lo.
    @Test func refusalsChangeNothing() throws {
        let fixture = try Fixture("hookbad")
        try fixture.host.attachHookTAP("tap0", to: "br1")
        let before = try fixture.ns.stateSummary()
        let host = fixture.host

        #expect(throws: HostNetworkError.notATAP("br0", kind: .bridge)) { try host.attachHookTAP("br0", to: "br0") }
        #expect(throws: HostNetworkError.notATAP("br0", kind: .bridge)) { try host.detachHookTAP("br0") }
        #expect(throws: HostNetworkError.notATAP("veth0", kind: .veth)) { try host.attachHookTAP("veth0", to: "br0") }
        #expect(throws: HostNetworkError.notATAP("tun0", kind: .tun)) { try host.attachHookTAP("tun0", to: "br0") }
        #expect(throws: HostNetworkError.notATAP("lo", kind: nil)) { try host.detachHookTAP("lo") }
        #expect(throws: HostNetworkError.notATAP("lo", kind: nil)) { try host.attachHookTAP("lo", to: "br0") }
        #expect(throws: HostNetworkError.alreadyEnslaved(port: "tap0", master: "br1")) { try host.attachHookTAP("tap0", to: "br0") }
        #expect(throws: HostNetworkError.notABridge("veth0", kind: .veth)) { try host.attachHookTAP("tap0", to: "veth0") }
        #expect(throws: HostNetworkError.noSuchDevice("nobr0")) { try host.attachHookTAP("tap0", to: "nobr0") }
        #expect(throws: HostNetworkError.noSuchDevice("nope0")) { try host.attachHookTAP("nope0", to: "br0") }

        #expect(try fixture.ns.stateSummary() == before)
        #expect(try fixture.link("br0")["address"] as? String == "52:54:00:00:00:b0")
        #expect(try fixture.link("veth0")["address"] as? String == "02:00:00:00:00:02")
        #expect(try fixture.link("veth0")["mtu"] as? Int == 1500)
        #expect((try fixture.link("lo")["flags"] as? [String])?.contains("UP") == true)
    }
}
