import QEMU
import QMP
import QNetSystem

/// Why a VM operation failed; one line each, naming the bad value and what is allowed.
/// Failures of a lower layer are carried typed (`QEMUError`, `QMPError`, `SystemError`);
/// host network and named-network failures are thrown as their own types
/// (`HostNetworkError`, `NetworkError`).
public enum VMError: UserFacingError, Equatable {
    case invalidValue(what: String, value: String, allowed: String)
    case missingFile(what: String, path: String)
    case unreadableFile(what: String, path: String, user: String)
    case duplicateName(String, pid: Int32)
    /// Another `vm run` of the same name holds the VM's lock (its pid, when it recorded it).
    case beingStarted(String, pid: Int32?)
    case noSuchVM(String)
    case macInUse(mac: String, vm: String)
    /// `requested`: the user was named (`--user`, a definition's `user:`); otherwise it is
    /// the `qnet` system account qnet falls back to.
    case noSuchUser(String, requested: Bool)
    /// QEMU could not be started at all (exec or the switch to its user failed).
    case qemuStartFailed(SystemError)
    /// The definition cannot be written as a QEMU command line.
    case qemuCommandLine(QEMUError)
    /// QEMU ended before its QMP socket came up: how (nil: gone, not qnet's child), and
    /// the last lines it printed.
    case qemuExited(Termination?, output: String)
    case qmpSocketTimeout(path: String, seconds: Int)
    /// A QMP exchange with a running QEMU failed.
    case qmp(QMPError)
    /// QEMU was still there after SIGKILL and the grace time.
    case didNotExit(pid: Int32)
    case nicNotOnBridge(tap: String, bridge: String)
    /// Every uid of the VM uid range is taken (running VMs, processes, accounts).
    case noFreeUID(range: String)
    /// RLIMIT_MEMLOCK could not be raised for a VM with passthrough devices.
    case lockedMemoryLimit(needed: UInt64, current: UInt64, SystemError)

    public var isUsageError: Bool {
        switch self {
        case .invalidValue, .missingFile, .noSuchUser: true
        case let .qemuCommandLine(error): error.isUsageError
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .invalidValue(what, value, allowed): "invalid \(what) '\(printable(value))': \(allowed)"
        case let .missingFile(what, path): "\(what) '\(printable(path))' does not exist"
        case let .unreadableFile(what, path, user): "\(what) '\(path)' is not accessible to user '\(user)', whom QEMU runs as; fix its permissions or pass --user"
        case let .duplicateName(name, pid): "a VM named '\(name)' is already running (pid \(pid)); stop it first or pick another name"
        case let .beingStarted(name, pid): "VM \(printable(name)) is being started by \(pid.map { "pid \($0)" } ?? "another process"); wait for it, then see `qnet vm list`"
        case let .noSuchVM(name): "no VM named '\(printable(name))' is running (see `qnet vm list`)"
        case let .macInUse(mac, vm): "MAC address \(mac) is already used by VM '\(vm)'; pick another mac= or drop it to get a derived one"
        case let .noSuchUser(name, requested):
            requested
                ? "user '\(printable(name))' does not exist; pass an existing user to --user"
                : "user '\(name)' does not exist; create it with `useradd --system --no-create-home --shell /usr/sbin/nologin \(name)` "
                    + "or pass --user USER (QEMU never runs as root unless --user root)"
        case let .qemuStartFailed(error): "cannot start QEMU: \(error)"
        case let .qemuCommandLine(error): "cannot build QEMU's command line: \(error)"
        case let .qemuExited(termination, output):
            "QEMU exited at once (\(termination?.description ?? "no longer running"))"
                + (output.isEmpty ? "" : ": " + output.split(separator: "\n").suffix(3).joined(separator: " | "))
        case let .qmpSocketTimeout(path, seconds): "timed out: QEMU did not answer on its QMP socket \(path) within \(seconds) s"
        case let .qmp(error): "QMP: \(error)"
        case let .didNotExit(pid): "timed out: QEMU (pid \(pid)) did not exit after SIGKILL"
        case let .nicNotOnBridge(tap, bridge): "TAP \(tap) is not attached to \(bridge); the VM was not started"
        case let .lockedMemoryLimit(needed, current, error):
            "a VM with passthrough NICs needs RLIMIT_MEMLOCK of \(needed >> 20) MiB (its RAM + 1 GiB, which VFIO pins for DMA), "
                + "but it is \(current >> 20) MiB and cannot be raised (\(error)); run as root or raise it (`ulimit -l`, LimitMEMLOCK= in systemd)"
        case let .noFreeUID(range): "no free uid for QEMU in the VM uid range \(range) (each running VM takes one); widen it with QNET_UID_RANGE or --uid-range, or pass --user"
        }
    }
}
