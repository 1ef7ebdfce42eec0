import CLinuxNet
import NetlinkWire

extension HostNetwork {
    /// Lists every interface with its IFLA_STATS64 counters. Equivalent to `ip -s -d link show`.
    /// Needs no capability.
    ///
    /// ``links()`` asks the kernel to leave the counters out (RTEXT_FILTER_SKIP_STATS) to keep
    /// the hot path's replies small; this dump asks for them and still skips per-VF data.
    public func linkStatistics() throws -> [Link] {
        let mask = LinkAttribute.unknown(RawAttribute(rawType: UInt16(IFLA_EXT_MASK), payload: AttributePayload.u32(0)))
        let messages = try perform("listing link statistics") {
            try connection.dump(.getLink, payload: LinkMessage(attributes: [mask]).encoded())
        }
        return try messages.filter { $0.header.type == .newLink }.map { Link(message: try decodeLink($0, statistics: true)) }
    }
}
