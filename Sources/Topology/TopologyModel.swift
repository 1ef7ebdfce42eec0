import HostNetwork

/// The host's network as a picture sees it: per namespace, the bridges with their ports,
/// the interfaces outside any bridge, and qnet's networks; plus veth pairs that cross
/// namespaces. Built from the kernel's state (``TopologyBuilder``), drawn by ``DOTRenderer``.
public struct TopologyGraph: Equatable, Sendable {
    public var namespaces: [NamespaceTopology]
    /// veth pairs whose two ends are in different namespaces (read with --all-namespaces).
    public var crossNamespaceVeths: [VethPair]
    /// Host PCI functions on vfio-pci (passthrough NICs and VFs), with the VM each belongs to.
    public var passthrough: [PassthroughNode]

    public init(namespaces: [NamespaceTopology], crossNamespaceVeths: [VethPair] = [], passthrough: [PassthroughNode] = []) {
        self.namespaces = namespaces
        self.crossNamespaceVeths = crossNamespaceVeths
        self.passthrough = passthrough
    }
}

/// A host PCI function bound to vfio-pci (`qnet pci list`'s vfio-pci rows), and the qnet VM
/// whose passthrough NIC it is (from the VM's state), if any.
public struct PassthroughNode: Equatable, Sendable {
    /// `0000:03:10.2`.
    public var address: String
    /// Vendor and device names (pci.ids), or `vendor:device`.
    public var device: String
    public var driver: String?
    public var group: Int?
    /// A VF's PF interface (when its PF has one) and the VF's index.
    public var pf: String?
    public var vfIndex: Int?
    public var vm: String?
    public var nic: Int?
    /// The MAC and VLAN qnet set on a VF for its VM.
    public var mac: String?
    public var vlan: Int?

    public init(address: String, device: String, driver: String? = "vfio-pci", group: Int? = nil, pf: String? = nil, vfIndex: Int? = nil,
                vm: String? = nil, nic: Int? = nil, mac: String? = nil, vlan: Int? = nil) {
        self.address = address
        self.device = device
        self.driver = driver
        self.group = group
        self.pf = pf
        self.vfIndex = vfIndex
        self.vm = vm
        self.nic = nic
        self.mac = mac
        self.vlan = vlan
    }
}

/// One end of a link in a namespace.
public struct Endpoint: Hashable, Sendable {
    public var namespace: String
    public var name: String
    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }
}

public struct VethPair: Equatable, Sendable {
    public var a: Endpoint
    public var b: Endpoint
    public init(_ a: Endpoint, _ b: Endpoint) {
        self.a = a
        self.b = b
    }
}

/// One network namespace's part of the picture.
public struct NamespaceTopology: Equatable, Sendable {
    /// "host" for the namespace qnet runs in, else its /run/netns name.
    public var name: String
    public var bridges: [BridgeNode]
    /// Interfaces that are neither bridges nor bridge ports (physical NICs, VXLAN devices,
    /// veths...), loopback left out.
    public var interfaces: [InterfaceNode]
    public var networks: [NetworkNode]

    public init(name: String, bridges: [BridgeNode] = [], interfaces: [InterfaceNode] = [], networks: [NetworkNode] = []) {
        self.name = name
        self.bridges = bridges
        self.interfaces = interfaces
        self.networks = networks
    }
}

public struct BridgeNode: Equatable, Sendable {
    public var name: String
    public var stp: Bool
    public var mtu: UInt32
    public var up: Bool
    public var vlanFiltering: Bool
    public var addresses: [String]
    /// The uplink qnet moved into this bridge (recorded in the bridge's alias).
    public var uplink: String?
    public var ports: [InterfaceNode]

    public init(name: String, stp: Bool = false, mtu: UInt32 = 1500, up: Bool = true, vlanFiltering: Bool = false,
                addresses: [String] = [], uplink: String? = nil, ports: [InterfaceNode] = []) {
        self.name = name
        self.stp = stp
        self.mtu = mtu
        self.up = up
        self.vlanFiltering = vlanFiltering
        self.addresses = addresses
        self.uplink = uplink
        self.ports = ports
    }
}

