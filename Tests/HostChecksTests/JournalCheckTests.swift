import Foundation
@testable import HostChecks
import QNetSystem
import Testing

/// `qnet doctor` reports a journal an interrupted command left (tier 1: a journal directory
/// written by the engine itself, owners alive and dead).
@Suite struct JournalCheckTests {
    struct Marker: JournalRecord { static let kind = "test-marker" }

    func registry() -> RecoveryRegistry {
        var registry = RecoveryRegistry()
        registry.register(Marker.self) { _, _ in nil }
        return registry
    }

    @Test func noJournalIsOK() throws {
        let fixture = try Fixture()
        let check = JournalChecks.pending(directory: fixture.path + "/run/qnet/journal")
        #expect(check == CheckResult(id: "journal.pending", status: .ok, title: "Interrupted host changes", found: "none"))
    }

    @Test func aJournalOfALiveCommandIsInProgress() throws {
        let fixture = try Fixture()
        let journal = Journal(directory: fixture.path + "/run/qnet/journal")
        let transaction = HostTransaction(scope: "netns-1-2", command: "qnet bridge create br0 --uplink eth0", journal: journal,
                                          registry: registry())
        try transaction.record(undo: Marker())
        let check = JournalChecks.pending(directory: journal.directory)
        #expect(check.status == .ok)
        #expect(check.found == "in progress: `qnet bridge create br0 --uplink eth0` (pid \(getpid()))")
        try transaction.commit()
    }

    @Test func aJournalWhoseWriterDiedFailsWithTheFix() throws {
        let fixture = try Fixture()
        let directory = fixture.path + "/run/qnet/journal"
        // A journal as a killed qnet leaves it: the owner's pid exists no more.
        let exited = try Subprocess.run(Command("/bin/sh", ["-c", "echo $$"]))
        let pid = pid_t(exited.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))!
        var entry = JournalEntry(header: JournalHeader(scope: "netns-1-2", command: "qnet bridge delete br0",
                                                       owner: ProcessIdentity(pid: pid, startTime: 1, executable: nil)))
        entry.records = [try EncodedRecord(Marker())]
        entry.pastPointOfNoReturn = true
        try fixture.write("run/qnet/journal/\(entry.fileName)", String(decoding: try entry.encoded(), as: UTF8.self))
        let check = JournalChecks.pending(directory: directory)
        #expect(check.status == .fail)
        #expect(check.found == "an interrupted `qnet bridge delete br0` (pid \(pid)) left a journal \(directory)/\(entry.fileName) to finish")
        #expect(check.remedy?.hasPrefix("sudo qnet recover") == true)
    }

    @Test func anUnreadableJournalWarns() throws {
        let fixture = try Fixture()
        try fixture.write("run/qnet/journal/x.journal", "not a journal\n")
        let check = JournalChecks.pending(directory: fixture.path + "/run/qnet/journal")
        #expect(check.status == .warn)
        #expect(check.found == "journal x.journal is unreadable: no 'qnet-journal 1' line")
    }
}
