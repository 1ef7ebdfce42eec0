import CLinuxNet
import Netlink
import NetlinkWire
import QNetTypes
import SystemPackage

/// What a new VXLAN device is (`ip link add NAME type vxlan ...`); nil fields are not sent.
public struct VXLANOptions: Equatable, Sendable {
    /// The VXLAN network identifier (`id N`), 1 to 16777215.
    public var vni: UInt32
    /// The source address of the outer packets (`local ADDR`).
    public var local: IPAddress?
    /// The underlay device (`dev IFACE`): outer packets leave through it.
    public var underlay: String?
    /// The destination UDP port (`dstport N`); IANA's 4789 by default.
    public var port: UInt16
    /// `learning` / `nolearning`: whether remote MACs are learnt from received packets.
    public var learning: Bool
    public var mtu: UInt32?
    /// The bridge the device joins at creation (`master BR`).
    public var master: String?
    /// The interface group (`group N`).
    public var group: UInt32?

    public init(vni: UInt32, local: IPAddress? = nil, underlay: String? = nil, port: UInt16 = VXLANOptions.ianaPort,
                learning: Bool = false, mtu: UInt32? = nil, master: String? = nil, group: UInt32? = nil) {
        self.vni = vni
        self.local = local
        self.underlay = underlay
        self.port = port
        self.learning = learning
        self.mtu = mtu
        self.master = master
        self.group = group
    }

    /// IANA's VXLAN port (RFC 7348); Linux's own default is the pre-standard 8472.
    public static let ianaPort: UInt16 = 4789
    /// VNIs are 24 bits; 0 is reserved.
    public static let vniRange: ClosedRange<UInt32> = 1...0xff_ffff

    /// The bytes VXLAN adds to each frame: outer IP header (20 for IPv4, 40 for IPv6), UDP (8),
    /// VXLAN (8) and the inner Ethernet header (14). A guest's MTU is the underlay's minus this.
    public static func encapsulationOverhead(ipv6Underlay: Bool) -> UInt32 { ipv6Underlay ? 70 : 50 }

    public func validate() throws {
        guard Self.vniRange.contains(vni) else {
            throw HostNetworkError.invalidValue(what: "VNI", value: String(vni), allowed: "use 1 to 16777215")
        }
        guard port != 0 else { throw HostNetworkError.invalidValue(what: "VXLAN port", value: "0", allowed: "use 1 to 65535") }
    }
}

extension FDBEntry {
    /// The all-zero MAC: a VXLAN device's default destination for flooded (broadcast,
    /// multicast, unknown unicast) frames; one such entry per peer is head-end replication.
    public static let floodMAC = MACAddress(bytes: [0, 0, 0, 0, 0, 0])!
}

extension HostNetwork {
    /// Creates a VXLAN device. Equivalent to `ip link add NAME [mtu N] [master BR] [group G]
    /// type vxlan id VNI [local ADDR] [dev IFACE] dstport PORT [no]learning`, plus `up` in the
    /// same request. Needs CAP_NET_ADMIN.
    public func createVXLAN(_ name: String, options: VXLANOptions, up: Bool = true) throws {
        try InterfaceName.validate(name)
        try options.validate()
        if let mtu = options.mtu { try validateMTU(mtu) }
        if try linkIfPresent(named: name) != nil { throw HostNetworkError.alreadyExists(name) }
        var data: [VXLANAttribute] = []
        if let underlay = options.underlay { data.append(.link(try link(named: underlay).index)) }
        data.append(.id(options.vni))
        if let local = options.local { data.append(.local(local)) }
        data.append(.learning(options.learning ? 1 : 0))
        data.append(.port(options.port))
        var message = LinkMessage(flags: up ? .up : [], change: up ? .up : [], attributes: [.name(name)])
        if let mtu = options.mtu { message.attributes.append(.mtu(mtu)) }
        if let master = options.master { message.attributes.append(.master(try bridge(named: master).index)) }
        if let group = options.group { message.attributes.append(.group(group)) }
        message.attributes.append(.linkInfo([.kind(LinkKind.vxlan.kernelName), .vxlanData(data)]))
        do {
            try connection.execute(.newLink, flags: [.create, .exclusive], payload: message.encoded())
        } catch let error as NetlinkError where error.errno == .fileExists {
            // Kernel quirk: a second device with the same VNI, local address and port is also EEXIST.
            throw HostNetworkError.alreadyExists("\(name) (or a VXLAN device with VNI \(options.vni) on port \(options.port))")
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "ip link add \(name) type vxlan id \(options.vni)", error)
        }
    }

    /// Adds a forwarding entry to a VXLAN device's own table; with the all-zero MAC, one more
    /// peer that receives every flooded frame (head-end replication). Equivalent to
    /// `bridge fdb append MAC dev NAME dst ADDR` (`self permanent`). Needs CAP_NET_ADMIN.
    public func appendFDB(device: String, mac: MACAddress = FDBEntry.floodMAC, destination: IPAddress) throws {
        let link = try self.link(named: device)
        try perform("bridge fdb append \(mac) dev \(device) dst \(destination)") {
            try connection.execute(.newNeighbour, flags: [.create, .append],
                                   payload: fdbMessage(link.index, mac: mac, destination: destination).encoded())
        }
    }

    /// Removes a forwarding entry from a VXLAN device's own table. Equivalent to
    /// `bridge fdb del MAC dev NAME dst ADDR`. Returns false when there was no such entry.
    /// Needs CAP_NET_ADMIN.
    @discardableResult
    public func deleteFDB(device: String, mac: MACAddress = FDBEntry.floodMAC, destination: IPAddress) throws -> Bool {
        let link = try self.link(named: device)
        do {
            try connection.execute(.delNeighbour, payload: fdbMessage(link.index, mac: mac, destination: destination).encoded())
            return true
        } catch let error as NetlinkError where error.errno == .noSuchFileOrDirectory {
            return false
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "bridge fdb del \(mac) dev \(device) dst \(destination)", error)
        }
    }

    private func fdbMessage(_ index: InterfaceIndex, mac: MACAddress, destination: IPAddress) -> NeighbourMessage {
        NeighbourMessage(family: .bridge, index: index, state: NeighbourMessage.statePermanent, flags: NeighbourMessage.flagSelf,
                         attributes: [.linkLayerAddress(mac.bytes), .destination(destination)])
    }
}
