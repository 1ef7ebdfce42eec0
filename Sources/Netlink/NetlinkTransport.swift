/// What the request layer needs from a netlink socket. Tests substitute a fake that
/// records requests and plays back scripted kernel replies.
public protocol NetlinkTransport: AnyObject {
    /// The port id the kernel assigned to this socket (`nl_pid` after bind).
    var portID: UInt32 { get }
    /// Sends one datagram (which may hold several netlink messages) to the kernel.
    func send(_ datagram: [UInt8]) throws
    /// Receives one datagram from the kernel (blocking).
    func receive() throws -> [UInt8]
}
