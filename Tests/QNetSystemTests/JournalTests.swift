import Foundation
import Glibc
@testable import QNetSystem
import Testing

/// A record kind for the engine's tests: its handler logs what it was asked to do.
struct CounterRecord: JournalRecord, Equatable {
    static let kind = "test-counter"
    var name: String
}

/// Collects what the handlers did, in order.
final class HandlerLog: @unchecked Sendable {
    var calls: [String] = []
    var failing: Set<String> = []
    struct Refused: Error, CustomStringConvertible { var description: String { "refused" } }

    func registry() -> RecoveryRegistry {
        var registry = RecoveryRegistry()
        registry.register(CounterRecord.self) { [self] record, context in
            calls.append("\(context.direction == .rollBack ? "undo" : "finish") \(record.name)")
            if failing.contains(record.name) { throw Refused() }
            return "\(record.name) back"
        }
        return registry
    }
}

/// The identity of a process that has exited (its pid may be reused; its start time will not match).
func deadOwner() throws -> ProcessIdentity {
    let result = try Subprocess.run(Command("/bin/sh", ["-c", "echo $$"]))
    let pid = pid_t(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))!
    return ProcessIdentity(pid: pid, startTime: 1, executable: "/bin/sh")
}

/// Rewrites a journal as if the process that wrote it had been killed.
func abandon(_ transaction: HostTransaction, in journal: Journal) throws -> JournalEntry {
    var entry = transaction.entry
    try journal.remove(entry)
    entry.header.owner = try deadOwner()
    try journal.write(entry)
    return entry
}

