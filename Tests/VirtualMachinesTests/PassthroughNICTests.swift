import Foundation
import QEMU
import QNetTestSupport
@testable import VirtualMachines
import Testing

/// `--nic pci=ADDR` and `--nic vf=PF:INDEX[,mac=M][,vlan=ID]`: parsing, the YAML form, and
/// the QEMU command line `vm run` gives such a VM (golden files; tier 1).
struct PassthroughNICTests {
    @Test func pciAndVFNICsParse() throws {
        let pci = try #require(try NICSpec.parse("pci=0000:03:00.0"))
        #expect(pci.attachment == .pci("0000:03:00.0") && pci.isPassthrough)
        let vf = try #require(try NICSpec.parse("vf=enp3s0f0:2,mac=52:54:00:aa:bb:cc,vlan=10"))
        #expect(vf.attachment == .vf(VirtualFunctionNIC(pf: "enp3s0f0", index: 2, vlan: 10)))
        #expect(vf.mac == "52:54:00:aa:bb:cc")
        // A PF named by its PCI address: the index is after the last ':'.
        let byAddress = try #require(try NICSpec.parse("vf=0000:03:00.0:7"))
        #expect(byAddress.attachment == .vf(VirtualFunctionNIC(pf: "0000:03:00.0", index: 7)))
    }

    /// Each refusal is one line naming the bad value and what is allowed.
    @Test(arguments: [
        ("pci=03:00.0", "'03:00.0'"),
        ("pci=0000:03:00.0,model=e1000", "'model'"),
        ("pci=0000:03:00.0,mac=52:54:00:00:00:01", "'mac'"),
        ("vf=enp3s0f0", "'enp3s0f0'"),
        ("vf=enp3s0f0:x", "'enp3s0f0:x'"),
        ("vf=enp3s0f0:256", "'enp3s0f0:256'"),
        ("vf=enp3s0f0:1,vlan=4095", "'4095'"),
        ("vf=enp3s0f0:1,vlan=ten", "'ten'"),
        ("vf=enp3s0f0:1,queues=2", "'queues'"),
        ("vf=enp3s0f0:1,mac=01:00:5e:00:00:01", "'01:00:5e:00:00:01'"),
        ("vf=bad/name:1", "'bad/name'"),
        ("bridge=br0,vlan=10", "'vlan=10'"),
    ])
    func badPassthroughNICsAreRefusedNamingTheValue(text: String, named: String) {
        do {
            _ = try NICSpec.parse(text)
            Issue.record("\(text) was accepted")
        } catch {
            let message = "\(error)"
            #expect(message.contains(named), "\(text): \(message)")
            #expect(!message.contains("\n"), "\(message)")
        }
    }

    /// The YAML form round-trips (`pci:`, `vf:` + `vlan:` + `mac:`), and `vlan` without `vf` is refused.
    @Test func yamlFormRoundTrips() throws {
        let definition = VMDefinition(name: "db", nics: [
            NICSpec(.pci("0000:03:00.0")),
            NICSpec(.vf(VirtualFunctionNIC(pf: "enp3s0f0", index: 2, vlan: 10)), mac: "52:54:00:aa:bb:cc"),
        ])
        let data = try JSONEncoder().encode(definition)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"pci\":\"0000:03:00.0\"") && text.contains("\"vf\":\"enp3s0f0:2\"") && text.contains("\"vlan\":10"), "\(text)")
        #expect(try JSONDecoder().decode(VMDefinition.self, from: data) == definition)
        let bad = Data(#"{"name":"x","nics":[{"bridge":"br0","vlan":3}]}"#.utf8)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(VMDefinition.self, from: bad) }
    }

    /// `vm run db --memory 4G --nic pci=0000:03:00.0` and `--nic vf=enp3s0f0:2` beside a TAP
    /// NIC: the vfio-pci devices follow the emulated NICs, on q35 (golden files).
    @Test func passthroughCommandLinesAreGolden() throws {
        let tap = NetworkInterface(id: "net0", backend: .tap(TAPBackend(descriptors: [4])),
                                   macAddress: GuestMAC.derived(vm: "db", nicIndex: 0))
        for (file, nic, address) in [("vm-nic-pci.args", "pci=0000:03:00.0", "0000:03:00.0"),
                                     ("vm-nic-vf.args", "vf=enp3s0f0:2,vlan=10", "0000:03:10.4")] {
            let definition = try VMDefinition.load(path: nil, overrides: VMOverrides(
                name: "db", memory: 4096, cpus: 2, disks: ["/dev/fdset/1"], nics: ["bridge=br0", nic]))
            let argv = try QEMUArgumentsBuilder.arguments(
                for: definition, accel: .kvm, qmpSocketDescriptor: 3, consoleLog: "/dev/fdset/0",
                descriptorSets: [DescriptorSet(set: 0, descriptors: [5]), DescriptorSet(set: 1, descriptors: [6, 7])],
                diskFormats: [.raw], networkInterfaces: [tap], hostDevices: QEMUArgumentsBuilder.hostDevices([1: address]))
            #expect(argv.contains("q35,graphics=off"))
            try GoldenFile.check(file, argv.joined(separator: "\n") + "\n", suite: "PassthroughNICTests")
        }
    }
}
