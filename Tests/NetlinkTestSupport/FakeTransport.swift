import Netlink
import NetlinkWire
import QNetTypes

// Shared by the request-layer suites (NetlinkTests, HostNetworkTests): tier 2, no root.

/// A scripted kernel for the request layer: records every datagram the connection sends
/// and, on each send, asks `respond` for the datagrams the "kernel" queues in reply.
/// `receive()` with nothing queued throws `.connectionClosed` (a real socket would block),
/// so a connection that waits for a reply that never comes fails instead of hanging.
public final class FakeTransport: NetlinkTransport {
    public let portID: UInt32
    public private(set) var sent: [[UInt8]] = []
    public private(set) var receiveCount = 0
    private var queue: [[UInt8]] = []
    private let respond: (_ requests: [NetlinkMessage], _ sendIndex: Int) -> [[UInt8]]

    public init(portID: UInt32 = 4242, respond: @escaping (_ requests: [NetlinkMessage], _ sendIndex: Int) -> [[UInt8]] = { _, _ in [] }) {
        self.portID = portID
        self.respond = respond
    }

    public func send(_ datagram: [UInt8]) throws {
        let index = sent.count
        sent.append(datagram)
        let requests = (try? NetlinkMessage.parseAll(datagram)) ?? []
        queue += respond(requests, index)
    }

    public func receive() throws -> [UInt8] {
        receiveCount += 1
        guard !queue.isEmpty else { throw NetlinkError.connectionClosed }
        return queue.removeFirst()
    }

    /// Every message sent, across datagrams.
    public var sentMessages: [NetlinkMessage] {
        sent.flatMap { (try? NetlinkMessage.parseAll($0)) ?? [] }
    }
}

/// What the kernel would send back, built with the wire layer.
public enum Kernel {
    public static func datagram(_ messages: [NetlinkMessage]) -> [UInt8] {
        var writer = WireWriter()
        for message in messages { message.encode(into: &writer) }
        return writer.bytes
    }

    public static func datagram(_ messages: NetlinkMessage...) -> [UInt8] { datagram(messages) }

    /// NLMSG_ERROR with error 0 for `request`, as a NETLINK_CAP_ACK socket receives it.
    public static func ack(_ request: NetlinkMessage, port: UInt32) -> NetlinkMessage {
        error(0, request, port: port)
    }

    /// NLMSG_ERROR with `-errno` (or `code` as given when already negative or zero).
    public static func error(_ code: Int32, _ request: NetlinkMessage, port: UInt32, extAck: String? = nil,
                      sequence: UInt32? = nil) -> NetlinkMessage {
        var header = request.header
        header.length = UInt32(Netlink.headerLength + request.payload.count)
        let body = ErrorMessage(code: code, request: header, extAckMessage: extAck)
        let flags: MessageFlags = extAck == nil ? .capped : [.capped, .acknowledgeTLVs]
        return NetlinkMessage(type: .error, flags: flags, sequence: sequence ?? request.header.sequence, portID: port,
                              payload: body.encoded())
    }

    /// One RTM_NEWLINK of a dump.
    public static func link(_ name: String, index: InterfaceIndex, sequence: UInt32, port: UInt32,
                     flags: MessageFlags = .multipart) -> NetlinkMessage {
        let body = LinkMessage(deviceType: 1, index: index, flags: [.broadcast, .multicast], attributes: [.name(name), .mtu(1500)])
        return NetlinkMessage(type: .newLink, flags: flags, sequence: sequence, portID: port, payload: body.encoded())
    }

    public static func done(sequence: UInt32, port: UInt32, code: Int32 = 0, flags: MessageFlags = .multipart) -> NetlinkMessage {
        NetlinkMessage(type: .done, flags: flags, sequence: sequence, portID: port, payload: AttributePayload.i32(code))
    }
}

/// Bytes from hex groups, whitespace ignored: `hex("4c000000 10000506", "...")`.
/// Only for fixture literals: a typo is a programming error and traps.
public func hex(_ groups: String...) -> [UInt8] {
    var bytes: [UInt8] = []
    var high: UInt8?
    for scalar in groups.joined().unicodeScalars where !scalar.properties.isWhitespace {
        guard scalar.isASCII, let nibble = UInt8(String(scalar), radix: 16) else {
            preconditionFailure("bad hex digit '\(scalar)' in fixture")
        }
        if let value = high {
            bytes.append(value << 4 | nibble)
            high = nil
        } else {
            high = nibble
        }
    }
    precondition(high == nil, "odd number of hex digits in fixture")
    return bytes
}

/// The names carried by RTM_NEWLINK messages.
public func linkNames(_ messages: [NetlinkMessage]) throws -> [String] {
    try messages.map { try LinkMessage(payload: $0.payload).name ?? "?" }
}

/// Lower-case hex in 4-byte groups, for readable failure messages.
public func hexString(_ bytes: [UInt8]) -> String {
    stride(from: 0, to: bytes.count, by: 4).map { start in
        bytes[start..<min(start + 4, bytes.count)].map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }.joined(separator: " ")
}
