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

    /// `openState` reuses a state directory it walked before (one walk per command instead
    /// of one per lock and journal open), but only while the path still names that directory
    /// and it still passes the checks: replaced by a symlink it is refused, removed and made
    /// again it is opened afresh, made writable by others it is refused.
    @Test func aStateDirectoryIsReusedOnlyWhileItIsTheSameTrustedDirectory() throws {
        let directory = try TestDirectory()
        let path = directory.file("state/run/journal")
        let first = try #require(try DirectoryDescriptor.openState(path, mode: 0o700))
        let again = try #require(try DirectoryDescriptor.openState(path, mode: 0o700))
        #expect(again === first, "the directory walked before is reused")
        /// Device and inode of an open directory and of the path now (independent: stat(2)).
        func identity(fd: Int32) -> [UInt64] { var info = stat(); fstat(fd, &info); return [UInt64(info.st_dev), UInt64(info.st_ino)] }
        func identity(path: String) -> [UInt64] { var info = stat(); lstat(path, &info); return [UInt64(info.st_dev), UInt64(info.st_ino)] }
        #expect(identity(fd: again.fd) == identity(path: path))

        // Moved away and replaced by a symlink to another directory: refused, nothing followed.
        try FileManager.default.createDirectory(atPath: directory.file("elsewhere"), withIntermediateDirectories: false)
        #expect(rename(path, directory.file("moved")) == 0)
        #expect(symlink(directory.file("elsewhere"), path) == 0)
        let refused = try #require(throws: SystemError.self) { try DirectoryDescriptor.openState(path, mode: 0o700) }
        #expect(refused.errno == .tooManySymbolicLinkLevels, "\(refused)")
        #expect(isPlantedLink(path, to: directory.file("elsewhere")))

        // A directory made again at the path: that one is opened, not the one moved away.
        #expect(unlink(path) == 0 && mkdir(path, 0o700) == 0)
        let fresh = try #require(try DirectoryDescriptor.openState(path, mode: 0o700))
        #expect(fresh !== first)
        #expect(identity(fd: fresh.fd) == identity(path: path))
        #expect(identity(fd: fresh.fd) != identity(path: directory.file("moved")))

        // Made writable by others after it was opened: refused.
        #expect(chmod(path, 0o777) == 0)
        let open = try #require(throws: SystemError.self) { try DirectoryDescriptor.openState(path, mode: 0o700) }
        #expect(open.description.contains("mode 777"), "\(open)")
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

    /// The state-file verbs every converted store uses (network definitions and runtime, the
    /// guest image cache, apply --try, PCI binding records): a symlink planted at the name is
    /// neither read, written through nor removed, and one line names it.
    @Test func readWriteAndRemoveOfAStateFileRefuseAPlantedSymlink() throws {
        let directory = try TestDirectory()
        let victim = try Victim(in: directory)
        try FileManager.default.createDirectory(atPath: directory.file("state"), withIntermediateDirectories: false)
        let link = directory.file("state/web.yaml")
        #expect(symlink(victim.path, link) == 0)
        let state = try #require(try DirectoryDescriptor.openState(directory.file("state"), create: false))

        let attempts: [() throws -> Void] = [
            { _ = try state.readStateFile("web.yaml", kind: "network definition") },
            { try state.writeStateFile("web.yaml", Array("name: x\n".utf8), kind: "network definition") },
            { try state.removeStateFile("web.yaml", kind: "network definition") },
        ]
        for attempt in attempts {
            let error = try #require(throws: SystemError.self) { try attempt() }
            #expect(error.description.contains(link) && error.description.contains("symbolic link")
                    && error.description.contains("refused and left alone"), "\(error)")
            #expect(!error.description.contains("\n"))
        }
        victim.expectUntouched()
        #expect(isPlantedLink(link, to: victim.path))
        // A missing file reads as nil; one of qnet's own is read, replaced and removed.
        #expect(try state.readStateFile("none.yaml") == nil)
        try state.writeStateFile("own.yaml", Array("a\n".utf8))
        #expect(try state.readStateFile("own.yaml") == Array("a\n".utf8))
        try state.removeStateFile("own.yaml")
        #expect(!FileManager.default.fileExists(atPath: directory.file("state/own.yaml")))
    }

    @Test(Privileged.rootEnabled) func aForeignOwnedStateFileIsNeitherTrustedNorReplaced() throws {
        let directory = try TestDirectory()
        let victim = try Victim(in: directory, "web.yaml")
        #expect(chown(victim.path, 65534, 65534) == 0)
        let state = try #require(try DirectoryDescriptor.openState(directory.path, create: false))
        let read = try #require(throws: SystemError.self) { _ = try state.readStateFile("web.yaml") }
        #expect(read.description.contains(victim.path) && read.description.contains("owned by uid 65534"), "\(read)")
        let write = try #require(throws: SystemError.self) { try state.writeStateFile("web.yaml", [1]) }
        #expect(write.description.contains(victim.path) && write.description.contains("owned by uid 65534"), "\(write)")
        #expect(throws: SystemError.self) { try state.removeStateFile("web.yaml") }
        victim.expectUntouched()
    }

    /// `rm -r` of a state tree (a network's runtime folder, a retired guest image) removes
    /// what is qnet's and leaves a planted symlink, another user's file, and the folders
    /// holding them; the symlink's target directory keeps its files.
    @Test(Privileged.rootEnabled) func removingAStateTreeLeavesPlantedEntriesAndTheirTargetsAlone() throws {
        let directory = try TestDirectory()
        let victim = try Victim(in: directory)
        try FileManager.default.createDirectory(atPath: directory.file("target"), withIntermediateDirectories: false)
        try Data("precious".utf8).write(to: URL(fileURLWithPath: directory.file("target/keep")))
        for folder in ["state", "state/tree", "state/tree/own", "state/tree/hosts", "state/tree/theirs"] {
            try FileManager.default.createDirectory(atPath: directory.file(folder), withIntermediateDirectories: false)
        }
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory.file("state/tree/own/file")))
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory.file("state/tree/dnsmasq.conf")))
        #expect(symlink(directory.file("target"), directory.file("state/tree/hosts/link")) == 0)
        #expect(symlink(victim.path, directory.file("state/tree/log")) == 0)
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory.file("state/tree/theirs/file")))
        #expect(chown(directory.file("state/tree/theirs/file"), 65534, 65534) == 0)

        let state = try #require(try DirectoryDescriptor.openState(directory.file("state"), create: false))
        let left = state.removeStateTree("tree")
        #expect(left.count == 3, "\(left)")
        #expect(left.contains { $0.hasPrefix(directory.file("state/tree/hosts/link")) && $0.contains("symbolic link") }, "\(left)")
        #expect(left.contains { $0.hasPrefix(directory.file("state/tree/log")) && $0.contains("symbolic link") }, "\(left)")
        #expect(left.contains { $0.hasPrefix(directory.file("state/tree/theirs/file")) && $0.contains("uid 65534") }, "\(left)")
        // Witness: lstat of every path.
        let fm = FileManager.default
        #expect(!fm.fileExists(atPath: directory.file("state/tree/own")) && !fm.fileExists(atPath: directory.file("state/tree/dnsmasq.conf")))
        #expect(isPlantedLink(directory.file("state/tree/hosts/link"), to: directory.file("target")))
        #expect(isPlantedLink(directory.file("state/tree/log"), to: victim.path))
        #expect(fm.fileExists(atPath: directory.file("state/tree/theirs/file")))
        #expect(fm.contents(atPath: directory.file("target/keep")) == Data("precious".utf8))
        victim.expectUntouched()
        // A planted symlink as the tree itself is left as it is too.
        #expect(symlink(directory.file("target"), directory.file("state/linked")) == 0)
        #expect(state.removeStateTree("linked").count == 1)
        #expect(isPlantedLink(directory.file("state/linked"), to: directory.file("target")))
        #expect(fm.contents(atPath: directory.file("target/keep")) == Data("precious".utf8))
    }

    /// A folder handed to a daemon's user (FRR's `run/`): only the sockets and one-link files
    /// with the names the daemon makes, of that user or root, are unlinked; a symlink, a hard
    /// link, a FIFO, another owner or another name is named and left (with the folder), and
    /// the target of a link is untouched. A folder of a third uid is not entered.
    @Test(Privileged.rootEnabled) func removingADaemonFolderUnlinksOnlyWhatTheDaemonMakes() throws {
        let directory = try TestDirectory()
        let victim = try Victim(in: directory)
        let daemon: uid_t = 65534, run = directory.file("state/run")
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        #expect(chown(run, daemon, daemon) == 0)
        for (name, owner) in [("zebra.pid", daemon), ("bgpd.pid", 0), ("zserv.api", 1234), ("other.pid", daemon)] {
            try Data("1\n".utf8).write(to: URL(fileURLWithPath: "\(run)/\(name)"))
            #expect(chown("\(run)/\(name)", owner, owner) == 0)
        }
        #expect(mknod("\(run)/zebra.vty", S_IFSOCK | 0o600, 0) == 0 && chown("\(run)/zebra.vty", daemon, daemon) == 0)
        #expect(link(victim.path, "\(run)/bgpd.vty") == 0)
        #expect(symlink(victim.path, "\(run)/link") == 0)
        #expect(mkfifo("\(run)/pipe", 0o600) == 0)
        let expected = ["zebra.pid", "bgpd.pid", "zebra.vty", "bgpd.vty", "zserv.api", "link", "pipe"]

        let state = try #require(try DirectoryDescriptor.openState(directory.file("state"), create: false))
        let left = state.removeDaemonFolder("run", daemon: daemon, expected: expected)
        for (name, why) in [("bgpd.vty", "2 hard links"), ("zserv.api", "uid 1234"), ("other.pid", "not a file the daemon makes"),
                            ("link", "symbolic link"), ("pipe", "neither a file nor a socket")] {
            #expect(left.contains { $0.hasPrefix("\(run)/\(name) (") && $0.contains(why) }, "\(name): \(left)")
        }
        #expect(left.count == 5, "\(left)")
        // Witness: the folder's listing.
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: run)) == ["bgpd.vty", "zserv.api", "other.pid", "link", "pipe"])
        victim.expectUntouched()
        #expect(isPlantedLink("\(run)/link", to: victim.path))

        // Of a third uid: not entered at all.
        #expect(chown(run, 1234, 1234) == 0)
        let foreign = state.removeDaemonFolder("run", daemon: daemon, expected: expected)
        #expect(foreign.count == 1 && foreign[0].hasPrefix("\(run) (") && foreign[0].contains("uid 1234"), "\(foreign)")
        #expect(FileManager.default.fileExists(atPath: "\(run)/zserv.api"))

        // Emptied of what was planted: the folder goes.
        #expect(chown(run, daemon, daemon) == 0)
        for name in ["bgpd.vty", "zserv.api", "other.pid", "link", "pipe"] { unlink("\(run)/\(name)") }
        #expect(state.removeDaemonFolder("run", daemon: daemon, expected: expected).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: run))
        victim.expectUntouched()
    }
}
