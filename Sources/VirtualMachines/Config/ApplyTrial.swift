import Glibc
import QNetSystem
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A running `qnet apply --try`: what its watchdog and `qnet apply --confirm` need to find
/// it. Kept in RUNTIME/apply-try.json while the try waits (like netplan try's and
/// NetworkManager's checkpoint with a rollback timeout).
///
/// The applied link changes stay an uncommitted host transaction, journaled, until the try
/// ends: confirmation commits it (the journal goes); the deadline, SIGHUP, Ctrl-C or
/// `kill` roll it back through the same journal. If the qnet that started the try is
/// killed, its journal is abandoned, and the watchdog — a detached process in its own
/// session that survives it — rolls it back at the deadline, as any later qnet command that
/// takes the namespace's lock would.
public struct ApplyTrial: Codable, Equatable, Sendable {
    /// The `qnet apply --try` process (pid, start time, executable).
    public var owner: ProcessIdentity
    /// Its journal file under RUNTIME/journal.
    public var journal: String
    /// CLOCK_MONOTONIC seconds (system-wide) at which the try is rolled back.
    public var deadline: Double
    public var watchdog: ProcessIdentity?
    public var command: String

    public init(owner: ProcessIdentity, journal: String, deadline: Double, watchdog: ProcessIdentity? = nil, command: String) {
        self.owner = owner
        self.journal = journal
        self.deadline = deadline
        self.watchdog = watchdog
        self.command = command
    }

    static let fileName = "apply-try.json", confirmationName = "apply-try.confirmed"
    public static var path: String { "\(QNetPaths.runtime)/\(fileName)" }
    /// Written by `qnet apply --confirm`.
    public static var confirmationPath: String { "\(QNetPaths.runtime)/\(confirmationName)" }

    /// RUNTIME, checked level by level (`DirectoryDescriptor.openState`): both files are
    /// reached through it, never through a symlink, and only when they are qnet's (the
    /// watchdog signals the processes the record names).
    static func openRuntime(create: Bool = false) throws -> DirectoryDescriptor? {
        try DirectoryDescriptor.openState(QNetPaths.runtime, create: create)
    }

    public static func current() -> ApplyTrial? {
        guard let bytes = try? openRuntime()?.readStateFile(fileName, kind: "apply --try record") else { return nil }
        return try? JSONDecoder().decode(ApplyTrial.self, from: Data(bytes))
    }

    public func save() throws {
        guard let runtime = try Self.openRuntime(create: true) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open", path: QNetPaths.runtime)
        }
        try runtime.writeStateFile(Self.fileName, Array(try JSONEncoder().encode(self)), mode: 0o600, kind: "apply --try record")
    }

    public static var isConfirmed: Bool {
        (try? openRuntime()?.readStateFile(confirmationName, kind: "apply --try confirmation")) != nil
    }

    public static func confirm() throws {
        guard let runtime = try openRuntime(create: true) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open", path: QNetPaths.runtime)
        }
        try runtime.writeStateFile(confirmationName, Array("confirmed\n".utf8), mode: 0o600, kind: "apply --try confirmation")
    }

    /// The try is over: its files go (a symlink or another user's file there is left alone).
    public static func finish() {
        guard let runtime = try? openRuntime() else { return }
        for name in [fileName, confirmationName] { try? runtime.removeStateFile(name, kind: "apply --try record") }
    }

    public var secondsLeft: Double { max(0, deadline - monotonicSeconds()) }
}