@Suite struct JournalTests {
    @Test func recordsAreOnDiskBeforeTheChangeAndGoneAtCommit() throws {
        let directory = try TestDirectory()
        let journal = Journal(directory: directory.file("journal"))
        let log = HandlerLog()
        let transaction = HostTransaction(scope: "netns-1-2", command: "bridge create br0", journal: journal, registry: log.registry())
        #expect(try journal.entries().entries.isEmpty)  // nothing written before the first record

        try transaction.record(undo: CounterRecord(name: "a"))
        let name = transaction.entry.fileName
        #expect(name == "netns-1-2.\(getpid())-\(ProcessIdentity.current()!.startTime).journal")
        // Independent witness: the file as cat shows it.
        let text = try #require(directory.contents("journal/\(name)"))
        let lines = text.split(separator: "\n")
        #expect(lines.first == "qnet-journal 1")
        #expect(lines.count == 3)
        #expect(lines[1].hasPrefix("header {"))
        #expect(lines[1].contains("\"command\":\"bridge create br0\""))
        #expect(lines[2] == "record test-counter {\"name\":\"a\"}")

        try transaction.step("enslave uplink")
        #expect(directory.contents("journal/\(name)")?.hasSuffix("step \"enslave uplink\"\n") == true)
        try transaction.markPointOfNoReturn()
        #expect(directory.contents("journal/\(name)")?.hasSuffix("no-return\n") == true)
        // The journal directory is private: it holds the host's addresses and routes.
        var info = stat()
        #expect(stat(directory.file("journal"), &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(stat(directory.file("journal/\(name)"), &info) == 0 && info.st_mode & 0o777 == 0o600)

        try transaction.commit()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.file("journal")).isEmpty)
        #expect(log.calls.isEmpty)
    }

    @Test func anEntryRoundTripsThroughItsFile() throws {
        var entry = JournalEntry(header: JournalHeader(scope: "vm-web", command: "vm run web --nic bridge=br0",
                                                       owner: ProcessIdentity(pid: 42, startTime: 7, executable: "/usr/bin/qnet"),
                                                       namespace: NetworkNamespaceIdentity(device: 3, inode: 4026531840, cookie: 1)))
        entry.records = [try EncodedRecord(CounterRecord(name: "line\nbreak \"quoted\""))]
        entry.steps = ["start qemu", "a step with\nnewline"]
        entry.pastPointOfNoReturn = true
        let decoded = try JournalEntry(decoding: try entry.encoded(), fileName: entry.fileName)
        #expect(decoded == entry)
        #expect(try decoded.records[0].decode(CounterRecord.self).name == "line\nbreak \"quoted\"")
    }

    @Test func badFilesAreReportedNotTrusted() throws {
        for (bytes, reason) in [("", "no 'qnet-journal 1' line"), ("qnet-journal 1\n", "no header line"),
                                ("qnet-journal 1\nbogus x\n", "line 2: unknown tag 'bogus'"),
                                ("qnet-journal 1\nrecord onlykind\n", "line 2: record without kind or body")] {
            #expect(throws: JournalError.unreadable("x.journal", reason: reason)) {
                try JournalEntry(decoding: Array(bytes.utf8), fileName: "x.journal")
            }
        }
    }

    @Test func rollBackRunsTheHandlersNewestFirstAndRemovesTheJournal() throws {
        let directory = try TestDirectory()
        let journal = Journal(directory: directory.file("journal"))
        let log = HandlerLog()
        let transaction = HostTransaction(scope: "s", command: "c", journal: journal, registry: log.registry())
        for name in ["a", "b", "c"] { try transaction.record(undo: CounterRecord(name: name)) }
        #expect(transaction.rollBack().isEmpty)
        #expect(log.calls == ["undo c", "undo b", "undo a"])
        #expect(try journal.entries().entries.isEmpty)
        #expect(transaction.rollBack().isEmpty)  // once only
        #expect(log.calls.count == 3)
    }

    @Test func aFailedRollBackKeepsTheJournalForALaterRecovery() throws {
        let directory = try TestDirectory()
        let journal = Journal(directory: directory.file("journal"))
        let log = HandlerLog()
        log.failing = ["b"]
        let transaction = HostTransaction(scope: "s", command: "c", journal: journal, registry: log.registry())
        for name in ["a", "b", "c"] { try transaction.record(undo: CounterRecord(name: name)) }
        #expect(transaction.rollBack() == ["test-counter: refused"])
        #expect(log.calls == ["undo c", "undo b", "undo a"])  // continues past a failure
        #expect(try journal.entries().entries.count == 1)
    }

    @Test func aDroppedTransactionIsRolledBack() throws {
        let log = HandlerLog()
        do {
            let transaction = HostTransaction(scope: "s", command: "c", journal: nil, registry: log.registry())
            try transaction.record(undo: CounterRecord(name: "a"))
        }
        #expect(log.calls == ["undo a"])
    }

    @Test func anAbandonedJournalIsRolledBackOnceAndReportedInOneLine() throws {
        let directory = try TestDirectory()
        let journal = Journal(directory: directory.file("journal"))
        let log = HandlerLog()
        let transaction = HostTransaction(scope: "netns-1-2", command: "bridge create br0 --uplink eth0", journal: journal,
                                          registry: log.registry())
        try transaction.record(undo: CounterRecord(name: "eth0"))
        try transaction.step("enslave uplink")
        let entry = try abandon(transaction, in: journal)

        // Another scope's recovery leaves it alone; a live owner's journal is not abandoned.
        #expect(try journal.recoverAbandoned(scope: "netns-1-3", registry: log.registry()).isEmpty)
        let reports = try journal.recoverAbandoned(scope: "netns-1-2", registry: log.registry())
        #expect(reports.count == 1)
        #expect(reports.first?.description
                == "recovered: rolled back an interrupted `bridge create br0 --uplink eth0` (pid \(entry.header.owner.pid)): eth0 back")
        #expect(!(reports.first?.description.contains("\n") ?? true))
        #expect(log.calls == ["undo eth0"])
        #expect(try journal.entries().entries.isEmpty)
        #expect(try journal.recoverAbandoned(scope: "netns-1-2", registry: log.registry()).isEmpty)
        _ = transaction.rollBack()  // (the in-memory copy; its file is gone already)
    }

    @Test func pastThePointOfNoReturnRecoveryCompletesOldestFirst() throws {
        let directory = try TestDirectory()
        let journal = Journal(directory: directory.file("journal"))
        let log = HandlerLog()
        let transaction = HostTransaction(scope: "s", command: "bridge delete br0", journal: journal, registry: log.registry())
        try transaction.record(undo: CounterRecord(name: "a"))
        try transaction.record(undo: CounterRecord(name: "b"))
        try transaction.markPointOfNoReturn()
        _ = try abandon(transaction, in: journal)
        let report = try #require(try journal.recoverAbandoned(scope: "s", registry: log.registry()).first)
        #expect(report.direction == .complete)
        #expect(report.description.hasPrefix("recovered: completed an interrupted `bridge delete br0`"))
        #expect(log.calls == ["finish a", "finish b"])
        try transaction.commit()
    }

    @Test func aJournalOfAnUnknownKindOrAFailingHandlerIsKept() throws {
        let directory = try TestDirectory()
        let journal = Journal(directory: directory.file("journal"))
        let log = HandlerLog()
        let transaction = HostTransaction(scope: "s", command: "c", journal: journal, registry: log.registry())
        try transaction.record(undo: CounterRecord(name: "a"))
        _ = try abandon(transaction, in: journal)

        let unknown = try #require(try journal.recoverAbandoned(scope: "s", registry: RecoveryRegistry()).first)
        #expect(!unknown.succeeded)
        #expect(unknown.description.contains("does not know record kind(s) test-counter"))
        #expect(log.calls.isEmpty)
        log.failing = ["a"]
        let failed = try #require(try journal.recoverAbandoned(scope: "s", registry: log.registry()).first)
        #expect(failed.description.hasPrefix("recovery failed: could not fully roll back"))
        #expect(failed.description.hasSuffix("(the journal is kept; `qnet recover` retries)"))
        #expect(try journal.entries().entries.count == 1)
        log.failing = []
        #expect(try journal.recoverAbandoned(scope: "s", registry: log.registry()).first?.succeeded == true)
        #expect(try journal.entries().entries.isEmpty)
        try transaction.commit()
    }

    @Test func aJournalOfANamespaceThatDiedIsDroppedNotApplied() throws {
        let directory = try TestDirectory()
        let journal = Journal(directory: directory.file("journal"))
        let log = HandlerLog()
        let then = NetworkNamespaceIdentity(device: 3, inode: 99, cookie: 1000)
        let transaction = HostTransaction(scope: "netns-3-99", command: "c", namespace: then, journal: journal, registry: log.registry())
        try transaction.record(undo: CounterRecord(name: "a"))
        _ = try abandon(transaction, in: journal)
        // Same inode, another cookie: a new namespace that reuses the number.
        let now = NetworkNamespaceIdentity(device: 3, inode: 99, cookie: 2000)
        let report = try #require(try journal.recoverAbandoned(scope: "netns-3-99", namespace: now, registry: log.registry()).first)
        #expect(report.discarded != nil)
        #expect(report.description.contains("no longer exists"))
        #expect(log.calls.isEmpty)
        #expect(try journal.entries().entries.isEmpty)
        try transaction.commit()
    }

    @Test func temporaryFilesOfKilledWritersAreRemoved() throws {
        let directory = try TestDirectory()
        let journal = Journal(directory: directory.file("journal"))
        let dead = try deadOwner().pid
        try FileSystem.makeDirectories(journal.directory, mode: 0o700)
        FileManager.default.createFile(atPath: "\(journal.directory)/.s.1-2.journal.tmp-\(dead)", contents: Data("x".utf8))
        FileManager.default.createFile(atPath: "\(journal.directory)/.s.1-2.journal.tmp-\(getpid())", contents: Data("x".utf8))
        _ = try journal.recoverAbandoned(scope: "s", registry: RecoveryRegistry())
        #expect(try FileManager.default.contentsOfDirectory(atPath: journal.directory) == [".s.1-2.journal.tmp-\(getpid())"])
    }
}

