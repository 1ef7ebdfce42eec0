import NetlinkWire
import SystemPackage
import QNetSystem

/// A failure talking to the kernel over netlink.
public enum NetlinkError: UserFacingError, Equatable {
    /// The kernel refused a request: NLMSG_ERROR with a negative errno, and the
    /// extended-ack text when the kernel gave one (NETLINK_EXT_ACK).
    case kernel(errno: Errno, extAck: String?, request: MessageType)
    /// A system call on the netlink socket failed.
    case system(errno: Errno, call: String)
    /// The kernel's reply could not be decoded.
    case malformedReply(WireError)
    /// A dump was interrupted (NLM_F_DUMP_INTR) by concurrent changes on every attempt.
    case dumpInterrupted(attempts: Int)
    /// A datagram was larger than the receive buffer (MSG_TRUNC).
    case truncatedDatagram(size: Int)
    /// The transport closed or returned nothing while a reply was still due.
    case connectionClosed

    public var errno: Errno? {
        switch self {
        case let .kernel(errno, _, _), let .system(errno, _): errno
        default: nil
        }
    }

    public var description: String {
        switch self {
        case let .kernel(errno, extAck, request):
            let reason = errno.description
            if let extAck, !extAck.isEmpty { return "\(reason) (kernel: \(extAck)) [\(request)]" }
            return "\(reason) [\(request)]"
        case let .system(errno, call):
            return "\(call): \(errno.description)"
        case let .malformedReply(error):
            return "malformed netlink reply: \(error)"
        case let .dumpInterrupted(attempts):
            return "netlink dump interrupted by concurrent changes \(attempts) times in a row"
        case let .truncatedDatagram(size):
            return "netlink datagram of \(size) bytes exceeded the receive buffer"
        case .connectionClosed:
            return "netlink socket closed before the kernel replied"
        }
    }
}
