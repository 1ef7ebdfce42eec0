import HostNetwork
import QNetSystem

/// Why a VM operation failed; one line each, naming the bad value and what is allowed.
public enum VMError: UserFacingError, Equatable {
    case invalidValue(what: String, value: String, allowed: String)
    case missingFile(what: String, path: String)
    case unreadableFile(what: String, path: String, user: String)
    case duplicateName(String, pid: Int32)
    case noSuchVM(String)
    case macInUse(mac: String, vm: String)
    case noSuchUser(String, remedy: String)
    case qemuNotInstalled
    case qemuExited(status: String, stderr: String)
    case qemuStartFailed(String)
    case nicNotOnBridge(tap: String, bridge: String)
    case qmp(String)
    case timeout(String)
    case network(HostNetworkError)
    case state(String)

    public var isUsageError: Bool {
        switch self {
        case .invalidValue, .missingFile, .noSuchUser: true
        case .network(let error): error.isUsageError
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .invalidValue(what, value, allowed): "invalid \(what) '\(value)': \(allowed)"
        case let .missingFile(what, path): "\(what) '\(path)' does not exist"
        case let .unreadableFile(what, path, user): "\(what) '\(path)' is not accessible to user '\(user)', whom QEMU runs as; fix its permissions or pass --user"
        case let .duplicateName(name, pid): "a VM named '\(name)' is already running (pid \(pid)); stop it first or pick another name"
        case let .noSuchVM(name): "no VM named '\(name)' is running (see `qnet vm list`)"
        case let .macInUse(mac, vm): "MAC address \(mac) is already used by VM '\(vm)'; pick another mac= or drop it to get a derived one"
        case let .noSuchUser(name, remedy): "user '\(name)' does not exist; \(remedy)"
        case .qemuNotInstalled: "QEMU is not installed (neither qemu-kvm nor qemu-system-x86_64 is on PATH); install it: apt-get install qemu-system-x86"
        case let .qemuExited(status, stderr):
            "QEMU exited at once (\(status))" + (stderr.isEmpty ? "" : ": " + stderr.split(separator: "\n").suffix(3).joined(separator: " | "))
        case let .qemuStartFailed(reason): "cannot start QEMU: \(reason)"
        case let .nicNotOnBridge(tap, bridge): "TAP \(tap) is not attached to \(bridge); the VM was not started"
        case let .qmp(reason): "QMP: \(reason)"
        case let .timeout(reason): "timed out: \(reason)"
        case let .network(error): error.description
        case let .state(reason): reason
        }
    }
}