@Suite struct TransactionSignalTests {
    @Test func aSignalBeforeThePointOfNoReturnIsThrownAtTheNextStep() throws {
        let deferred = try DeferredSignals()
        defer { while deferred.take() != nil {}; deferred.restore() }
        let log = HandlerLog()
        let transaction = HostTransaction(scope: "s", command: "c", journal: nil, registry: log.registry(), signals: deferred)
        try transaction.record(undo: CounterRecord(name: "a"))
        try transaction.step("one")  // nothing pending
        #expect(pthread_kill(pthread_self(), SIGINT) == 0)
        let interrupted = try #require(throws: Interrupted.self) { try transaction.step("two") }
        #expect(interrupted.signal == SIGINT)
        #expect(transaction.interruption == SIGINT)
        // The caller rolls back; a second Ctrl-C meanwhile is noticed and reported.
        var notices: [String] = []
        transaction.notice = { notices.append($0) }
        #expect(pthread_kill(pthread_self(), SIGINT) == 0)
        #expect(transaction.rollBack().isEmpty)
        #expect(log.calls == ["undo a"])
        #expect(notices == ["SIGINT again: undoing `c` first, so the host is not left half-changed"])
    }

    @Test func pastThePointOfNoReturnASignalLetsTheTransactionFinish() throws {
        let deferred = try DeferredSignals()
        defer { while deferred.take() != nil {}; deferred.restore() }
        let transaction = HostTransaction(scope: "s", command: "bridge delete br0", journal: nil, registry: HandlerLog().registry(),
                                          signals: deferred)
        var notices: [String] = []
        transaction.notice = { notices.append($0) }
        try transaction.record(undo: CounterRecord(name: "a"))
        try transaction.markPointOfNoReturn()
        #expect(pthread_kill(pthread_self(), SIGHUP) == 0)
        try transaction.step("delete bridge")  // no throw
        #expect(transaction.interruption == SIGHUP)
        try transaction.commit()
        #expect(notices.count == 1)
        #expect(notices.first?.hasPrefix("SIGHUP: finishing `bridge delete br0` first") == true)
    }

