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

    public static var path: String { "\(QNetPaths.runtime)/apply-try.json" }
    /// Written by `qnet apply --confirm`.
    public static var confirmationPath: String { "\(QNetPaths.runtime)/apply-try.confirmed" }

    public static func current() -> ApplyTrial? {
        guard let bytes = try? FileSystem.readBytes(path) else { return nil }
        return try? JSONDecoder().decode(ApplyTrial.self, from: Data(bytes))
    }

    public func save() throws {
        try FileSystem.makeDirectories(QNetPaths.runtime)
        try FileSystem.writeAtomically(Self.path, Array(try JSONEncoder().encode(self)), mode: 0o600)
    }

    public static var isConfirmed: Bool { FileSystem.exists(confirmationPath) }

    public static func confirm() throws {
        try FileSystem.writeAtomically(confirmationPath, Array("confirmed\n".utf8), mode: 0o600)
    }

    /// The try is over: its files go.
    public static func finish() {
        unlink(path)
        unlink(confirmationPath)
    }

    public var secondsLeft: Double { max(0, deadline - monotonicSeconds()) }
}
