import FoundationEssentials
import Glibc
import SystemPackage

/// One kind of undo record in a host transaction's journal: a value that says what a change
/// touches and everything needed to take it back (or to finish it) after the process that
/// made it is gone. Each kind has a stable name; a `RecoveryRegistry` maps names to the code
/// that acts on them.
///
/// Acting on a record must be idempotent and must accept any state between "not started"
/// and "done": the process may have been killed before, during or after any of its steps,
/// and recovery itself may be killed and run again.
public protocol JournalRecord: Codable, Sendable {
    /// Stable across versions: `uplink-move`, `network-start`, ... Letters, digits and '-'.
    static var kind: String { get }
    /// The record's JSON written by hand (``JournalJSON``), byte for byte what `JSONEncoder`
    /// writes, for records on hot paths; nil (the default): `JSONEncoder` writes it.
    var handWrittenJSON: [UInt8]? { get }
}

extension JournalRecord {
    public var handWrittenJSON: [UInt8]? { nil }
}

/// A record as it sits in the journal: its kind and its JSON.
public struct EncodedRecord: Sendable, Equatable {
    public var kind: String
    public var json: [UInt8]

    public init<Record: JournalRecord>(_ record: Record) throws {
        kind = Record.kind
        json = try record.handWrittenJSON ?? Array(JSONEncoder.journal.encode(record))
    }

    init(kind: String, json: [UInt8]) {
        self.kind = kind
        self.json = json
    }

    public func decode<Record: JournalRecord>(_ type: Record.Type) throws -> Record {
        try JSONDecoder().decode(Record.self, from: Data(json))
    }
}

/// Who wrote a journal and why.
public struct JournalHeader: Codable, Sendable, Equatable {
    /// The lock scope's key: only a holder of that lock recovers the journal.
    public var scope: String
    /// The command as the user typed it, without the program name: `bridge create br0 --uplink eth0`.
    public var command: String
    /// The writing process; the journal is abandoned once it no longer runs.
    public var owner: ProcessIdentity
    /// For a namespace scope: the namespace it was written in, to tell a namespace that died
    /// (and whose inode a new one reuses) from the same one.
    public var namespace: NetworkNamespaceIdentity?

    public init(scope: String, command: String, owner: ProcessIdentity, namespace: NetworkNamespaceIdentity? = nil) {
        self.scope = scope
        self.command = command
        self.owner = owner
        self.namespace = namespace
    }
}

/// One transaction's journal: what it will undo, how far it got, and whether it passed the
/// point after which recovery completes it instead of rolling it back.
///
/// On disk, one line each (`cat` shows it):
/// ```
/// qnet-journal 1
/// header {"scope":"netns-3-4026532",...,"command":"bridge create br0 --uplink eth0","owner":{"pid":4242,...}}
/// record uplink-move {"uplink":"eth0",...}
/// step "enslave uplink"
/// no-return
/// ```
public struct JournalEntry: Sendable, Equatable {
    public var header: JournalHeader
    public var records: [EncodedRecord] = []
    /// Progress, in order: names of steps begun.
    public var steps: [String] = []
    /// Past the point of no return: recovery completes the transaction.
    public var pastPointOfNoReturn = false

    public init(header: JournalHeader) { self.header = header }

    /// The file's name: `SCOPE.PID-STARTTIME.journal`.
    public var fileName: String { "\(header.scope).\(header.owner.pid)-\(header.owner.startTime).journal" }

    static let magic = "qnet-journal 1"

    public func encoded() throws -> [UInt8] {
        var text = Self.magic + "\n"
        // The header and step names by hand (``JournalJSON``): the same bytes as JSONEncoder's.
        text += "header " + String(decoding: header.journalJSON, as: UTF8.self) + "\n"
        for record in records { text += "record \(record.kind) " + String(decoding: record.json, as: UTF8.self) + "\n" }
        for step in steps {
            var json = JournalJSON()
            json.string(step)
            text += "step " + String(decoding: json.bytes, as: UTF8.self) + "\n"
        }
        if pastPointOfNoReturn { text += "no-return\n" }
        return Array(text.utf8)
    }