/// What an interface is, for drawing.
public enum InterfaceRole: String, Equatable, Sendable {
    case tap, tun, veth, physical, vxlan, bridge, other

    /// Plural noun for a group of such ports ("500 TAPs").
    var plural: String {
        switch self {
        case .tap: "TAPs"
        case .tun: "TUNs"
        case .veth: "veths"
        case .physical: "NICs"
        case .vxlan: "VXLANs"
        case .bridge: "bridges"
        case .other: "ports"
        }
    }
}

public struct InterfaceNode: Equatable, Sendable {
    public var name: String
    public var role: InterfaceRole
    /// IFLA_INFO_KIND ("tun", "veth", "vxlan", ...), nil for physical NICs.
    public var kind: String?
    public var mtu: UInt32
    public var up: Bool
    public var hasCarrier: Bool
    public var addresses: [String]
    /// STP state when this is a bridge port.
    public var portState: BridgePortState?
    /// The qnet VM whose NIC this TAP is, and the NIC's index (from the TAP's alias).
    public var vm: String?
    public var nic: Int?
    /// The uplink of its bridge (qnet's record, or a physical NIC in the bridge).
    public var isUplink: Bool
    /// A veth's peer, when it is in the same namespace.
    public var peer: String?
    public var vxlan: VXLANNode?

    public init(name: String, role: InterfaceRole, kind: String? = nil, mtu: UInt32 = 1500, up: Bool = true, hasCarrier: Bool = true,
                addresses: [String] = [], portState: BridgePortState? = nil, vm: String? = nil, nic: Int? = nil,
                isUplink: Bool = false, peer: String? = nil, vxlan: VXLANNode? = nil) {
        self.name = name
        self.role = role
        self.kind = kind
        self.mtu = mtu
        self.up = up
        self.hasCarrier = hasCarrier
        self.addresses = addresses
        self.portState = portState
        self.vm = vm
        self.nic = nic
        self.isUplink = isUplink
        self.peer = peer
        self.vxlan = vxlan
    }
}

/// A VXLAN device's tunnel: its VNI, where it sends and through which underlay.
public struct VXLANNode: Equatable, Sendable {
    public var vni: UInt32?
    public var remote: String?
    public var local: String?
    public var underlay: String?
    public var port: UInt16?
    /// Remote VTEPs from the device's forwarding database (`bridge fdb show dev NAME`).
    public var fdbPeers: [String]

    public init(vni: UInt32? = nil, remote: String? = nil, local: String? = nil, underlay: String? = nil, port: UInt16? = nil,
                fdbPeers: [String] = []) {
        self.vni = vni
        self.remote = remote
        self.local = local
        self.underlay = underlay
        self.port = port
        self.fdbPeers = fdbPeers
    }

    /// Every remote VTEP: the configured remote first, then the FDB's (`bridge fdb append 00:00:00:00:00:00 dev vx42 dst IP`).
    public var peers: [String] {
        var result: [String] = []
        for peer in [remote].compactMap({ $0 }) + fdbPeers where !result.contains(peer) { result.append(peer) }
        return result
    }
}

/// A qnet network (`qnet net create`), drawn beside its bridge.
public struct NetworkNode: Equatable, Sendable {
    public var name: String
    /// bridge, nat or isolated.
    public var mode: String
    public var bridge: String
    public var subnet: String?
    public var gateway: String?
    public var dhcpRange: String?
    /// The uplink NAT masquerades through, or a bridge-mode network's uplink.
    public var uplink: String?
    public var active: Bool

    public init(name: String, mode: String, bridge: String, subnet: String? = nil, gateway: String? = nil, dhcpRange: String? = nil,
                uplink: String? = nil, active: Bool = true) {
        self.name = name
        self.mode = mode
        self.bridge = bridge
        self.subnet = subnet
        self.gateway = gateway
        self.dhcpRange = dhcpRange
        self.uplink = uplink
        self.active = active
    }
}
