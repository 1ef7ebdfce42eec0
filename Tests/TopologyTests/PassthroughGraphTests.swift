import HostNetwork
import PCIDevices
import QNetTestSupport
import Testing
@testable import Topology
import VirtualMachines

/// Passthrough functions in `qnet show --graph` (issue 16): every function on vfio-pci, from
/// the PCI functions the host lists, with the VM and NIC whose passthrough it is (from the
/// VM's state); a VF hangs off its PF's interface. Golden DOT (tier 1).
struct PassthroughGraphTests {
    static let pf = PCIAddress("0000:04:00.0")!
    static let vf = PCIAddress("0000:04:10.2")!
    static let nic = PCIAddress("0000:03:00.0")!

    /// A PF (enp4s0f0, ixgbe) with VF 1 on vfio-pci for VM db's NIC 1 (MAC and VLAN 10),
    /// a whole NIC on vfio-pci for NIC 0, one function on vfio-pci no VM has, and an e1000e
    /// the host keeps (not drawn).
    static var functions: [PCIFunction] {
        [
            PCIFunction(address: nic, classCode: 0x020000, vendorID: 0x8086, deviceID: 0x10d3, vendorName: "Intel Corporation",
                        deviceName: "82574L Gigabit Network Connection", driver: "vfio-pci", iommuGroup: 7),
            PCIFunction(address: PCIAddress("0000:03:00.1")!, classCode: 0x020000, vendorID: 0x8086, deviceID: 0x10d3,
                        driver: "vfio-pci", iommuGroup: 8),
            PCIFunction(address: pf, classCode: 0x020000, vendorID: 0x8086, deviceID: 0x10fb, vendorName: "Intel Corporation",
                        deviceName: "82599ES 10-Gigabit SFI/SFP+ Network Connection", driver: "ixgbe", interfaces: ["enp4s0f0"], iommuGroup: 9),
            PCIFunction(address: vf, classCode: 0x020000, vendorID: 0x8086, deviceID: 0x10ed, vendorName: "Intel Corporation",
                        deviceName: "82599 Ethernet Controller Virtual Function", driver: "vfio-pci", iommuGroup: 12,
                        physicalFunction: pf, virtualFunctionIndex: 1),
            PCIFunction(address: PCIAddress("0000:05:00.0")!, classCode: 0x020000, vendorID: 0x8086, deviceID: 0x10d3,
                        driver: "e1000e", interfaces: ["enp5s0"], iommuGroup: 10),
        ]
    }

    static var records: [(vm: String, record: PassthroughRecord)] {
        var vfRecord = PassthroughRecord(nic: 1, address: vf.description, releaseOnEnd: true, group: 12)
        vfRecord.vf = VirtualFunctionRecord(pf: "enp4s0f0", index: 1, mac: "52:54:00:72:5a:5d", vlan: 10, previousMAC: nil, previousVLAN: 0)
        return [("db", PassthroughRecord(nic: 0, address: nic.description, releaseOnEnd: true, group: 7)), ("db", vfRecord)]
    }

    @Test func onlyVFIOFunctionsAreDrawnWithTheirVMs() {
        let nodes = TopologyBuilder.passthrough(Self.functions, records: Self.records)
        #expect(nodes.map(\.address) == ["0000:03:00.0", "0000:03:00.1", "0000:04:10.2"])
        #expect(nodes[0].vm == "db" && nodes[0].nic == 0 && nodes[0].mac == nil)
        #expect(nodes[1].vm == nil)
        #expect(nodes[2].pf == "enp4s0f0" && nodes[2].vfIndex == 1 && nodes[2].vm == "db" && nodes[2].nic == 1 && nodes[2].vlan == 10)
    }

    @Test func passthroughGolden() throws {
        let host = NamespaceTopology(name: "host", interfaces: [
            InterfaceNode(name: "enp4s0f0", role: .physical, addresses: ["192.168.1.10/24"]),
        ])
        let graph = TopologyGraph(namespaces: [host], passthrough: TopologyBuilder.passthrough(Self.functions, records: Self.records))
        let dot = DOTRenderer().render(graph)
        #expect(dot.contains("\"host/enp4s0f0\" -- \"pci/0000:04:10.2\""))
        try GoldenFile.check("passthrough.dot", dot, suite: "PassthroughGraphTests")
    }
}
