import CLinuxNet

/// Netlink framing constants, taken from <linux/netlink.h> through the C shim.
public enum Netlink {
    /// NLMSG_ALIGNTO / NLA_ALIGNTO.
    public static let alignment = Int(NLMSG_ALIGNTO)
    /// NLMSG_HDRLEN: the aligned size of `struct nlmsghdr`.
    public static let headerLength = Int(QNET_NLMSG_HDRLEN)
    /// NLA_HDRLEN: the aligned size of `struct nlattr`.
    public static let attributeHeaderLength = Int(QNET_NLA_HDRLEN)

    /// NLMSG_ALIGN / NLA_ALIGN.
    @inline(__always)
    public static func align(_ length: Int) -> Int {
        (length + alignment - 1) & ~(alignment - 1)
    }
}

/// Converts the many integer types the C headers import as (Int, Int32, C enums) to the
/// width netlink puts on the wire.
@inline(__always) func u16<T: BinaryInteger>(_ value: T) -> UInt16 { UInt16(truncatingIfNeeded: value) }
@inline(__always) func u32<T: BinaryInteger>(_ value: T) -> UInt32 { UInt32(truncatingIfNeeded: value) }
@inline(__always) func u8<T: BinaryInteger>(_ value: T) -> UInt8 { UInt8(truncatingIfNeeded: value) }

/// `nlmsg_type` values: the control messages and the rtnetlink families qnet speaks.
public struct MessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let noop = MessageType(rawValue: u16(NLMSG_NOOP))
    public static let error = MessageType(rawValue: u16(NLMSG_ERROR))
    public static let done = MessageType(rawValue: u16(NLMSG_DONE))
    public static let overrun = MessageType(rawValue: u16(NLMSG_OVERRUN))
    public static let newLink = MessageType(rawValue: u16(RTM_NEWLINK))
    public static let delLink = MessageType(rawValue: u16(RTM_DELLINK))
    public static let getLink = MessageType(rawValue: u16(RTM_GETLINK))
    public static let setLink = MessageType(rawValue: u16(RTM_SETLINK))
    public static let newAddress = MessageType(rawValue: u16(RTM_NEWADDR))
    public static let delAddress = MessageType(rawValue: u16(RTM_DELADDR))
    public static let getAddress = MessageType(rawValue: u16(RTM_GETADDR))
    public static let newRoute = MessageType(rawValue: u16(RTM_NEWROUTE))
    public static let delRoute = MessageType(rawValue: u16(RTM_DELROUTE))
    public static let getRoute = MessageType(rawValue: u16(RTM_GETROUTE))
    public static let newNeighbour = MessageType(rawValue: u16(RTM_NEWNEIGH))
    public static let getNeighbour = MessageType(rawValue: u16(RTM_GETNEIGH))
    public static let delNeighbour = MessageType(rawValue: u16(RTM_DELNEIGH))

    public var description: String {
        switch self {
        case .noop: "NLMSG_NOOP"
        case .error: "NLMSG_ERROR"
        case .done: "NLMSG_DONE"
        case .overrun: "NLMSG_OVERRUN"
        case .newLink: "RTM_NEWLINK"
        case .delLink: "RTM_DELLINK"
        case .getLink: "RTM_GETLINK"
        case .setLink: "RTM_SETLINK"
        case .newAddress: "RTM_NEWADDR"
        case .delAddress: "RTM_DELADDR"
        case .getAddress: "RTM_GETADDR"
        case .newRoute: "RTM_NEWROUTE"
        case .delRoute: "RTM_DELROUTE"
        case .getRoute: "RTM_GETROUTE"
        case .newNeighbour: "RTM_NEWNEIGH"
        case .getNeighbour: "RTM_GETNEIGH"
        case .delNeighbour: "RTM_DELNEIGH"
        default: "type \(rawValue)"
        }
    }
}