    @Test func aSignalDuringTheLastStepIsReportedAtCommit() throws {
        let deferred = try DeferredSignals()
        defer { while deferred.take() != nil {}; deferred.restore() }
        let transaction = HostTransaction(scope: "s", command: "c", journal: nil, registry: HandlerLog().registry(), signals: deferred)
        try transaction.record(undo: CounterRecord(name: "a"))
        try transaction.step("last")
        #expect(pthread_kill(pthread_self(), SIGTERM) == 0)
        try transaction.commit()
        #expect(transaction.interruption == SIGTERM)
    }
}

@Suite struct HostLockTests {
    @Test func aSecondHolderIsToldWhoHoldsTheLockAndWhy() throws {
        let directory = try TestDirectory()
        let scope = try HostLockScope.virtualMachine("web")
        let lock = try HostLock.acquire(scope, in: directory.file("locks"), command: "qnet vm run web", timeout: .zero)
        let busy = try #require(throws: HostLockBusy.self) {
            try HostLock.acquire(scope, in: directory.file("locks"), command: "qnet vm run web", timeout: .zero)
        }
        #expect(busy.description == "VM web is being changed by pid \(getpid()) (`qnet vm run web`)")
        // Witness: the lock file as another program reads it.
        #expect(directory.contents("locks/vm-web.lock") == "\(getpid())\nqnet vm run web\n")
        // Another name is another lock.
        let other = try HostLock.acquire(try .virtualMachine("db"), in: directory.file("locks"), command: "x", timeout: .zero)
        other.release()
        lock.release()
    }

    @Test func aWaiterHearsWhoItWaitsForAndGetsTheLockWhenItIsLetGo() throws {
        let directory = try TestDirectory()
        let scope = HostLockScope.networkNamespace(NetworkNamespaceIdentity(device: 1, inode: 2, cookie: nil), name: "lab")
        let first = try HostLock.acquire(scope, in: directory.file("locks"), command: "qnet bridge create br0 --uplink eth0", timeout: .zero)
        var heard: [String] = []
        let second = try HostLock.acquire(scope, in: directory.file("locks"), command: "qnet bridge create br1 --uplink eth0",
                                          timeout: .seconds(30)) { busy in
            heard.append(busy.description)
            first.release()  // the holder finishes while the second waits
        }
        #expect(heard == ["network namespace lab is being changed by pid \(getpid()) (`qnet bridge create br0 --uplink eth0`)"])
        #expect(directory.contents("locks/netns-1-2.lock") == "\(getpid())\nqnet bridge create br1 --uplink eth0\n")
        second.release()
    }

    @Test func aLockHeldByAnotherProcessNamesItsPidAndCommand() throws {
        let directory = try TestDirectory()
        try FileSystem.makeDirectories(directory.file("locks"))
        let path = directory.file("locks/net-default.lock")
        let (readEnd, writeEnd) = try Subprocess.makePipe()
        defer { close(readEnd) }
        // The child takes the lock and records itself as HostLock does.
        let script = "exec 9<>\"$0\"; flock --exclusive 9; printf '%s\\nqnet net start default\\n' $$ >&9; echo locked; exec sleep 30"
        let pid = try Subprocess.startDetached(Command("/bin/sh", ["-c", script, path]), output: writeEnd)
        close(writeEnd)
        defer { Subprocess.stop(pid) }
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(read(readEnd, &buffer, buffer.count) > 0)  // "locked"
        let busy = try #require(throws: HostLockBusy.self) {
            try HostLock.acquire(try .network("default"), in: directory.file("locks"), command: "qnet net stop default", timeout: .milliseconds(50))
        }
        #expect(busy.description == "network default is being changed by pid \(pid) (`qnet net start default`)")
        Subprocess.stop(pid)
        // The holder died: the kernel dropped its lock.
        let lock = try HostLock.acquire(try .network("default"), in: directory.file("locks"), command: "qnet net stop default", timeout: .seconds(10))
        lock.release()
    }

    @Test func scopesAreSinglePathComponents() throws {
        #expect(throws: SystemError.self) { try HostLockScope.virtualMachine("../etc") }
        #expect(throws: SystemError.self) { try HostLockScope(key: ".hidden", displayName: "x") }
    }

    @Test func theNamespaceIdentityIsWhatTheKernelShowsForThisNamespace() throws {
        let identity = try NetworkNamespaceIdentity.current()
        // Witness: a child in the same namespace reads its own /proc/self/ns/net link.
        let result = try Subprocess.run(Command("/bin/readlink", ["/proc/self/ns/net"]))
        #expect(result.standardOutput == "\(identity.description)\n")
        #expect(identity.isSameNamespace(as: try NetworkNamespaceIdentity.current()))
        var other = identity
        if identity.cookie != nil {
            other.cookie = identity.cookie! + 1
            #expect(!identity.isSameNamespace(as: other))
        }
    }
}
