import CLinuxNet
import Foundation
import HostNetwork
import Netlink
import NetlinkTestSupport
import NetlinkWire
import QNetTestSupport
import Testing

/// The hot paths read links with `LinkMessage(decodingTypedOnly:)` and `qnet show BRIDGE` with a
/// dump the kernel filters by master: both must give exactly what the full decode of a full
/// dump gives, on what this kernel really sends (bridges, TAP and veth ports, a VXLAN device,
/// an alias, a veth whose peer is in another namespace).
@Suite(.serialized, Privileged.enabled)
struct LinkDecodingTests {
    @Test func typedOnlyDecodeAndMasterFilterAgreeWithTheFullDump() throws {
        let ns = try TestNamespace("lkdec")
        let other = try TestNamespace("lkdec2")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br0")
        try host.createBridge("br1")
        for name in ["tp0", "tp1", "tp2"] {
            _ = try host.createTAP(TAPOptions(name: name, persistent: true, owner: 0, bridge: "br0"))
        }
        _ = try host.createTAP(TAPOptions(name: "tq0", persistent: true, bridge: "br1"))
        try host.createVeth("ve0", peer: "ve1", up: true)
        try host.setMaster("ve0", bridge: "br0")
        try host.createVeth("vx0", peer: "vx1", peerNamespace: NetworkNamespace(name: other.name))
        try ns.ip("link", "set", "tp1", "alias", "qnet:vm=web/0")
        try ns.ip("link", "add", "vxl0", "type", "vxlan", "id", "42", "dstport", "4789", "local", "127.0.0.1")

        // The full decode of a full dump (statistics included), the reference.
        let mask = LinkAttribute.unknown(RawAttribute(rawType: UInt16(IFLA_EXT_MASK), payload: AttributePayload.u32(0)))
        let messages = try host.connection.dump(.getLink, payload: LinkMessage(attributes: [mask]).encoded())
            .filter { $0.header.type == .newLink }
        #expect(messages.count >= 10)
        for message in messages {
            #expect(typedOnlyDecodeDisagreement(message.payload) == nil)
        }
        let reference = try messages.map { Link(message: try LinkMessage(payload: $0.payload)) }
        // linkStatistics() decodes typed-only too: the counters are there (they may have moved).
        let withStatistics = try host.linkStatistics()
        #expect(withStatistics.allSatisfy { $0.statistics != nil })
        func withoutCounters(_ links: [Link]) -> [Link] {
            links.map { link -> Link in
                var link = link
                link.statistics = nil
                return link
            }.sorted { $0.index < $1.index }
        }
        let readWithStatistics = withoutCounters(withStatistics), referenceLinks = withoutCounters(reference)
        #expect(readWithStatistics == referenceLinks)
        let decoded = try host.links()
        #expect(decoded.map(\.name).sorted() == reference.map(\.name).sorted())
        for link in decoded {
            var expected = try #require(reference.first { $0.index == link.index })
            expected.statistics = nil  // links() asks the kernel to leave them out
            #expect(link == expected)
        }
        #expect(decoded.first { $0.name == "tp1" }?.alias == "qnet:vm=web/0")
        #expect(decoded.first { $0.name == "vxl0" }?.vxlan?.vni == 42)
        #expect(decoded.first { $0.name == "vx0" }?.peerNamespaceID != nil)

        // The filtered dump: br0's ports, as `ip -j link show master br0` (the witness) lists them.
        let witness = try ns.json("link", "show", "master", "br0").compactMap { $0["ifname"] as? String }.sorted()
        #expect(witness == ["tp0", "tp1", "tp2", "ve0"])
        let entry = try host.bridgeWithPorts(named: "br0")
        #expect(entry.ports.map(\.name) == witness)
        #expect(entry.bridge == decoded.first { $0.name == "br0" })
        let unfiltered = try HostNetwork.bridgesWithPorts(decoded, only: "br0")
        #expect(unfiltered.count == 1)
        #expect(unfiltered.first?.ports == entry.ports)
        #expect(unfiltered.first?.bridge == entry.bridge)
        #expect(try host.bridgeWithPorts(named: "br1").ports.map(\.name) == ["tq0"])
        #expect(throws: HostNetworkError.noSuchDevice("nobr")) { try host.bridgeWithPorts(named: "nobr") }
        #expect(throws: HostNetworkError.notABridge("tp0", kind: .tun)) { try host.bridgeWithPorts(named: "tp0") }
    }
}
