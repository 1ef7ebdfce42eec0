import Foundation
import Glibc
@testable import QNetSystem
import QNetTestSupport
import Testing

/// A file an attacker would like root to write: its bytes and modification time, to show it
/// was not touched.
struct Victim {
    let path: String
    let content = "root only\n"
    init(in directory: TestDirectory, _ name: String = "victim") throws {
        path = directory.file(name)
        try Data(content.utf8).write(to: URL(fileURLWithPath: path))
        // An old mtime, so that any write (even of the same bytes) shows.
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
    }

    /// Content and mtime as planted (independent witness: lstat and a plain read).
    func expectUntouched(sourceLocation: SourceLocation = #_sourceLocation) {
        var info = stat()
        #expect(stat(path, &info) == 0, sourceLocation: sourceLocation)
        #expect(info.st_mtim.tv_sec == 1_000_000_000, "the target's mtime changed", sourceLocation: sourceLocation)
        #expect(FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } == content,
                "the target's content changed", sourceLocation: sourceLocation)
    }
}

/// Whether `path` is still the symlink to `target` that was planted.
func isPlantedLink(_ path: String, to target: String) -> Bool {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == target
}

/// Symlinks and foreign files planted at the paths of qnet's lock and journal files, and
/// state directories in shared places: each refused with one line naming the path, and left
/// alone (the link and its target unchanged).
@Suite struct StateTreeTests {
    @Test func aSymlinkAtTheHostLockPathIsRefusedAndLeftAlone() throws {
        let directory = try TestDirectory()
        let victim = try Victim(in: directory)
        try FileManager.default.createDirectory(atPath: directory.file("locks"), withIntermediateDirectories: false)
        let link = directory.file("locks/vm-web.lock")
        #expect(symlink(victim.path, link) == 0)

        let error = try #require(throws: SystemError.self) {
            try HostLock.acquire(try .virtualMachine("web"), in: directory.file("locks"), command: "qnet vm run web", timeout: .zero)
        }
        #expect(error.errno == .tooManySymbolicLinkLevels)
        #expect(error.description.contains(link) && error.description.contains("symbolic link; refused and left alone"), "\(error)")
        #expect(!error.description.contains("\n"))
        victim.expectUntouched()
        #expect(isPlantedLink(link, to: victim.path))
    }

    @Test func aSymlinkAtTheLockDirectoryIsNotFollowed() throws {
        let directory = try TestDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("elsewhere"), withIntermediateDirectories: false)
        #expect(symlink(directory.file("elsewhere"), directory.file("locks")) == 0)
        let error = try #require(throws: SystemError.self) {
            try HostLock.acquire(try .virtualMachine("web"), in: directory.file("locks"), command: "x", timeout: .zero)
        }
        #expect(error.description.contains(directory.file("locks")) && error.description.contains("symbolic link"), "\(error)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.file("elsewhere")).isEmpty, "a lock was made through the link")
        #expect(isPlantedLink(directory.file("locks"), to: directory.file("elsewhere")))
    }

    @Test(Privileged.rootEnabled) func aForeignOwnedLockFileIsRefusedAndLeftAlone() throws {
        let directory = try TestDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("locks"), withIntermediateDirectories: false)
        let victim = try Victim(in: directory, "locks/vm-web.lock")
        #expect(chown(victim.path, 65534, 65534) == 0)
        let error = try #require(throws: SystemError.self) {
            try HostLock.acquire(try .virtualMachine("web"), in: directory.file("locks"), command: "x", timeout: .zero)
        }
        #expect(error.description.contains(victim.path) && error.description.contains("owned by uid 65534"), "\(error)")
        victim.expectUntouched()
    }

    @Test func aHardLinkAtTheLockPathIsRefused() throws {
        let directory = try TestDirectory()
        let victim = try Victim(in: directory)
        try FileManager.default.createDirectory(atPath: directory.file("locks"), withIntermediateDirectories: false)
        #expect(link(victim.path, directory.file("locks/vm-web.lock")) == 0)
        let error = try #require(throws: SystemError.self) {
            try HostLock.acquire(try .virtualMachine("web"), in: directory.file("locks"), command: "x", timeout: .zero)
        }
        #expect(error.description.contains("2 hard links"), "\(error)")
        victim.expectUntouched()
    }

    /// A transaction's first record with a symlink to a victim planted at `plantedName(fileName)`
    /// in its journal folder: refused naming the link, the victim and the link untouched.
    func expectJournalWriteRefused(plantedAt plantedName: (String) -> String) throws {
        let directory = try TestDirectory()
        let victim = try Victim(in: directory)
        let journal = Journal(directory: directory.file("journal"))
        let transaction = HostTransaction(scope: "netns-1-2", command: "bridge create br0", journal: journal, registry: HandlerLog().registry())
        try FileManager.default.createDirectory(atPath: directory.file("journal"), withIntermediateDirectories: false)
        chmod(directory.file("journal"), 0o700)
        let link = directory.file("journal/\(plantedName(transaction.entry.fileName))")
        #expect(symlink(victim.path, link) == 0)

        let error = try #require(throws: SystemError.self) { try transaction.record(undo: CounterRecord(name: "a")) }
        #expect(error.description.contains(link) && error.description.contains("a symbolic link"), "\(error)")
        #expect(error.description.contains("refused and left alone"), "\(error)")
        #expect(!error.description.contains("\n"))
        transaction.rollBack()
        victim.expectUntouched()
        #expect(isPlantedLink(link, to: victim.path), "the planted link was replaced or removed")
        if plantedName(transaction.entry.fileName) != transaction.entry.fileName {
            #expect(!FileManager.default.fileExists(atPath: directory.file("journal/\(transaction.entry.fileName)")), "a journal was written anyway")
        }
    }

    @Test func aSymlinkAtTheJournalPathIsRefusedAndLeftAlone() throws {
        try expectJournalWriteRefused { $0 }
    }

    @Test func aSymlinkAtTheJournalTemporaryFileIsRefusedAndLeftAlone() throws {
        try expectJournalWriteRefused { DirectoryDescriptor.temporaryName(for: $0) }
    }

    /// A journal of the scope planted as a symlink (bait for recovery, which would read it
    /// and remove it): recovery refuses it, naming it, and changes nothing.
    @Test func aSymlinkedJournalStopsRecoveryAndIsLeftAlone() throws {
        let directory = try TestDirectory()
        let journal = Journal(directory: directory.file("journal"))
        let log = HandlerLog()
        // A real journal elsewhere, as the link's target (readable, so following it would act on it).
        let elsewhere = Journal(directory: directory.file("elsewhere"))
        let transaction = HostTransaction(scope: "netns-1-2", command: "bridge create br0", journal: elsewhere, registry: log.registry())
        try transaction.record(undo: CounterRecord(name: "a"))
        let entry = try abandon(transaction, in: elsewhere)
        let target = directory.file("elsewhere/\(entry.fileName)")
        let before = try #require(FileManager.default.contents(atPath: target))
        try FileManager.default.createDirectory(atPath: directory.file("journal"), withIntermediateDirectories: false)
        chmod(directory.file("journal"), 0o700)
        let link = directory.file("journal/\(entry.fileName)")
        #expect(symlink(target, link) == 0)

        let error = try #require(throws: SystemError.self) {
            try journal.recoverAbandoned(scope: "netns-1-2", registry: log.registry())
        }
        #expect(error.description.contains(link) && error.description.contains("symbolic link"), "\(error)")
        #expect(log.calls.isEmpty, "a handler ran on a refused journal")
        #expect(FileManager.default.contents(atPath: target) == before)
        #expect(isPlantedLink(link, to: target))
        // Listing (doctor) names it as unreadable rather than failing.
        #expect(try journal.entries().unreadable.contains { "\($0)".contains("symbolic link") })
    }

    /// --state-dir in a shared place (/tmp/x) that another user made first: the lock and the
    /// journal are refused there, naming the owner, and nothing is created inside it.
    @Test(Privileged.rootEnabled) func aSharedStateDirectoryOwnedByAnotherUserIsRefused() throws {
        let directory = try TestDirectory()
        let shared = directory.file("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        #expect(chown(shared, 65534, 65534) == 0)
        let lockError = try #require(throws: SystemError.self) {
            try HostLock.acquire(try .virtualMachine("web"), in: "\(shared)/run/locks", command: "x", timeout: .zero)
        }
        #expect(lockError.description.contains("\(shared):") && lockError.description.contains("owned by uid 65534"), "\(lockError)")
        let journal = Journal(directory: "\(shared)/run/journal")
        let transaction = HostTransaction(scope: "netns-1-2", command: "x", journal: journal, registry: HandlerLog().registry())
        let journalError = try #require(throws: SystemError.self) { try transaction.record(undo: CounterRecord(name: "a")) }
        #expect(journalError.description.contains("owned by uid 65534"), "\(journalError)")
        transaction.rollBack()
        #expect(try FileManager.default.contentsOfDirectory(atPath: shared).isEmpty)
    }

    /// A level below the state directory replaced by a symlink, or a state directory others
    /// may write in: refused.
    @Test(Privileged.rootEnabled) func aSymlinkOrAWorldWritableLevelInTheStateTreeIsRefused() throws {
        let directory = try TestDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("state"), withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: directory.file("elsewhere"), withIntermediateDirectories: false)
        #expect(symlink(directory.file("elsewhere"), directory.file("state/run")) == 0)
        // Planted by another user (a link root made, such as /var/run, is followed).
        #expect(lchown(directory.file("state/run"), 65534, 65534) == 0)
        let error = try #require(throws: SystemError.self) {
            try HostLock.acquire(try .virtualMachine("web"), in: directory.file("state/run/locks"), command: "x", timeout: .zero)
        }
        #expect(error.description.contains(directory.file("state/run")) && error.description.contains("symbolic link"), "\(error)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.file("elsewhere")).isEmpty)

        try FileManager.default.createDirectory(atPath: directory.file("open"), withIntermediateDirectories: false)
        chmod(directory.file("open"), 0o777)
        let open = try #require(throws: SystemError.self) {
            try HostLock.acquire(try .virtualMachine("web"), in: directory.file("open"), command: "x", timeout: .zero)
        }
        #expect(open.description.contains("mode 777"), "\(open)")
        // A sticky shared directory above the state (like /tmp) is fine.
        chmod(directory.file("open"), 0o1777)
        let lock = try HostLock.acquire(try .virtualMachine("web"), in: directory.file("open/state/locks"), command: "x", timeout: .zero)
        lock.release()
        var info = stat()
        #expect(lstat(directory.file("open/state/locks/vm-web.lock"), &info) == 0 && info.st_mode & S_IFMT == S_IFREG)
    }
}
