import NetlinkWire
import QNetTypes

/// One forwarding database entry (`bridge fdb show`).
public struct FDBEntry: Equatable, Sendable {
    /// The device the entry belongs to (a bridge port, or a VXLAN device).
    public var index: InterfaceIndex
    public var macAddress: MACAddress?
    /// A VXLAN entry's remote VTEP (`dst`).
    public var destination: IPAddress?
    /// Installed by a control plane (`extern_learn`: FRR's zebra for EVPN), not learnt from traffic.
    public var externallyLearned: Bool

    public init(message: NeighbourMessage) {
        index = message.index
        macAddress = message.linkLayerAddress.flatMap(MACAddress.init(bytes:))
        destination = message.destination
        externallyLearned = message.flags & NeighbourMessage.flagExternLearned != 0
    }
}

extension HostNetwork {
    /// The bridge forwarding database of every device, or of `device` only. Equivalent to
    /// `bridge fdb show [dev NAME]`. Needs no capability.
    ///
    /// Kernel quirk: without strict checking (qnet's sockets do not turn it on), a dump
    /// request's ndm_ifindex is ignored, so the filter is applied here.
    public func forwardingDatabase(device: InterfaceIndex? = nil) throws -> [FDBEntry] {
        let request = NeighbourMessage(family: .bridge, index: device ?? 0)
        let messages = try perform("bridge fdb show") { try connection.dump(.getNeighbour, payload: request.encoded()) }
        return try messages.filter { $0.header.type == .newNeighbour }.compactMap { message in
            let neighbour: NeighbourMessage
            do { neighbour = try NeighbourMessage(payload: message.payload) } catch let error as WireError {
                throw HostNetworkError.kernel(operation: "decoding an FDB entry", .malformedReply(error))
            }
            return device == nil || neighbour.index == device ? FDBEntry(message: neighbour) : nil
        }
    }

    /// The remote VTEPs a VXLAN device's forwarding database names (`bridge fdb show dev
    /// NAME` entries with `dst`), in the kernel's order, each once.
    public func vxlanPeers(device: InterfaceIndex) throws -> [IPAddress] {
        var peers: [IPAddress] = []
        for entry in try forwardingDatabase(device: device) {
            if let destination = entry.destination, !peers.contains(destination) { peers.append(destination) }
        }
        return peers
    }
}
