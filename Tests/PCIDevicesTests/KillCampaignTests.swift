import Foundation
import PCIDevices
import PCITestSupport
import QNetSystem
import QNetTestSupport
import Testing

/// A kill -9 at each sysfs write of `bind`, `release` and `vfs`, simulated in process: at
/// the chosen write the fixture tree, the remembered drivers and the journal directory are
/// copied as they are at that instant (before or after the write), the operation is
/// abandoned, the copies are put back, and the journal's owner is made a process that no
/// longer runs. Then a fresh `PCIHost` (the next command) recovers the `pci` scope, and
/// the tree must be exactly as before the operation. (The strace harness in
/// Tests/Support/KillInjection.swift needs a real sysfs whose kernel acts on the writes;
/// a fixture's files do not, so the kill points are taken here instead.)
@Suite struct KillCampaignTests {
    struct Killed: Error {}

    /// Runs `operation` on a fresh fixture once per kill point until one run passes every
    /// write; returns the number of points tried.
    func campaign(_ makeFixture: () throws -> PCIFixture, prepare: (PCIFixture, PCIHost) throws -> Void = { _, _ in },
                  _ operation: (PCIHost, HostTransaction) throws -> Void) throws -> Int {
        var tried = 0
        for point in 1...40 {
            for afterWrite in [false, true] {
                let fixture = try makeFixture()
                let host = fixture.host()
                try prepare(fixture, host)
                let before = fixture.state()
                let snapshot = fixture.root + "-kill"
                defer { try? FileManager.default.removeItem(atPath: snapshot) }
                var killed = false
                fixture.onWrite = { [unowned fixture] number, after in
                    guard number == point, after == afterWrite else { return }
                    try FileManager.default.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
                    for directory in ["sys", "state", "journal"] {
                        let copy = try run("cp", ["-a", fixture.root + "/" + directory, snapshot + "/" + directory])
                        guard copy.status == 0 else { throw TestSupportError("cp: \(copy.stderr)") }
                    }
                    killed = true
                    throw Killed()
                }
                let transaction = fixture.transaction(host)
                do {
                    try operation(host, transaction)
                    try transaction.commit()
                } catch {
                    transaction.rollBack()
                }
                guard killed else { return tried }
                tried += 1
                fixture.onWrite = nil
                for directory in ["sys", "state", "journal"] {
                    try FileManager.default.removeItem(atPath: fixture.root + "/" + directory)
                    try FileManager.default.moveItem(atPath: snapshot + "/" + directory, toPath: fixture.root + "/" + directory)
                }
                try abandon(fixture.journal)
                let next = fixture.host()
                let reports = try fixture.journal.recoverAbandoned(scope: PCIChange.scope.key, registry: next.recoveryRegistry)
                #expect(reports.count == 1 && reports.allSatisfy(\.succeeded), "point \(point) \(afterWrite ? "after" : "before"): \(reports)")
                #expect(fixture.state() == before, "point \(point) \(afterWrite ? "after" : "before") the write")
                #expect(try fixture.journal.entries().entries.isEmpty)
            }
        }
        Issue.record("the operation made more than 40 writes")
        return tried
    }

    /// Makes every journal's owner a process that is not running (as after kill -9).
    func abandon(_ journal: Journal) throws {
        for var entry in try journal.entries().entries {
            try FileManager.default.removeItem(atPath: journal.directory + "/" + entry.fileName)
            entry.header.owner = ProcessIdentity(pid: entry.header.owner.pid, startTime: 1, executable: nil)
            try FileSystem.writeAtomically(journal.directory + "/" + entry.fileName, try entry.encoded(), mode: 0o600)
        }
    }

    func groupFixture() throws -> PCIFixture {
        let fixture = try PCIFixture()
        try fixture.addDriver("vfio-pci")
        try fixture.addFunction("0000:01:00.0", driver: "e1000e", group: 5, interfaces: ["enp1s0"])
        try fixture.addFunction("0000:01:00.1", driver: "e1000e", group: 5, interfaces: ["enp1s0f1"])
        return fixture
    }

    @Test func aKillAtEachWriteOfAGroupBindIsRolledBack() throws {
        let points = try campaign(groupFixture) { host, transaction in
            _ = try host.bind(PCIAddress("01:00.0")!, wholeGroup: true, in: transaction)
        }
        // Two functions, three writes each, a stop before and after each write.
        #expect(points == 12)
    }

    @Test func aKillAtEachWriteOfAReleaseIsRolledBack() throws {
        let points = try campaign(groupFixture, prepare: { fixture, host in
            let bind = fixture.transaction(host)
            _ = try host.bind(PCIAddress("01:00.0")!, wholeGroup: true, in: bind)
            try bind.commit()
            fixture.clearWrites()
        }) { host, transaction in
            _ = try host.release(PCIAddress("01:00.0")!, wholeGroup: true, in: transaction)
        }
        #expect(points == 12)
    }

    @Test func aKillAtEachWriteOfAVFCountChangeIsRolledBack() throws {
        let makeFixture = {
            let fixture = try PCIFixture()
            try fixture.addFunction("0000:02:00.0", driver: "igb", group: 2, totalVFs: 4)
            fixture.virtualFunctionAddress["0000:02:00.0"] = { PCIAddress(domain: 0, bus: 2, device: 16, function: UInt8($0)) }
            return fixture
        }
        let points = try campaign(makeFixture, prepare: { fixture, host in
            let first = fixture.transaction(host)
            try host.setVFCount(PCIAddress("02:00.0")!, to: 2, in: first)
            try first.commit()
            fixture.clearWrites()
        }) { host, transaction in
            try host.setVFCount(PCIAddress("02:00.0")!, to: 3, in: transaction)
        }
        #expect(points == 4)
    }
}