    /// Parses a journal file; throws `JournalError.unreadable` naming the first bad line.
    public init(decoding bytes: [UInt8], fileName: String) throws {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard lines.first == Substring(Self.magic) else { throw JournalError.unreadable(fileName, reason: "no '\(Self.magic)' line") }
        var header: JournalHeader?
        var records: [EncodedRecord] = []
        var steps: [String] = []
        var noReturn = false
        for (number, line) in lines.enumerated().dropFirst() {
            let parts = line.split(separator: " ", maxSplits: 1)
            let tag = parts.first.map(String.init) ?? ""
            let rest = parts.count > 1 ? Array(parts[1].utf8) : []
            do {
                switch tag {
                case "header": header = try JSONDecoder().decode(JournalHeader.self, from: Data(rest))
                case "record":
                    let kindAndJSON = parts.count > 1 ? parts[1].split(separator: " ", maxSplits: 1) : []
                    guard kindAndJSON.count == 2 else { throw JournalError.unreadable(fileName, reason: "line \(number + 1): record without kind or body") }
                    records.append(EncodedRecord(kind: String(kindAndJSON[0]), json: Array(kindAndJSON[1].utf8)))
                case "step": steps.append(try JSONDecoder().decode(String.self, from: Data(rest)))
                case "no-return": noReturn = true
                default: throw JournalError.unreadable(fileName, reason: "line \(number + 1): unknown tag '\(tag)'")
                }
            } catch let error as JournalError {
                throw error
            } catch {
                throw JournalError.unreadable(fileName, reason: "line \(number + 1): \(error)")
            }
        }
        guard let header else { throw JournalError.unreadable(fileName, reason: "no header line") }
        self.header = header
        self.records = records
        self.steps = steps
        self.pastPointOfNoReturn = noReturn
    }
}

/// What recovery does with a transaction nobody finished.
public enum RecoveryDirection: String, Sendable, Equatable {
    /// Take back every recorded change (newest record first).
    case rollBack
    /// Finish the transaction (past its point of no return; oldest record first).
    case complete
}

/// What a recovery handler gets besides its record.
public struct RecoveryContext {
    public var direction: RecoveryDirection
    /// Call between two operations: notices a signal that arrived meanwhile (a second Ctrl-C)
    /// and tells the user the work is finishing instead of stopping half-way.
    public var pause: () -> Void

    public init(direction: RecoveryDirection, pause: @escaping () -> Void = {}) {
        self.direction = direction
        self.pause = pause
    }
}

/// Record kinds and the code that rolls back or completes each: the recovery dispatcher.
/// Lower layers register their own kinds (HostNetwork: the uplink move); the command layer
/// merges them all, so any command can recover any journal.
public struct RecoveryRegistry {
    /// Acts on one record; returns what it put back, for the user (`eth0 has 192.168.1.10/24
    /// again`), or nil when there is nothing to say.
    public typealias Handler = (EncodedRecord, RecoveryContext) throws -> String?

    private var handlers: [String: Handler] = [:]

    public init() {}

    public mutating func register<Record: JournalRecord>(_ type: Record.Type,
                                                         _ handler: @escaping (Record, RecoveryContext) throws -> String?) {
        handlers[Record.kind] = { encoded, context in try handler(try encoded.decode(Record.self), context) }
    }

    /// Adds `other`'s kinds (its handler wins for a kind both know).
    public mutating func merge(_ other: RecoveryRegistry) {
        handlers.merge(other.handlers) { _, theirs in theirs }
    }

    public func knows(_ kind: String) -> Bool { handlers[kind] != nil }

    public var kinds: [String] { handlers.keys.sorted() }

    /// Rolls back (newest first) or completes (oldest first) every record of `entry`,
    /// continuing past failures. Returns the handlers' summaries and the failures.
    func act(on entry: JournalEntry, direction: RecoveryDirection, pause: @escaping () -> Void)
        -> (summaries: [String], failures: [String]) {
        var summaries: [String] = []
        var failures: [String] = []
        let ordered = direction == .rollBack ? Array(entry.records.reversed()) : entry.records
        for record in ordered {
            guard let handler = handlers[record.kind] else {
                failures.append("no handler for record kind '\(record.kind)' (written by another qnet version?)")
                continue
            }
            do {
                if let summary = try handler(record, RecoveryContext(direction: direction, pause: pause)) { summaries.append(summary) }
            } catch {
                failures.append("\(record.kind): \(error)")
            }
            pause()
        }
        return (summaries, failures)
    }
}

/// The outcome of recovering one abandoned journal.
public struct RecoveryReport: Sendable, Equatable, CustomStringConvertible {
    public var command: String
    public var owner: pid_t
    public var direction: RecoveryDirection
    public var summaries: [String]
    /// Empty when the host was put back (or the transaction finished) completely.
    public var failures: [String]
    /// Set when the journal was dropped without acting on it, and why.
    public var discarded: String?

    public var succeeded: Bool { failures.isEmpty }

