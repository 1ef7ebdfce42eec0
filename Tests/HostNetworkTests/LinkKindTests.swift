import CLinuxNet
import HostNetwork
import NetlinkWire
import Testing

/// LinkKind and what Link derives from a kernel message (tier 1: no kernel).
@Suite struct LinkKindTests {
    @Test func kernelNamesMapToCasesAndBack() {
        for name in ["bridge", "tun", "veth", "vxlan", "vlan", "macvlan", "macvtap", "ipvlan", "dummy", "bond", "vrf", "wireguard", "geneve"] {
            let kind = LinkKind(kernelName: name)
            #expect(kind.kernelName == name)
            if case .other = kind { Issue.record("'\(name)' should have its own case") }
        }
        #expect(LinkKind(kernelName: "bridge") == .bridge)
        #expect(LinkKind(kernelName: "ip6gre") == .other("ip6gre"))
        #expect(LinkKind(kernelName: "ip6gre").description == "ip6gre")
        // Equality and hashing follow the kernel's name, however the value was made.
        #expect(LinkKind.other("veth") == .veth)
        #expect(Set([LinkKind.other("veth"), .veth]).count == 1)
        #expect(LinkKind.tun != .bridge)
    }

    @Test func linkTellsTAPFromTUNAndLoopback() {
        func link(kind: String?, tunType: Int32? = nil, flags: InterfaceFlags = []) -> Link {
            var info: [LinkInfoAttribute] = []
            if let kind { info.append(.kind(kind)) }
            if let tunType { info.append(.tunData([.type(UInt8(tunType))])) }
            return Link(message: LinkMessage(index: 3, flags: flags, attributes: [.name("x0")] + (info.isEmpty ? [] : [.linkInfo(info)])))
        }
        let tap = link(kind: "tun", tunType: IFF_TAP)
        #expect(tap.kind == .tun && tap.isTAP && !tap.isBridge)
        let tun = link(kind: "tun", tunType: IFF_TUN)
        #expect(tun.kind == .tun && !tun.isTAP)
        let veth = link(kind: "veth")
        #expect(veth.kind == .veth && !veth.isTAP)
        let loopback = link(kind: nil, flags: .loopback)
        #expect(loopback.kind == nil && loopback.isLoopback && !loopback.isTAP)
        let bridge = link(kind: "bridge")
        #expect(bridge.isBridge && bridge.bridge != nil && bridge.tun == nil)
    }
}
