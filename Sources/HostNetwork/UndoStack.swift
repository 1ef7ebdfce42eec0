import QNetSystem

/// Steps already taken by a multi-step operation, with how to take each back.
///
/// Every step registers its undo right after it succeeds; unless the operation calls
/// ``commit()``, ``rollback()`` runs the undos in reverse order, so a failure part-way
/// leaves the host as it was (Incus's "revert" pattern).
public final class UndoStack {
    private var steps: [(description: String, undo: () throws -> Void)] = []
    private var committed = false

    public init() {}

    public func push(_ description: String, _ undo: @escaping () throws -> Void) {
        steps.append((description, undo))
    }

    public func commit() { committed = true; steps.removeAll() }

    /// Runs every undo in reverse order, continuing past failures, and returns the
    /// descriptions of the undos that failed.
    @discardableResult
    public func rollback() -> [String] {
        guard !committed else { return [] }
        var failures: [String] = []
        while let step = steps.popLast() {
            do { try step.undo() } catch { failures.append("\(step.description): \(error)") }
        }
        return failures
    }

    public var count: Int { steps.count }
}

/// An operation failed part-way and was rolled back; `rollbackFailures` lists undo steps
/// that themselves failed (empty when the host is back exactly as it was).
public struct RolledBackError: UserFacingError {
    public var underlying: Error
    public var rollbackFailures: [String]
    /// The failure came past the operation's point of no return, so the rest of it was
    /// finished instead of undone (a bridge being deleted is deleted).
    public var completedInstead = false

    /// 1, or 128 + the signal when a deferred signal stopped the operation (the shell's
    /// convention: 130 after Ctrl-C, 143 after `kill`, 129 after a hang-up).
    public var exitCode: Int32 { (underlying as? Interrupted)?.exitCode ?? 1 }

    public var description: String {
        if completedInstead {
            if rollbackFailures.isEmpty { return "\(underlying) (past the point of no return: the rest was finished instead)" }
            return "\(underlying); finishing the rest also failed for: \(rollbackFailures.joined(separator: "; ")) (`qnet recover` retries)"
        }
        if rollbackFailures.isEmpty { return "\(underlying) (every step already taken was undone)" }
        return "\(underlying); undoing also failed for: \(rollbackFailures.joined(separator: "; "))"
    }
}