    /// `recovered: rolled back an interrupted `bridge create br0 --uplink eth0` (pid 4242):
    /// eth0 has 192.168.1.10/24 and the default route again`, one line.
    public var description: String {
        let what = "an interrupted `\(command)` (pid \(owner))"
        if let discarded { return "recovered: dropped the journal of \(what): \(discarded)" }
        let verb = direction == .rollBack ? "rolled back" : "completed"
        if !failures.isEmpty {
            return "recovery failed: could not fully \(direction == .rollBack ? "roll back" : "complete") \(what): "
                + failures.joined(separator: "; ") + " (the journal is kept; `qnet recover` retries)"
        }
        return "recovered: \(verb) \(what)" + (summaries.isEmpty ? "" : ": " + summaries.joined(separator: "; "))
    }
}

/// Why a journal could not be used.
public enum JournalError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): "journal \(file) is unreadable: \(reason)"
        }
    }
}

/// A directory of host-transaction journals (`/run/qnet/journal`): one file per transaction
/// in progress, written atomically (temporary file, rename) before each change it records,
/// removed at commit.
///
/// It lives under the runtime directory on purpose: what it undoes (links, addresses,
/// routes, processes) does not survive a reboot either, so a journal must not. For the
/// same reason it is not fsync'ed: the journal is for a qnet process killed part-way, and
/// what a killed process wrote is in the page cache for the next one to read; a crash of
/// the machine that could lose an unsynced journal also takes the links and processes it
/// would undo. The fsyncs cost 4 per change (file and directory, write and remove), each
/// a file-system journal commit where /run is on disk (0.3-3 ms each, measured here with
/// /run on ext4), nearly nothing on tmpfs.
public final class Journal: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// Opens the directory (creating it 0700: journals hold the host's addresses and routes),
    /// every level with O_NOFOLLOW and checked for its owner and mode
    /// (`DirectoryDescriptor.openState`). nil when it is missing and `create` is false.
    func open(create: Bool = true) throws -> DirectoryDescriptor? {
        try DirectoryDescriptor.openState(directory, mode: 0o700, create: create)
    }

    /// The directory, created when missing.
    private func opened() throws -> DirectoryDescriptor {
        guard let handle = try open() else { throw SystemError(errno: .noSuchFileOrDirectory, operation: "open journal directory", path: directory) }
        return handle
    }

    /// Refuses to touch `name` when something other than a journal of ours is there (a
    /// planted symlink, another user's file): reported with its path and left alone.
    private func refuseForeign(_ name: String, in handle: DirectoryDescriptor) throws {
        if let foreign = try handle.foreignEntry(name) {
            throw SystemError(errno: .notPermitted, operation: "use journal (\(foreign); refused and left alone)", path: handle.child(name))
        }
    }

    func write(_ entry: JournalEntry) throws {
        let handle = try opened()
        try refuseForeign(entry.fileName, in: handle)
        try handle.writeAtomically(entry.fileName, try entry.encoded(), mode: 0o600, durable: false)
    }

    func remove(_ entry: JournalEntry) throws {
        let handle = try opened()
        try refuseForeign(entry.fileName, in: handle)
        try handle.remove(entry.fileName)
    }

    /// Removes the journal `fileName` (a transaction committed on behalf of its dead owner,
    /// as `qnet apply --confirm` does for a try whose qnet was killed). Missing is fine.
    public func discard(fileName: String) throws {
        let directory = try opened()
        guard (try directory.names()).contains(fileName) else { return }
        try refuseForeign(fileName, in: directory)
        try directory.remove(fileName)
        guard fsync(directory.fd) == 0 else { throw SystemError.lastError("fsync", path: self.directory) }
    }

    /// Every journal in the directory (optionally of one scope), and those that could not be
    /// read. A missing directory has none.
    public func entries(scope: String? = nil) throws -> (entries: [JournalEntry], unreadable: [JournalError]) {
        let scan = try self.scan(scope: scope)
        return (scan.entries, scan.unreadable)
    }

    /// `entries`, and the journal paths refused (a symlink or a file that is not qnet's: never
    /// read or followed) with why.
    func scan(scope: String?) throws -> (entries: [JournalEntry], unreadable: [JournalError], refused: [SystemError]) {
        guard let handle = try open(create: false) else { return ([], [], []) }
        var entries: [JournalEntry] = []
        var unreadable: [JournalError] = []
        var refused: [SystemError] = []
        for name in try handle.names() where name.hasSuffix(".journal") && !name.hasPrefix(".") {
            if let scope, !name.hasPrefix(scope + ".") { continue }
            do {
                let fd = try handle.openStateFile(name, flags: O_RDONLY, kind: "journal")
                defer { close(fd) }
                let entry = try JournalEntry(decoding: try FileSystem.readAll(fd, path: handle.child(name)), fileName: name)
                if let scope, entry.header.scope != scope { continue }
                entries.append(entry)
            } catch let error as JournalError {
                unreadable.append(error)
            } catch let error as SystemError where error.errno == .tooManySymbolicLinkLevels || error.errno == .notPermitted {
                unreadable.append(.unreadable(name, reason: "\(error)"))
                refused.append(error)
            } catch {
                unreadable.append(.unreadable(name, reason: "\(error)"))
            }
        }
        return (entries.sorted { $0.fileName < $1.fileName }, unreadable, refused)
    }

    /// Journals whose owner no longer runs: transactions that were killed part-way.
    public func abandoned(scope: String? = nil) throws -> [JournalEntry] {
        try entries(scope: scope).entries.filter { !$0.header.owner.isRunning }
    }

    /// Rolls back or completes every abandoned journal of `scope` and removes it. Call with
    /// the scope's lock held. A journal written in a network namespace that has died since
    /// (same inode, another cookie) is dropped without acting on it. A journal whose
    /// recovery fails is kept (and the failure reported), so a later run retries.
    ///
    /// `namespace` is the namespace the caller is in now, for namespace scopes.
    /// `registry` is evaluated only when there is a journal to act on (building one costs
    /// every command's start-up otherwise).
    public func recoverAbandoned(scope: String, namespace: NetworkNamespaceIdentity? = nil,
                                 registry: @autoclosure () -> RecoveryRegistry,
                                 pause: @escaping () -> Void = {}) throws -> [RecoveryReport] {
        removeAbandonedTemporaryFiles()
        let scan = try scan(scope: scope)
        // A journal path of this scope that is a symlink or not qnet's own: it may stand for
        // an interrupted change (or be bait), so nothing more is changed until an admin looks.
        if let refused = scan.refused.first { throw refused }
        let entries = scan.entries.filter { !$0.header.owner.isRunning }
        guard !entries.isEmpty else { return [] }
        let registry = registry()
        var reports: [RecoveryReport] = []
        for entry in entries {
            reports.append(try recover(entry, namespace: namespace, registry: registry, pause: pause))
        }
        return reports
    }

    /// Acts on one journal (see `recoverAbandoned`) and removes it when that succeeded.
    public func recover(_ entry: JournalEntry, namespace: NetworkNamespaceIdentity? = nil, registry: RecoveryRegistry,
                        pause: @escaping () -> Void = {}) throws -> RecoveryReport {
        let direction: RecoveryDirection = entry.pastPointOfNoReturn ? .complete : .rollBack
        var report = RecoveryReport(command: entry.header.command, owner: entry.header.owner.pid, direction: direction,
                                    summaries: [], failures: [])
        if let recorded = entry.header.namespace, let namespace, !recorded.isSameNamespace(as: namespace) {
            report.discarded = "its network namespace (\(recorded)) no longer exists"
            try remove(entry)
            return report
        }
        let unknown = entry.records.map(\.kind).filter { !registry.knows($0) }
        if !unknown.isEmpty {
            report.failures = ["this qnet does not know record kind(s) \(unknown.joined(separator: ", "))"]
            return report
        }
        (report.summaries, report.failures) = registry.act(on: entry, direction: direction, pause: pause)
        if report.failures.isEmpty { try remove(entry) }
        return report
    }

    /// Temporary files of atomic writes (`.NAME.tmp-PID`) whose writer is gone: a kill
    /// between create and rename leaves one.
    func removeAbandonedTemporaryFiles() {
        guard let handle = try? open(create: false), let names = try? handle.names() else { return }
        for name in names where name.hasPrefix(".") {
            let parts = name.split(separator: "-")
            guard name.contains(".tmp-"), let last = parts.last, let pid = pid_t(last) else { continue }
            // Only a file of ours: a symlink or another user's file there is left alone.
            let ours: Bool
            do { ours = try handle.foreignEntry(name) == nil } catch { ours = false }
            guard ours else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH { try? handle.remove(name) }
        }
    }
}

extension JSONEncoder {
    /// Sorted keys: the same record always has the same bytes (diffable, testable).
    static var journal: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// A left-over transaction could not be rolled back or completed: nothing more should be
/// changed until it is (`qnet recover` retries; the journal is kept).
public struct RecoveryFailed: Error, Equatable, Sendable, CustomStringConvertible {
    public var report: RecoveryReport

    public init(report: RecoveryReport) { self.report = report }

    public var description: String { report.description }
}
