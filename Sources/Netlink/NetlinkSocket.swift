import CLinuxNet
import Glibc
import SystemPackage

/// A NETLINK_ROUTE socket. It belongs to the network namespace the calling thread was in
/// when it was opened, whichever thread uses it later.
///
/// Equivalent to what `ip` opens for every command. Needs CAP_NET_ADMIN in that
/// namespace for requests that change state (dumps work unprivileged).
public final class NetlinkSocket: NetlinkTransport, @unchecked Sendable {
    public private(set) var descriptor: Int32
    public let portID: UInt32
    private var buffer: [UInt8]

    /// Opens and binds a rtnetlink socket with extended acks and capped acks enabled.
    public init(receiveBufferSize: Int = 1 << 20) throws {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE)
        guard fd >= 0 else { throw NetlinkError.system(errno: Errno(rawValue: Glibc.errno), call: "socket(AF_NETLINK)") }
        var ok = false
        defer { if !ok { Glibc.close(fd) } }

        func setOption(_ level: Int32, _ name: Int32, _ value: Int32) {
            var value = value
            _ = setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
        // Ask for the kernel's reason text with errors, and for acks that do not echo
        // the whole request back (keeps acks for large batches small).
        setOption(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        setOption(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        setOption(SOL_SOCKET, SO_SNDBUF, 1 << 20)
        setOption(SOL_SOCKET, SO_RCVBUF, Int32(receiveBufferSize))

        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
        }
        guard bound == 0 else { throw NetlinkError.system(errno: Errno(rawValue: Glibc.errno), call: "bind(AF_NETLINK)") }
        var length = socklen_t(MemoryLayout<sockaddr_nl>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw NetlinkError.system(errno: Errno(rawValue: Glibc.errno), call: "getsockname(AF_NETLINK)") }

        descriptor = fd
        portID = address.nl_pid
        // Dumps arrive in datagrams of up to 32 KiB (the kernel caps them near a page
        // multiple); 64 KiB plus MSG_TRUNC detection is ample.
        buffer = [UInt8](repeating: 0, count: 1 << 16)
        ok = true
    }

    deinit { close() }

    /// Closes the socket; calling it again does nothing.
    public func close() {
        if descriptor >= 0 {
            Glibc.close(descriptor)
            descriptor = -1
        }
    }

    public func send(_ datagram: [UInt8]) throws {
        guard descriptor >= 0 else { throw NetlinkError.connectionClosed }
        var kernel = sockaddr_nl()
        kernel.nl_family = sa_family_t(AF_NETLINK)
        while true {
            let sent = datagram.withUnsafeBytes { bytes in
                withUnsafePointer(to: &kernel) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                    }
                }
            }
            if sent >= 0 { return }
            if Glibc.errno == EINTR { continue }
            throw NetlinkError.system(errno: Errno(rawValue: Glibc.errno), call: "sendto(AF_NETLINK)")
        }
    }

    public func receive() throws -> [UInt8] {
        guard descriptor >= 0 else { throw NetlinkError.connectionClosed }
        while true {
            // MSG_TRUNC makes recv return the datagram's real size, so a too-small
            // buffer is detected instead of silently losing messages.
            let received = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
            if received < 0 {
                if Glibc.errno == EINTR { continue }
                throw NetlinkError.system(errno: Errno(rawValue: Glibc.errno), call: "recv(AF_NETLINK)")
            }
            if received == 0 { throw NetlinkError.connectionClosed }
            if received > buffer.count { throw NetlinkError.truncatedDatagram(size: received) }
            return Array(buffer[0..<received])
        }
    }
}
