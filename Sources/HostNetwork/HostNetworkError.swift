import Netlink
import NetlinkWire
import SystemPackage
import QNetSystem

/// Why a host network operation failed. Each case's description is one line that names
/// the bad value and says what is allowed or what to do.
public enum HostNetworkError: UserFacingError, Equatable {
    case invalidName(String, reason: String)
    case invalidValue(what: String, value: String, allowed: String)
    case noSuchDevice(String)
    case alreadyExists(String)
    case notABridge(String, kind: LinkKind?)
    case bridgeIntoItself(String)
    case bridgeIntoOwnPort(bridge: String, port: String)
    case alreadyEnslaved(port: String, master: String)
    case notAPort(port: String, bridge: String)
    /// A hook (`qnet ifup`/`ifdown`) was pointed at something other than a TAP.
    case notATAP(String, kind: LinkKind?)
    case wirelessUplink(String)
    case uplinkInUse(String, reason: String)
    case tun(step: String, name: String, errno: Errno)
    case kernel(operation: String, NetlinkError)
    case namespace(NamespaceError)
    /// The kernel refused a VF change of PF `device` (`ip link set DEVICE vf N SETTINGS`).
    case virtualFunction(device: String, vf: UInt32, vfCount: UInt32?, settings: String, NetlinkError)

    /// Bad input (exit status 2) rather than a failed operation (exit status 1).
    public var isUsageError: Bool {
        switch self {
        case .invalidName, .invalidValue: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .invalidName(name, reason):
            return "invalid interface name '\(name)': \(reason)"
        case let .invalidValue(what, value, allowed):
            return "invalid \(what) '\(value)': \(allowed)"
        case let .noSuchDevice(name):
            return "no interface named '\(name)' (see `qnet show` or /sys/class/net)"
        case let .alreadyExists(name):
            return "an interface named '\(name)' already exists; pick another name or delete it first"
        case let .notABridge(name, kind):
            return "'\(name)' is not a bridge (its kind is \(kind?.description ?? "none")); name a bridge made with `qnet bridge create`"
        case let .bridgeIntoItself(name):
            return "cannot attach bridge '\(name)' to itself"
        case let .bridgeIntoOwnPort(bridge, port):
            return "cannot attach '\(port)' to '\(bridge)': '\(port)' is a bridge and '\(bridge)' is already its port (that would make a loop)"
        case let .alreadyEnslaved(port, master):
            return "'\(port)' already belongs to '\(master)'; detach it first with `qnet bridge detach \(master) \(port)`"
        case let .notAPort(port, bridge):
            return "'\(port)' is not a port of bridge '\(bridge)'"
        case let .notATAP(name, kind):
            let what = switch kind {
            case .tun?: "a TUN device (layer 3)"
            case let kind?: "a \(kind) device"
            case nil: "a device without a link kind (a physical NIC or the loopback)"
            }
            return "'\(name)' is \(what), not a TAP; the QEMU hooks act only on TAP devices"
        case let .wirelessUplink(name):
            return "'\(name)' is a wireless interface and cannot be bridged (802.11 stations drop frames from other MACs); use a NAT network or user-mode networking instead"
        case let .uplinkInUse(name, reason):
            return "cannot use '\(name)' as an uplink: \(reason)"
        case let .tun(step, name, errno):
            var hint = ""
            if errno == .noSuchFileOrDirectory { hint = " (load the tun module: modprobe tun)" }
            if errno == .permissionDenied || errno == .notPermitted { hint = " (needs CAP_NET_ADMIN)" }
            if errno == .resourceBusy { hint = " (the name is taken by a device that is not a TAP, or the TAP is in use with other flags)" }
            return "\(step) for '\(name)' failed: \(errno)\(hint)"
        case let .kernel(operation, error):
            var hint = ""
            if error.errno == .notPermitted { hint = " (needs CAP_NET_ADMIN)" }
            return "\(operation) failed: \(error)\(hint)"
        case let .namespace(error):
            return error.description
        case let .virtualFunction(device, vf, vfCount, settings, error):
            let what = "cannot set VF \(vf) of '\(device)' (ip link set \(device) vf \(vf)\(settings))"
            var kernelSays = ""
            if case let .kernel(_, extAck?, _) = error, !extAck.isEmpty { kernelSays = " (kernel: \(extAck))" }
            switch error.errno {
            case .notSupported?, .notSupportedOnSocket?:
                // EOPNOTSUPP: the driver has no ndo_set_vf_* for this setting (veth, dummy, a VF itself, a NIC without SR-IOV).
                return "\(what): the device's driver does not support this VF setting\(kernelSays); is '\(device)' an SR-IOV PF with VFs enabled? see `qnet pci list` and `qnet pci vfs`"
            case .invalidArgument?:
                let range = vfCount.map { $0 == 0 ? "; '\(device)' has no VFs enabled (qnet pci vfs \(device) --count N)" : "; '\(device)' has \($0) VFs: 0-\($0 - 1)" } ?? ""
                return "\(what): the driver refused it as invalid\(kernelSays)\(range)"
            case .notPermitted?:
                return "\(what): \(error) (needs CAP_NET_ADMIN)"
            default:
                return "\(what): \(error)"
            }
        }
    }
}
