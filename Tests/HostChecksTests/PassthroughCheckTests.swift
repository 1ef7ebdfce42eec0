import Foundation
@testable import HostChecks
import PCIDevices
import QNetTestSupport
import Testing

/// `qnet doctor --passthrough` over fixture trees: no IOMMU at all (this machine), an
/// IOMMU the firmware reports but the kernel left off, and a ready host with a NIC alone in
/// its group and one sharing it.
@Suite struct PassthroughCheckTests {
    func check(_ checks: [CheckResult], _ id: String) throws -> CheckResult {
        try #require(checks.first { $0.id == id }, "no \(id) in \(checks.map(\.id))")
    }

    /// A PCI function under sys/bus/pci/devices, optionally in an IOMMU group.
    func function(_ fixture: Fixture, _ address: String, classCode: String = "0x020000", driver: String?, group: Int?, net: String? = nil) throws {
        let path = "sys/bus/pci/devices/" + address
        for (name, value) in [("class", classCode), ("vendor", "0x8086"), ("device", "0x10d3"), ("driver_override", "(null)")] {
            try fixture.write(path + "/" + name, value + "\n")
        }
        if let driver {
            try fixture.makeDirectory("sys/bus/pci/drivers/" + driver)
            try FileManager.default.createSymbolicLink(atPath: fixture.full(path + "/driver"), withDestinationPath: "../../drivers/" + driver)
        }
        if let group {
            try fixture.makeDirectory("sys/kernel/iommu_groups/\(group)/devices")
            try FileManager.default.createSymbolicLink(atPath: fixture.full("sys/kernel/iommu_groups/\(group)/devices/" + address),
                                                       withDestinationPath: "../../../../bus/pci/devices/" + address)
            try FileManager.default.createSymbolicLink(atPath: fixture.full(path + "/iommu_group"), withDestinationPath: "../../../../kernel/iommu_groups/\(group)")
        }
        if let net { try fixture.makeDirectory(path + "/net/" + net) }
    }

    @Test func noIOMMUAtAllIsSaidClearlyAndOnlyWhenAsked() throws {
        let fixture = try Fixture()
        try fixture.kernel(config: "# CONFIG_VFIO_PCI is not set\n")
        try fixture.write("proc/cpuinfo", "vendor_id\t: GenuineIntel\n")
        try fixture.write("proc/cmdline", "console=ttyS0 quiet\n")
        try fixture.write("proc/interrupts", "  24:  1  PCI-MSI 65536-edge  eth0\n")
        try function(fixture, "0000:00:03.0", driver: "virtio-pci", group: nil, net: "eth0")
        var options = DoctorOptions(root: fixture.root)
        options.probeKVM = false
        #expect(!HostDoctor.run(options).checks.contains { $0.id.hasPrefix("iommu.") || $0.id.hasPrefix("vfio.") })

        options.passthrough = true
        let checks = HostDoctor.run(options).checks
        let iommu = try check(checks, "iommu.enabled")
        #expect(iommu.status == .fail)
        #expect(iommu.found.hasPrefix("none: no ACPI DMAR/IVRS table") && iommu.found.contains("impossible on this host"))
        #expect(iommu.remedy?.contains("VT-d") == true && iommu.remedy?.contains("intel_iommu=on iommu=pt") == true)
        let cmdline = try check(checks, "iommu.cmdline")
        #expect(cmdline.status == .fail && cmdline.remedy?.contains("add intel_iommu=on iommu=pt") == true)
        let vfio = try check(checks, "vfio.driver")
        #expect(vfio.status == .fail && vfio.found.contains("CONFIG_VFIO_PCI=not set"))
        let remapping = try check(checks, "iommu.interrupt-remapping")
        #expect(remapping.status == .fail && remapping.found.contains("allow_unsafe_interrupts=1"))
        let group = try check(checks, "iommu.group.0000:00:03.0")
        #expect(group.status == .warn && group.found == "0000:00:03.0 (eth0) has no IOMMU group (no IOMMU, see iommu.enabled)")
    }

    @Test func anIOMMUTheKernelLeftOffNamesTheParameter() throws {
        let fixture = try Fixture()
        try fixture.kernel(config: nil)
        try fixture.write("proc/cpuinfo", "vendor_id\t: GenuineIntel\n")
        try fixture.write("proc/cmdline", "root=/dev/sda1 ro\n")
        try fixture.write("sys/firmware/acpi/tables/DMAR", "binary")
        try fixture.makeDirectory("sys/class/iommu/dmar0")
        let checks = PassthroughChecks.run(fixture.root, devices: [], config: nil)
        let iommu = try check(checks, "iommu.enabled")
        #expect(iommu.status == .fail && iommu.found.hasPrefix("present but off: the firmware reports one (ACPI DMAR table, dmar0)"))
        #expect(iommu.remedy?.hasPrefix("boot with intel_iommu=on iommu=pt") == true)

        try fixture.write("proc/cmdline", "root=/dev/sda1 ro intel_iommu=off\n")
        let off = try check(PassthroughChecks.run(fixture.root, devices: [], config: nil), "iommu.cmdline")
        #expect(off.status == .fail && off.found.hasPrefix("intel_iommu=off on the kernel command line"))
        #expect(off.remedy?.hasPrefix("replace intel_iommu=off with intel_iommu=on iommu=pt") == true)
    }

