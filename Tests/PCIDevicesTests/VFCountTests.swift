import Foundation
import PCIDevices
import PCITestSupport
import QNetSystem
import SystemPackage
import Testing

/// sriov_numvfs over a fixture tree whose simulated kernel refuses a non-zero to non-zero
/// change (EBUSY), as the kernel's sriov_numvfs_store does.
@Suite struct VFCountTests {
    static let pf = PCIAddress("0000:02:00.0")!

    func fixture(total: Int = 4) throws -> PCIFixture {
        let fixture = try PCIFixture()
        try fixture.addDriver("vfio-pci")
        try fixture.addFunction("0000:02:00.0", driver: "igb", group: 2, interfaces: ["enp2s0"], totalVFs: total)
        fixture.virtualFunctionAddress["0000:02:00.0"] = { PCIAddress(domain: 0, bus: 2, device: 16, function: UInt8($0)) }
        fixture.defaultDriver["vf-of-0000:02:00.0"] = "igbvf"
        try fixture.addDriver("igbvf")
        return fixture
    }

    func set(_ fixture: PCIFixture, _ host: PCIHost, _ count: Int, force: Bool = false) throws -> Int {
        let transaction = fixture.transaction(host)
        do {
            let previous = try host.setVFCount(Self.pf, to: count, force: force, in: transaction)
            try transaction.commit()
            return previous
        } catch {
            transaction.rollBack()
            throw error
        }
    }

    @Test func aNonZeroCountChangesThroughZero() throws {
        let fixture = try fixture()
        let host = fixture.host()
        #expect(try set(fixture, host, 2) == 0)
        #expect(fixture.writeLog == ["/bus/pci/devices/0000:02:00.0/sriov_numvfs=2"])
        #expect(fixture.attribute("0000:02:00.0", "sriov_numvfs") == "2")
        #expect(fixture.driver("0000:02:10.1") == "igbvf")
        fixture.clearWrites()
        #expect(try set(fixture, host, 3) == 2)
        #expect(fixture.writeLog == ["/bus/pci/devices/0000:02:00.0/sriov_numvfs=0", "/bus/pci/devices/0000:02:00.0/sriov_numvfs=3"])
        #expect(host.function(Self.pf)?.sriov?.virtualFunctions.map(\.address.description) == ["0000:02:10.0", "0000:02:10.1", "0000:02:10.2"])
        fixture.clearWrites()
        #expect(try set(fixture, host, 3) == 3)
        #expect(fixture.writeLog.isEmpty)
        #expect(try set(fixture, host, 0) == 3)
        #expect(fixture.writeLog == ["/bus/pci/devices/0000:02:00.0/sriov_numvfs=0"])
        #expect(host.function(Self.pf)?.sriov?.virtualFunctions.isEmpty == true)
    }

    @Test func badCountsAndNonSRIOVFunctionsAreRefused() throws {
        let fixture = try fixture()
        try fixture.addFunction("0000:03:00.0", driver: "e1000e", group: 3)
        let host = fixture.host()
        let error = #expect(throws: PCIError.self) { _ = try set(fixture, host, 5) }
        #expect(error == .tooManyVFs(Self.pf, requested: 5, total: 4))
        #expect(error?.isUsageError == true)
        #expect(throws: PCIError.notSRIOV(PCIAddress("03:00.0")!)) {
            try host.setVFCount(PCIAddress("03:00.0")!, to: 1, in: fixture.transaction(host))
        }
        #expect(fixture.writeLog.isEmpty)
    }

    @Test func aVFBoundToVFIOOrUsedBlocksTheChange() throws {
        let fixture = try fixture()
        let host = fixture.host()
        _ = try set(fixture, host, 2)
        let vf = PCIAddress("0000:02:10.1")!
        let bind = fixture.transaction(host)
        try host.bind(vf, in: bind)
        try bind.commit()
        fixture.clearWrites()
        let error = #expect(throws: PCIError.self) { _ = try set(fixture, host, 0) }
        #expect(error?.description == "cannot change the VF count of 0000:02:00.0: VF 1 (0000:02:10.1) is bound to vfio-pci; release it first (`qnet pci release 0000:02:10.1`)")
        #expect(fixture.writeLog.isEmpty)

        let release = fixture.transaction(host)
        try host.release(vf, in: release)
        try release.commit()
        host.userOfFunction = { $0.address == vf ? "VM db" : nil }
        #expect(throws: PCIError.virtualFunctionBusy(Self.pf, vf: VirtualFunction(index: 1, address: vf), reason: "is in use by VM db")) {
            _ = try set(fixture, host, 0)
        }
        host.userOfFunction = { _ in nil }
        try FileManager.default.createDirectory(atPath: fixture.devices + "/0000:02:10.0/net/enp2s0v0", withIntermediateDirectories: true)
        host.hostUse = HostUseReader { $0 == ["enp2s0v0"] ? ["enp2s0v0 has 10.0.0.2/24"] : [] }
        #expect(throws: PCIError.self) { _ = try set(fixture, host, 1) }
        #expect(fixture.attribute("0000:02:00.0", "sriov_numvfs") == "2")
        #expect(try set(fixture, host, 1, force: true) == 2)
    }

    @Test func aFailedCountIsUndoneToTheOldCount() throws {
        let fixture = try fixture()
        let host = fixture.host()
        _ = try set(fixture, host, 2)
        fixture.clearWrites()
        fixture.failures["/sriov_numvfs"] = nil
        // The first write (0) works, the second (4) fails: the undo makes 2 again.
        var count = 0
        fixture.onWrite = { [unowned fixture] _, after in
            if !after { count += 1 }
            if !after && count == 2 { throw SystemError(errno: .noMemory, operation: "write '4' to", path: "sriov_numvfs") }
        }
        let error = #expect(throws: PCIError.self) { _ = try set(fixture, host, 4) }
        #expect(error?.description.hasPrefix("set the VF count of 0000:02:00.0 to 4: ") == true)
        fixture.onWrite = nil
        #expect(fixture.writeLog == [
            "/bus/pci/devices/0000:02:00.0/sriov_numvfs=0", "/bus/pci/devices/0000:02:00.0/sriov_numvfs=4",
            "/bus/pci/devices/0000:02:00.0/sriov_numvfs=2",
        ])
        #expect(fixture.attribute("0000:02:00.0", "sriov_numvfs") == "2")
        #expect(try fixture.journal.entries().entries.isEmpty)
    }

    @Test func aPhysicalFunctionWithVFsIsNotBound() throws {
        let fixture = try fixture()
        let host = fixture.host()
        _ = try set(fixture, host, 2)
        fixture.clearWrites()
        let transaction = fixture.transaction(host)
        #expect(throws: PCIError.hasVirtualFunctions(Self.pf, count: 2, driver: "igb")) { try host.bind(Self.pf, in: transaction) }
        transaction.rollBack()
        #expect(fixture.writeLog.isEmpty)
        _ = try set(fixture, host, 0)
        let bind = fixture.transaction(host)
        try host.bind(Self.pf, in: bind)
        try bind.commit()
        #expect(fixture.driver("0000:02:00.0") == "vfio-pci")
    }
}
