import SystemPackage
import QNetSystem

/// Why a QMP exchange failed. Each description is one line.
public enum QMPError: UserFacingError, Equatable {
    /// The socket could not be reached (ENOENT: QEMU not started or gone; ECONNREFUSED: nobody listening).
    case connectFailed(path: String, errno: Errno)
    /// Nothing arrived in time.
    case timedOut(waitingFor: String, seconds: Double)
    /// QEMU closed the connection (it exited, or quit).
    case connectionClosed(waitingFor: String)
    /// A line that is not a JSON object QMP sends.
    case malformedMessage(String, reason: String)
    /// The first message was not `{"QMP": {...}}`.
    case unexpectedGreeting(String)
    /// QEMU answered `{"error": {"class": CLASS, "desc": DESCRIPTION}}`.
    case commandFailed(command: String, class: String, description: String)
    /// A socket system call failed.
    case io(operation: String, errno: Errno)
    /// The transport cannot carry descriptors (needed by `getfd`/`add-fd`).
    case descriptorPassingUnsupported

    public var description: String {
        switch self {
        case let .connectFailed(path, errno):
            let hint = errno == .noSuchFileOrDirectory || errno == .connectionRefused ? " (is QEMU running with this QMP socket?)" : ""
            return "cannot connect to QMP socket '\(path)': \(errno)\(hint)"
        case let .timedOut(waitingFor, seconds):
            return "no \(waitingFor) from QEMU within \(Self.format(seconds)) s"
        case let .connectionClosed(waitingFor):
            return "QEMU closed the QMP connection while qnet waited for \(waitingFor)"
        case let .malformedMessage(line, reason):
            return "malformed QMP message (\(reason)): \(Self.excerpt(line))"
        case let .unexpectedGreeting(line):
            return "not a QMP greeting: \(Self.excerpt(line))"
        case let .commandFailed(command, errorClass, description):
            return "QMP command '\(command)' failed: \(errorClass): \(description)"
        case let .io(operation, errno):
            return "QMP \(operation) failed: \(errno)"
        case .descriptorPassingUnsupported:
            return "this QMP transport cannot pass file descriptors"
        }
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }

    /// At most 200 characters, newlines escaped, so the message stays one line.
    static func excerpt(_ text: String) -> String {
        let flat = text.replacing("\n", with: "\\n").replacing("\r", with: "\\r")
        return flat.count > 200 ? String(flat.prefix(200)) + "..." : flat
    }
}
