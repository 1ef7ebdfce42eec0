import Foundation
import Testing
@testable import VirtualMachines

/// What FuzzImporters found (its inputs are kept as seeds in Fuzz/Seeds/importers/finding-*):
/// an imported file must load back as the object the importer made.
@Suite struct ImportFindingTests {
    /// An ifcfg bridge with an uplink whose only address is unusable (a broken NETMASK) has no
    /// addresses: written as `addresses: []`, not left out (which reads back as `keep`).
    @Test func aBridgeWithAnUplinkAndNoAddressesLoadsBackWithNone() throws {
        let result = IfcfgImporter.translate([
            IfcfgImporter.parse(name: "ifcfg-br0", text: "DEVICE=br0\nTYPE=Bridge\nBOOTPROTO=none\nIPADDR=192.168.100.10\nNETMASK=255.255.255.0$\n"),
            IfcfgImporter.parse(name: "ifcfg-eth0", text: "DEVICE=eth0\nBRIDGE=br0\n"),
        ])
        let bridge = try #require(result.bridges.first)
        #expect(bridge.uplink == "eth0" && bridge.addressing == .list([]))
        #expect(result.untranslated.contains { $0.contains("NETMASK") })
        let text = try ConfigurationText.yaml(bridge)
        #expect(text.contains("addresses: []"), "\(text)")
        #expect(try DefinitionYAML.decode(BridgeConfig.self, from: text, file: "br0.yaml") == bridge)
    }

    /// A netplan hello-time of 0 (the kernel needs 1 to 10 s) is left out and reported, so the
    /// imported file loads.
    @Test func aBridgeOptionApplyWouldRefuseIsLeftOutAndReported() throws {
        let result = try NetplanImporter.translate(text: """
            network:
              version: 2
              bridges:
                br0:
                  addresses: [192.0.2.1/24]
                  parameters:
                    hello-time: 0
                    max-age: 20
            """)
        let bridge = try #require(result.bridges.first)
        #expect(bridge.options.helloTime == nil && bridge.options.maxAge == 20)
        #expect(result.untranslated.contains { $0.contains("hello time 0") && $0.contains("1 to 10") }, "\(result.untranslated)")
        let text = try ConfigurationText.yaml(bridge)
        #expect(try DefinitionYAML.decode(BridgeConfig.self, from: text, file: "br0.yaml") == bridge)
    }
}
