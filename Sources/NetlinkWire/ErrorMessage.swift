import CLinuxNet

/// An NLMSG_ERROR body: `struct nlmsgerr` (error code + the request's header, and the
/// request's payload unless NLM_F_CAPPED), then extended-ack TLVs when NLM_F_ACK_TLVS.
///
/// An error code of 0 is a plain acknowledgement.
public struct ErrorMessage: Equatable, Sendable {
    /// 0 for an ack, otherwise a negative errno.
    public var code: Int32
    public var request: NetlinkHeader
    /// NLMSGERR_ATTR_MSG: the kernel's human-readable reason.
    public var extAckMessage: String?
    /// NLMSGERR_ATTR_OFFS: offset of the offending attribute in the request.
    public var extAckOffset: UInt32?
    /// NLMSGERR_ATTR_MISS_TYPE: a required attribute the request lacked.
    public var missingAttribute: UInt32?

    public init(code: Int32, request: NetlinkHeader, extAckMessage: String? = nil, extAckOffset: UInt32? = nil, missingAttribute: UInt32? = nil) {
        self.code = code
        self.request = request
        self.extAckMessage = extAckMessage
        self.extAckOffset = extAckOffset
        self.missingAttribute = missingAttribute
    }

    /// Decodes an NLMSG_ERROR payload; `flags` is the error message's own header flags.
    public init(payload: [UInt8], flags: MessageFlags) throws {
        var reader = WireReader(payload)
        code = try reader.readI32("nlmsgerr.error")
        request = try NetlinkHeader(from: &reader)
        if !flags.contains(.capped) && code != 0 {
            // The kernel echoes the whole request after its header.
            let echoed = Int(request.length) - Netlink.headerLength
            guard echoed >= 0, echoed <= reader.remaining else {
                throw WireError.badLength(what: "nlmsgerr echoed request", length: Int(request.length), available: reader.remaining + Netlink.headerLength)
            }
            try reader.skip(echoed)
            reader.skipAlignment()
        }
        extAckMessage = nil
        extAckOffset = nil
        missingAttribute = nil
        if flags.contains(.acknowledgeTLVs), reader.remaining > 0 {
            let raws = try RawAttribute.parseAll(Array(payload[reader.offset...]), space: "NLMSGERR_ATTR")
            for raw in raws {
                switch UInt32(raw.type) {
                case NLMSGERR_ATTR_MSG.rawValue: extAckMessage = try raw.asString("NLMSGERR_ATTR")
                case NLMSGERR_ATTR_OFFS.rawValue: extAckOffset = try raw.asU32("NLMSGERR_ATTR")
                case NLMSGERR_ATTR_MISS_TYPE.rawValue: missingAttribute = try raw.asU32("NLMSGERR_ATTR")
                default: break
                }
            }
        }
    }

    /// Encodes in the capped form (what the kernel sends with NETLINK_CAP_ACK); used by tests.
    public func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: 64)
        writer.writeI32(code)
        request.encode(into: &writer)
        if let extAckMessage {
            attr(NLMSGERR_ATTR_MSG.rawValue, AttributePayload.string(extAckMessage)).encode(into: &writer)
        }
        if let extAckOffset {
            attr(NLMSGERR_ATTR_OFFS.rawValue, AttributePayload.u32(extAckOffset)).encode(into: &writer)
        }
        if let missingAttribute {
            attr(NLMSGERR_ATTR_MISS_TYPE.rawValue, AttributePayload.u32(missingAttribute)).encode(into: &writer)
        }
        return writer.bytes
    }
}
