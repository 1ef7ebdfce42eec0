import Foundation
import PCIDevices
import PCITestSupport
import Testing

/// Enumeration over fixture trees: addresses, names from a pci.ids fixture, drivers,
/// interfaces, NUMA nodes, IOMMU groups and their members, SR-IOV state and VF links.
@Suite struct ListTests {
    static let pciIDs = """
        # pci.ids fixture
        8086  Intel Corporation
        \t10d3  82574L Gigabit Network Connection
        \t\t8086 a01f  Gigabit CT Desktop Adapter
        1b36  Red Hat, Inc.
        \t0010  QEMU NVM Express Controller
        C 01  Mass storage controller
        \t08  Non-Volatile memory controller
        C 02  Network controller
        \t00  Ethernet controller

        """

    @Test func addressesParseInBothFormsAndRejectTheRest() {
        #expect(PCIAddress("0000:01:00.0")?.description == "0000:01:00.0")
        #expect(PCIAddress("01:00.1") == PCIAddress(domain: 0, bus: 1, device: 0, function: 1))
        #expect(PCIAddress("10000:e0:1F.7")?.description == "10000:e0:1f.7")
        #expect(PCIAddress("ABCD:ff:1f.7")?.domain == 0xabcd)
        for bad in ["", "01:00", "01:00.8", "01:20.0", "0000:01:00", "g0:00.0", "0000:001:00.0", "0000:01:00.0.1", "0000:01:00.01", "eth0", "01.00.0"] {
            #expect(PCIAddress(bad) == nil, "\(bad) should not parse")
        }
        #expect(PCIAddress("0000:00:1f.3")! < PCIAddress("0000:01:00.0")!)
        #expect(PCIAddress.invalidMessage("x").contains("DDDD:BB:DD.F"))
    }

    @Test func pciIDsGiveVendorDeviceAndClassNames() {
        let names = PCIIDs(text: Self.pciIDs)
        #expect(names.vendor(0x8086) == "Intel Corporation")
        #expect(names.device(vendor: 0x8086, device: 0x10d3) == "82574L Gigabit Network Connection")
        #expect(names.device(vendor: 0x1b36, device: 0x10d3) == nil)
        #expect(names.className(0x020000) == "Ethernet controller")
        #expect(names.className(0x010802) == "Non-Volatile memory controller")
        // Without the database, the specification's base class names.
        #expect(PCIIDs().className(0x028000) == "Network controller")
        #expect(PCIIDs().vendor(0x8086) == nil)
    }

    @Test func listShowsEveryFieldFromTheTree() throws {
        let fixture = try PCIFixture()
        try FileManager.default.createDirectory(atPath: fixture.root + "/usr/share/misc", withIntermediateDirectories: true)
        try Self.pciIDs.write(toFile: fixture.root + "/usr/share/misc/pci.ids", atomically: false, encoding: .utf8)
        try fixture.addFunction("0000:00:01.0", classCode: "0x060400", driver: "pcieport", group: 1)
        try fixture.addFunction("0000:01:00.0", driver: "e1000e", group: 1, interfaces: ["enp1s0"], numaNode: 0)
        try fixture.addFunction("0000:02:00.0", classCode: "0x010802", vendor: "0x1b36", device: "0x0010", driver: "nvme", group: 2, totalVFs: 4)
        fixture.virtualFunctionAddress["0000:02:00.0"] = { PCIAddress(domain: 0, bus: 2, device: 0, function: UInt8($0 + 1)) }
        let host = fixture.host()
        let transaction = fixture.transaction(host)
        try host.setVFCount(PCIAddress("0000:02:00.0")!, to: 2, in: transaction)
        try transaction.commit()

        let functions = host.functions()
        #expect(functions.map(\.address.description) == ["0000:00:01.0", "0000:01:00.0", "0000:02:00.0", "0000:02:00.1", "0000:02:00.2"])
        let nic = try #require(host.function(PCIAddress("01:00.0")!))
        #expect(nic.isNetwork && !nic.isBridge && !nic.isVirtualFunction)
        #expect(nic.vendorDevice == "8086:10d3")
        #expect(nic.displayName == "Intel Corporation 82574L Gigabit Network Connection")
        #expect(nic.className == "Ethernet controller")
        #expect(nic.driver == "e1000e")
        #expect(nic.driverOverride == nil)
        #expect(nic.interfaces == ["enp1s0"])
        #expect(nic.numaNode == 0)
        #expect(nic.iommuGroup == 1)
        #expect(nic.groupPeers == [PCIAddress("0000:00:01.0")!])
        #expect(nic.sriov == nil)
        #expect(nic.label == "0000:01:00.0 (enp1s0)")

        let pf = try #require(host.function(PCIAddress("0000:02:00.0")!))
        #expect(!pf.isNetwork)
        #expect(pf.displayName == "Red Hat, Inc. QEMU NVM Express Controller")
        #expect(pf.numaNode == nil)
        #expect(pf.sriov == SRIOVState(totalVFs: 4, numVFs: 2, driversAutoprobe: true, virtualFunctions: [
            VirtualFunction(index: 0, address: PCIAddress("0000:02:00.1")!),
            VirtualFunction(index: 1, address: PCIAddress("0000:02:00.2")!),
        ]))
        let vf = try #require(host.function(PCIAddress("0000:02:00.2")!))
        #expect(vf.physicalFunction == pf.address)
        #expect(vf.virtualFunctionIndex == 1)
        #expect(vf.iommuGroup != nil && vf.iommuGroup != pf.iommuGroup)
        #expect(host.iommuGroups().count == 4)
        #expect(host.groupMembers(1).map(\.description) == ["0000:00:01.0", "0000:01:00.0"])
    }

    @Test func aHostWithoutIOMMUListsFunctionsWithoutGroups() throws {
        let fixture = try PCIFixture()
        try fixture.addFunction("0000:00:03.0", vendor: "0x1af4", device: "0x1041", driver: "virtio-pci")
        // virtio-net's interface hangs off the virtio device, not the PCI function.
        try FileManager.default.createDirectory(atPath: fixture.devices + "/0000:00:03.0/virtio0/net/eth0", withIntermediateDirectories: true)
        let host = fixture.host()
        let function = try #require(host.function(PCIAddress("00:03.0")!))
        #expect(function.iommuGroup == nil && function.groupPeers.isEmpty)
        #expect(function.interfaces == ["eth0"])
        #expect(function.displayName == "device 1af4:1041")
        #expect(host.iommuGroups().isEmpty)
        #expect(host.function(PCIAddress("00:04.0")!) == nil)
        #expect(throws: PCIError.notFound(PCIAddress("00:04.0")!)) { try host.existingFunction(PCIAddress("00:04.0")!) }
    }

    @Test func theRealHostListsWithoutCrashing() {
        // Whatever this machine has (no IOMMU here): every function has an address and a class.
        let host = PCIHost(sysfs: .host, stateDirectory: NSTemporaryDirectory() + "qnet-pci-unused")
        let functions = host.functions()
        let directory = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/pci/devices")) ?? []
        #expect(functions.count == directory.count)
        for function in functions { #expect(function.vendorID != 0xffff, "\(function.address)") }
    }
}
