import Foundation
import PCIDevices
import PCITestSupport
import QNetSystem
import SystemPackage
import Testing

/// bind and release over a fixture tree with a simulated kernel: the exact sysfs writes
/// in order, the group and in-use refusals (nothing written), and the undo of each error.
@Suite struct BindTests {
    static let nic = PCIAddress("0000:01:00.0")!

    /// A NIC on e1000e alone in IOMMU group 5, vfio-pci present.
    func fixture() throws -> PCIFixture {
        let fixture = try PCIFixture()
        try fixture.addDriver("vfio-pci")
        try fixture.addFunction("0000:01:00.0", driver: "e1000e", group: 5, interfaces: ["enp1s0"])
        return fixture
    }

    @Test func bindThenReleaseWriteOverrideUnbindProbeInOrder() throws {
        let fixture = try fixture()
        let host = fixture.host()
        let before = fixture.state()

        let bind = fixture.transaction(host)
        let outcome = try host.bind(Self.nic, in: bind)
        try bind.commit()
        #expect(fixture.writeLog == [
            "/bus/pci/devices/0000:01:00.0/driver_override=vfio-pci",
            "/bus/pci/drivers/e1000e/unbind=0000:01:00.0",
            "/bus/pci/drivers_probe=0000:01:00.0",
        ])
        #expect(fixture.driver("0000:01:00.0") == "vfio-pci")
        #expect(fixture.override("0000:01:00.0") == "vfio-pci")
        #expect(outcome.bound.map(\.address) == [Self.nic])
        #expect(outcome.bound.map(\.previousDriver) == ["e1000e"])
        #expect(outcome.group == 5)
        #expect(host.memory(of: Self.nic) == PCIBindingMemory(previousDriver: "e1000e", previousOverride: nil))
        #expect(try fixture.journal.entries().entries.isEmpty)

        // A second bind changes nothing.
        fixture.clearWrites()
        let again = fixture.transaction(host)
        #expect(try host.bind(Self.nic, in: again).alreadyBound == [Self.nic])
        try again.commit()
        #expect(fixture.writeLog.isEmpty)

        let release = fixture.transaction(host)
        let released = try host.release(Self.nic, in: release)
        try release.commit()
        #expect(fixture.writeLog == [
            "/bus/pci/devices/0000:01:00.0/driver_override=\\n",
            "/bus/pci/drivers/vfio-pci/unbind=0000:01:00.0",
            "/bus/pci/drivers_probe=0000:01:00.0",
        ])
        #expect(released.released.map(\.driver) == ["e1000e"])
        #expect(fixture.state() == before)

        // Releasing again: nothing to do, nothing written.
        fixture.clearWrites()
        let twice = fixture.transaction(host)
        #expect(try host.release(Self.nic, in: twice).notBound == [Self.nic])
        try twice.commit()
        #expect(fixture.writeLog.isEmpty)
    }

    /// The record of a function's previous driver (what release writes back into sysfs)
    /// planted as a symlink: not read through, bind refuses to write through it (naming it,
    /// with the function back as it was), and the link and its target stay.
    @Test func aSymlinkedBindingRecordIsNeitherTrustedNorWrittenThrough() throws {
        let fixture = try fixture()
        let host = fixture.host()
        let target = fixture.root + "/planted.json"
        let planted = #"{"previousDriver":"evil"}"#
        try Data(planted.utf8).write(to: URL(fileURLWithPath: target))
        let link = fixture.root + "/state/\(Self.nic).json"
        #expect(symlink(target, link) == 0)
        let before = fixture.state()

        #expect(host.memory(of: Self.nic) == nil, "read through the planted link")
        let bind = fixture.transaction(host)
        let error = try #require(throws: SystemError.self) { _ = try host.bind(Self.nic, in: bind) }
        bind.rollBack()
        #expect(error.description.contains(link) && error.description.contains("symbolic link"), "\(error)")
        #expect(fixture.state() == before, "the function was left half-bound")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target)
        #expect(FileManager.default.contents(atPath: target) == Data(planted.utf8))
    }

    @Test func aFunctionAnotherToolBoundIsLeftAloneAndReleasedToTheProbedDriver() throws {
        let fixture = try fixture()
        try fixture.addFunction("0000:04:00.0", driver: "vfio-pci", group: 8)
        fixture.defaultDriver["0000:04:00.0"] = "e1000e"
        let host = fixture.host()
        let address = PCIAddress("0000:04:00.0")!
        let bind = fixture.transaction(host)
        #expect(try host.bind(address, in: bind).alreadyBound == [address])
        try bind.commit()
        #expect(fixture.writeLog.isEmpty)
        #expect(host.memory(of: address) == nil)
        let release = fixture.transaction(host)
        #expect(try host.release(address, in: release).released.map(\.driver) == ["e1000e"])
        try release.commit()
        #expect(fixture.writeLog == ["/bus/pci/drivers/vfio-pci/unbind=0000:04:00.0", "/bus/pci/drivers_probe=0000:04:00.0"])
    }

    @Test func aFunctionWithoutDriverIsProbedWithoutUnbindAndReleasedToNoDriver() throws {
        let fixture = try fixture()
        try fixture.addFunction("0000:03:00.0", driver: nil, group: 7)
        let host = fixture.host()
        let address = PCIAddress("0000:03:00.0")!
        let bind = fixture.transaction(host)
        try host.bind(address, in: bind)
        try bind.commit()
        #expect(fixture.writeLog == ["/bus/pci/devices/0000:03:00.0/driver_override=vfio-pci", "/bus/pci/drivers_probe=0000:03:00.0"])
        fixture.clearWrites()
        let release = fixture.transaction(host)
        #expect(try host.release(address, in: release).released.map(\.driver) == [nil])
        try release.commit()
        #expect(fixture.writeLog == ["/bus/pci/devices/0000:03:00.0/driver_override=\\n", "/bus/pci/drivers/vfio-pci/unbind=0000:03:00.0"])
        #expect(fixture.driver("0000:03:00.0") == nil)
    }

    @Test func aSharedGroupIsRefusedNamingItsMembersUnlessWholeGroup() throws {
        let fixture = try fixture()
        try fixture.addFunction("0000:01:00.1", driver: "e1000e", group: 5, interfaces: ["enp1s0f1"])
        try fixture.addFunction("0000:00:1c.0", classCode: "0x060400", driver: "pcieport", group: 5)
        try fixture.addFunction("0000:01:00.2", classCode: "0x0c0330", driver: nil, group: 5)
        let host = fixture.host()
        let before = fixture.state()
        let refused = fixture.transaction(host)
        let error = #expect(throws: PCIError.self) { try host.bind(Self.nic, in: refused) }
        refused.rollBack()
        // The bridge and the driverless function do not stop VFIO; the driven peer does.
        #expect(error == .groupShared(Self.nic, group: 5, peers: ["0000:01:00.1 (enp1s0f1) [e1000e]"]))
        #expect(error?.description.contains("--group") == true)
        #expect(fixture.writeLog.isEmpty)
        #expect(fixture.state() == before)

        let whole = fixture.transaction(host)
        let outcome = try host.bind(Self.nic, wholeGroup: true, in: whole)
        try whole.commit()
        #expect(outcome.bound.map(\.address.description) == ["0000:01:00.0", "0000:01:00.1"])
        #expect(fixture.driver("0000:01:00.1") == "vfio-pci")
        #expect(fixture.driver("0000:00:1c.0") == "pcieport")
        #expect(fixture.driver("0000:01:00.2") == nil)

        let release = fixture.transaction(host)
        #expect(try host.release(Self.nic, wholeGroup: true, in: release).released.count == 2)
        try release.commit()
        #expect(fixture.state() == before)
    }

    @Test func aFunctionTheHostUsesIsRefusedNamingTheUseUnlessForced() throws {
        let fixture = try fixture()
        let uses = HostUseReader { interfaces in
            interfaces == ["enp1s0"] ? ["enp1s0 has 192.0.2.10/24", "enp1s0 carries the default route"] : []
        }
        let host = fixture.host(hostUse: uses)
        let refused = fixture.transaction(host)
        let error = #expect(throws: PCIError.self) { try host.bind(Self.nic, in: refused) }
        refused.rollBack()
        #expect(error == .inUseByHost(Self.nic, uses: ["enp1s0 has 192.0.2.10/24", "enp1s0 carries the default route"]))
        #expect(error?.description.contains("--force") == true)
        #expect(fixture.writeLog.isEmpty)

        let forced = fixture.transaction(host)
        let outcome = try host.bind(Self.nic, force: true, in: forced)
        try forced.commit()
        #expect(outcome.overriddenUses.count == 2)
        #expect(fixture.driver("0000:01:00.0") == "vfio-pci")
    }

    @Test func noIOMMUGroupAndNoVFIODriverAreRefusedBeforeAnyWrite() throws {
        let fixture = try PCIFixture()
        try fixture.addFunction("0000:01:00.0", driver: "e1000e", group: nil)
        try fixture.addFunction("0000:02:00.0", driver: "e1000e", group: 9)
        let host = fixture.host()
        let transaction = fixture.transaction(host)
        #expect(throws: PCIError.noIOMMUGroup(Self.nic)) { try host.bind(Self.nic, in: transaction) }
        let error = #expect(throws: PCIError.self) { try host.bind(PCIAddress("02:00.0")!, in: transaction) }
        #expect(error == .vfioUnavailable(reason: "modprobe is not available in the fixture"))
        transaction.rollBack()
        #expect(fixture.writeLog.isEmpty)
        #expect(throws: PCIError.notFound(PCIAddress("0000:09:00.0")!)) { try host.bind(PCIAddress("09:00.0")!, in: transaction) }
    }

    @Test func vfioPCIIsLoadedWhenMissing() throws {
        let fixture = try PCIFixture()
        try fixture.addFunction("0000:01:00.0", driver: "e1000e", group: 5)
        let host = fixture.host()
        var loads = 0
        host.loadVFIO = {
            loads += 1
            try? fixture.addDriver("vfio-pci")  // what `modprobe vfio-pci` makes appear
            return nil
        }
        let transaction = fixture.transaction(host)
        try host.bind(Self.nic, in: transaction)
        try transaction.commit()
        #expect(loads == 1)
        #expect(fixture.driver("0000:01:00.0") == "vfio-pci")
    }

    @Test func aFailedProbeIsUndoneBackToTheOldDriver() throws {
        let fixture = try fixture()
        fixture.failures["/drivers_probe"] = .invalidArgument
        let host = fixture.host()
        let before = fixture.state()
        let transaction = fixture.transaction(host)
        let error = #expect(throws: PCIError.self) { try host.bind(Self.nic, in: transaction) }
        #expect(error?.description.hasPrefix("probe drivers for 0000:01:00.0: write '0000:01:00.0' to") == true)
        #expect(transaction.rollBack().isEmpty)
        #expect(fixture.writeLog == [
            "/bus/pci/devices/0000:01:00.0/driver_override=vfio-pci",
            "/bus/pci/drivers/e1000e/unbind=0000:01:00.0",
            "/bus/pci/drivers_probe=0000:01:00.0",
            // the undo: override cleared, probed back to e1000e
            "/bus/pci/devices/0000:01:00.0/driver_override=\\n",
            "/bus/pci/drivers_probe=0000:01:00.0",
        ])
        #expect(fixture.state() == before)
        #expect(try fixture.journal.entries().entries.isEmpty)
    }

    @Test func vfioRefusingTheFunctionIsReportedAndUndone() throws {
        let fixture = try fixture()
        fixture.probeRefuses = ["vfio-pci"]
        let host = fixture.host()
        let before = fixture.state()
        let transaction = fixture.transaction(host)
        let error = #expect(throws: PCIError.self) { try host.bind(Self.nic, in: transaction) }
        #expect(error == .bindFailed(Self.nic, driver: "vfio-pci", found: nil))
        #expect(transaction.rollBack().isEmpty)
        #expect(fixture.state() == before)
    }

    @Test func aFailedUnbindIsUndone() throws {
        let fixture = try fixture()
        fixture.failures["/drivers/e1000e/unbind"] = .operationNotSupportedByDevice
        let host = fixture.host()
        let before = fixture.state()
        let transaction = fixture.transaction(host)
        #expect(throws: PCIError.self) { try host.bind(Self.nic, in: transaction) }
        #expect(transaction.rollBack().isEmpty)
        #expect(fixture.state() == before)
        #expect(fixture.writeLog.last == "/bus/pci/devices/0000:01:00.0/driver_override=\\n")
    }

    @Test func releaseIsRefusedWhileAProcessHoldsTheGroup() throws {
        let fixture = try fixture()
        let host = fixture.host()
        let bind = fixture.transaction(host)
        try host.bind(Self.nic, in: bind)
        try bind.commit()
        host.userOfFunction = { $0.iommuGroup == 5 ? "VM web" : nil }
        fixture.clearWrites()
        let release = fixture.transaction(host)
        #expect(throws: PCIError.inUseByVM(Self.nic, user: "VM web")) { try host.release(Self.nic, in: release) }
        release.rollBack()
        #expect(fixture.writeLog.isEmpty)
        #expect(fixture.driver("0000:01:00.0") == "vfio-pci")
    }

    @Test func theDefaultUserQueryFindsAProcessHoldingDevVfio() throws {
        let fixture = try fixture()
        // procfs fixture: process 4242 (qemu-system-x86) has /dev/vfio/5 open as fd 17.
        let fd = fixture.root + "/proc/4242/fd"
        try FileManager.default.createDirectory(atPath: fd, withIntermediateDirectories: true)
        try "qemu-system-x86\n".write(toFile: fixture.root + "/proc/4242/comm", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: fd + "/17", withDestinationPath: "/dev/vfio/5")
        let host = fixture.host()
        let function = try #require(host.function(Self.nic))
        #expect(host.userOfFunction(function) == "process 4242 (qemu-system-x86), which holds /dev/vfio/5 open")
        try FileManager.default.removeItem(atPath: fd + "/17")
        #expect(host.userOfFunction(function) == nil)
    }
}