    @Test func aReadyHostPassesAndASharedGroupIsNamed() throws {
        let fixture = try Fixture()
        try fixture.kernel(release: "6.1.0-test", config: nil)
        try fixture.write("proc/cpuinfo", "vendor_id\t: GenuineIntel\n")
        try fixture.write("proc/cmdline", "root=/dev/sda1 ro intel_iommu=on iommu=pt\n")
        try fixture.write("proc/interrupts", "  40:  1  IR-PCI-MSI 524288-edge  enp1s0\n")
        try fixture.makeDirectory("sys/class/iommu/dmar0")
        try function(fixture, "0000:01:00.0", driver: "e1000e", group: 12, net: "enp1s0")
        try function(fixture, "0000:02:00.0", driver: "igb", group: 13, net: "enp2s0f0")
        try function(fixture, "0000:02:00.1", driver: "igb", group: 13, net: "enp2s0f1")
        try function(fixture, "0000:00:1c.0", classCode: "0x060400", driver: "pcieport", group: 13)
        // vfio-pci as a loadable module only.
        try fixture.write("usr/lib/modules/6.1.0-test/modules.dep", "kernel/drivers/vfio/pci/vfio-pci.ko.xz: kernel/drivers/vfio/vfio.ko.xz\n")

        let checks = PassthroughChecks.run(fixture.root, devices: [], config: nil)
        #expect(checks.map(\.id) == ["iommu.enabled", "iommu.cmdline", "vfio.driver", "iommu.interrupt-remapping",
                                     "iommu.group.0000:01:00.0", "iommu.group.0000:02:00.0", "iommu.group.0000:02:00.1"])
        #expect(try check(checks, "iommu.enabled").found == "on: 2 IOMMU groups in \(fixture.root.sys)/kernel/iommu_groups (units: dmar0)")
        #expect(try check(checks, "iommu.cmdline").status == .ok)
        #expect(try check(checks, "vfio.driver").found.contains("loadable module"))
        #expect(try check(checks, "iommu.interrupt-remapping").status == .ok)
        let alone = try check(checks, "iommu.group.0000:01:00.0")
        #expect(alone.status == .ok && alone.found == "0000:01:00.0 (enp1s0): group 12, alone in it")
        let shared = try check(checks, "iommu.group.0000:02:00.0")
        #expect(shared.status == .warn)
        #expect(shared.found == "0000:02:00.0 (enp2s0f0): group 13 is shared with 0000:02:00.1 (enp2s0f1) [igb]; VFIO assigns whole groups")
        #expect(shared.remedy?.hasPrefix("assign them together: qnet pci bind 0000:02:00.0 --group") == true)

        // --pci names one function (any class); an unknown address fails.
        let chosen = PassthroughChecks.run(fixture.root, devices: [PCIAddress("00:1c.0")!, PCIAddress("09:00.0")!], config: nil)
        #expect(chosen.suffix(2).map(\.id) == ["iommu.group.0000:00:1c.0", "iommu.group.0000:09:00.0"])
        #expect(chosen.last?.status == .fail)

        // Without remapping: refused by vfio unless allow_unsafe_interrupts, which is named.
        try fixture.write("proc/interrupts", "  40:  1  PCI-MSI 524288-edge  enp1s0\n")
        let noRemapping = try check(PassthroughChecks.run(fixture.root, devices: [], config: nil), "iommu.interrupt-remapping")
        #expect(noRemapping.status == .warn && noRemapping.remedy?.contains("allow_unsafe_interrupts=1") == true)
        try fixture.write("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "Y\n")
        let unsafe = try check(PassthroughChecks.run(fixture.root, devices: [], config: nil), "iommu.interrupt-remapping")
        #expect(unsafe.status == .warn && unsafe.found.contains("allow_unsafe_interrupts=Y"))

        try fixture.makeDirectory("sys/bus/pci/drivers/vfio-pci")
        #expect(try check(PassthroughChecks.run(fixture.root, devices: [], config: nil), "vfio.driver").found.hasPrefix("present"))
    }
}
