import CLinuxNet
import Glibc
import Netlink
import NetlinkWire
import QNetTypes

extension HostNetwork {
    /// Creates a veth pair, optionally with the peer in another namespace. Equivalent to
    /// `ip link add NAME type veth peer name PEER [netns NS]`. Needs CAP_NET_ADMIN (and
    /// CAP_SYS_ADMIN over the peer's namespace).
    public func createVeth(_ name: String, peer: String, peerNamespace: NetworkNamespace? = nil, up: Bool = false) throws {
        try InterfaceName.validate(name)
        try InterfaceName.validate(peer)
        if try linkIfPresent(named: name) != nil { throw HostNetworkError.alreadyExists(name) }
        var peerDescriptor: Int32 = -1
        if let peerNamespace {
            do { peerDescriptor = try peerNamespace.openDescriptor() } catch let error as NamespaceError {
                throw HostNetworkError.namespace(error)
            }
        }
        defer { if peerDescriptor >= 0 { Glibc.close(peerDescriptor) } }
        // VETH_INFO_PEER carries a whole ifinfomsg plus the peer's own IFLA_* attributes.
        var peerMessage = LinkMessage(attributes: [.name(peer)])
        if peerDescriptor >= 0 {
            peerMessage.attributes.append(.unknown(RawAttribute(rawType: UInt16(IFLA_NET_NS_FD), payload: AttributePayload.u32(UInt32(peerDescriptor)))))
        }
        let data = RawAttribute(rawType: UInt16(IFLA_INFO_DATA), payload: AttributePayload.nested([
            RawAttribute(rawType: UInt16(VETH_INFO_PEER), payload: peerMessage.encoded()),
        ]))
        let message = LinkMessage(flags: up ? .up : [], change: up ? .up : [],
                                  attributes: [.name(name), .linkInfo([.kind(LinkKind.veth.kernelName), .unknown(data)])])
        do {
            try connection.execute(.newLink, flags: [.create, .exclusive], payload: message.encoded())
        } catch let error as NetlinkError where error.errno == .fileExists {
            throw HostNetworkError.alreadyExists("\(name) or \(peer)")
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "ip link add \(name) type veth peer name \(peer)", error)
        }
    }

    /// Moves a link into another namespace. Equivalent to `ip link set NAME netns NS`.
    public func moveLink(_ name: String, to namespace: NetworkNamespace) throws {
        let link = try self.link(named: name)
        let descriptor: Int32
        do { descriptor = try namespace.openDescriptor() } catch let error as NamespaceError { throw HostNetworkError.namespace(error) }
        defer { Glibc.close(descriptor) }
        let message = LinkMessage(index: link.index, attributes: [
            .unknown(RawAttribute(rawType: UInt16(IFLA_NET_NS_FD), payload: AttributePayload.u32(UInt32(descriptor)))),
        ])
        try perform("ip link set \(name) netns \(namespace.name)") {
            try connection.execute(.newLink, payload: message.encoded())
        }
    }
}
