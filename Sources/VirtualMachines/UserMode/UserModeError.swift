import QNetSystem

/// Why a user-mode NIC cannot be set up; one line each, naming the bad value and what is allowed.
public enum UserModeError: UserFacingError, Equatable {
    /// A `hostfwd=` value that does not parse.
    case invalidForward(value: String, problem: String)
    /// Any other bad `--nic user` value.
    case invalidValue(what: String, value: String, allowed: String)
    /// Two forwards of one VM listen on the same host port.
    case duplicateForward(first: String, second: String, port: UInt16, protocol: String)
    /// Another socket already holds the host port (EADDRINUSE).
    case portInUse(protocol: String, port: UInt16, address: String)
    /// The host port cannot be bound for another reason (address not on this host,
    /// privileged port for an unprivileged user, ...).
    case portUnavailable(protocol: String, port: UInt16, address: String, reason: String)
    case passtNotInstalled
    /// passt could not be started at all (its log not writable, exec failed, ...).
    case passtStartFailed(SystemError)
    /// The directory of passt's socket does not exist.
    case passtSocketDirectoryMissing(directory: String)
    /// passt's user cannot create its socket in that directory.
    case passtSocketDirectoryNotWritable(directory: String, user: String)
    /// A passt NIC's QEMU side was asked for before its passt was started.
    case passtNotStarted
    /// passt exited before its socket was ready; `output` is what it printed.
    case passtExited(status: String, output: String)
    /// passt ran but its socket did not appear in time.
    case passtTimeout(socketPath: String, seconds: Double, output: String)

    public var isUsageError: Bool {
        switch self {
        case .invalidForward, .invalidValue, .duplicateForward: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .invalidForward(value, problem):
            "invalid hostfwd '\(value)': \(problem); use \(HostForward.syntax)"
        case let .invalidValue(what, value, allowed):
            "invalid \(what) '\(value)': \(allowed)"
        case let .duplicateForward(first, second, port, proto):
            "hostfwd '\(first)' and '\(second)' both listen on \(proto) port \(port) of the host; give each forward its own host port"
        case let .portInUse(proto, port, address):
            "\(proto) port \(port) on \(address) is in use; stop what listens there (ss -\(proto == "tcp" ? "t" : "u")lnp 'sport = :\(port)') or pick another host port"
        case let .portUnavailable(proto, port, address, reason):
            "\(proto) port \(port) on \(address) cannot be bound: \(reason)"
        case .passtNotInstalled:
            "passt is not installed (no passt on PATH); install it: apt-get install passt, or use backend=slirp"
        case let .passtStartFailed(error):
            "cannot start passt: \(error)"
        case let .passtSocketDirectoryMissing(directory):
            "cannot start passt: the socket directory \(directory) does not exist"
        case let .passtSocketDirectoryNotWritable(directory, user):
            "cannot start passt: the socket directory \(directory) is not writable by '\(user)', whom passt runs as"
        case .passtNotStarted:
            "no passt socket for this NIC (start passt first)"
        case let .passtExited(status, output):
            "passt exited at once (\(status))" + (output.isEmpty ? "" : ": " + output)
        case let .passtTimeout(socketPath, seconds, output):
            // passt 2023-03 logs "UNIX domain socket bound" even when the bind failed.
            "passt did not create its socket \(socketPath) within \(seconds) s (is its directory writable by passt's user?)" + (output.isEmpty ? "" : ": " + output)
        }
    }
}