/// `nlmsg_flags`.
public struct MessageFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let request = MessageFlags(rawValue: u16(NLM_F_REQUEST))
    public static let multipart = MessageFlags(rawValue: u16(NLM_F_MULTI))
    public static let acknowledge = MessageFlags(rawValue: u16(NLM_F_ACK))
    public static let echo = MessageFlags(rawValue: u16(NLM_F_ECHO))
    public static let dumpInterrupted = MessageFlags(rawValue: u16(NLM_F_DUMP_INTR))
    // GET requests
    public static let root = MessageFlags(rawValue: u16(NLM_F_ROOT))
    public static let match = MessageFlags(rawValue: u16(NLM_F_MATCH))
    public static let dump = MessageFlags(rawValue: u16(NLM_F_DUMP))
    // NEW requests
    public static let replace = MessageFlags(rawValue: u16(NLM_F_REPLACE))
    public static let exclusive = MessageFlags(rawValue: u16(NLM_F_EXCL))
    public static let create = MessageFlags(rawValue: u16(NLM_F_CREATE))
    public static let append = MessageFlags(rawValue: u16(NLM_F_APPEND))
    // Error (ack) messages
    public static let capped = MessageFlags(rawValue: u16(NLM_F_CAPPED))
    public static let acknowledgeTLVs = MessageFlags(rawValue: u16(NLM_F_ACK_TLVS))
}

/// `struct nlmsghdr`: 16 bytes in front of every netlink message.
public struct NetlinkHeader: Equatable, Sendable {
    public var length: UInt32
    public var type: MessageType
    public var flags: MessageFlags
    public var sequence: UInt32
    public var portID: UInt32

    public init(length: UInt32 = 0, type: MessageType, flags: MessageFlags, sequence: UInt32 = 0, portID: UInt32 = 0) {
        self.length = length
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.portID = portID
    }

    public init(from reader: inout WireReader) throws {
        length = try reader.readU32("nlmsghdr.nlmsg_len")
        type = MessageType(rawValue: try reader.readU16("nlmsghdr.nlmsg_type"))
        flags = MessageFlags(rawValue: try reader.readU16("nlmsghdr.nlmsg_flags"))
        sequence = try reader.readU32("nlmsghdr.nlmsg_seq")
        portID = try reader.readU32("nlmsghdr.nlmsg_pid")
    }

    public func encode(into writer: inout WireWriter) {
        writer.writeU32(length)
        writer.writeU16(type.rawValue)
        writer.writeU16(flags.rawValue)
        writer.writeU32(sequence)
        writer.writeU32(portID)
    }
}

/// One framed netlink message: a header and its payload (the bytes after the header,
/// without trailing alignment padding).
public struct NetlinkMessage: Equatable, Sendable {
    public var header: NetlinkHeader
    public var payload: [UInt8]

    public init(header: NetlinkHeader, payload: [UInt8]) {
        self.header = header
        self.payload = payload
    }

    public init(type: MessageType, flags: MessageFlags, sequence: UInt32 = 0, portID: UInt32 = 0, payload: [UInt8]) {
        self.header = NetlinkHeader(type: type, flags: flags, sequence: sequence, portID: portID)
        self.payload = payload
    }

    /// The message as sent: `nlmsg_len` is computed here, the payload padded to 4 bytes.
    public func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: Netlink.headerLength + payload.count + 4)
        encode(into: &writer)
        return writer.bytes
    }

    public func encode(into writer: inout WireWriter) {
        var header = self.header
        header.length = UInt32(Netlink.headerLength + payload.count)
        header.encode(into: &writer)
        writer.writeBytes(payload)
        writer.pad()
    }

    /// Splits one datagram into messages, checking every length against the buffer.
    public static func parseAll(_ bytes: [UInt8]) throws -> [NetlinkMessage] {
        var reader = WireReader(bytes)
        var messages: [NetlinkMessage] = []
        while reader.remaining > 0 {
            let start = reader.offset
            let available = reader.remaining
            let header = try NetlinkHeader(from: &reader)
            let length = Int(header.length)
            guard length >= Netlink.headerLength, length <= available else {
                throw WireError.badLength(what: "nlmsghdr.nlmsg_len", length: length, available: available)
            }
            let payload = try reader.readBytes(length - Netlink.headerLength, "netlink payload")
            messages.append(NetlinkMessage(header: header, payload: payload))
            reader.skipAlignment()
            precondition(reader.offset > start)
        }
        return messages
    }
}
