import QNetTypes

/// How a named network connects its guests (like libvirt's `<forward mode=...>` and
/// Incus's network types).
public enum NetworkMode: String, Codable, Sendable, CaseIterable {
    /// Guests share a host bridge (optionally holding the host's uplink): they are on the LAN.
    case bridge
    /// A private bridge with DHCP/DNS; guests reach out through masquerade (libvirt's default network).
    case nat
    /// A private bridge with DHCP/DNS and no way out (host-only).
    case isolated
    /// A bridge joined to the same segment on other hosts by a kernel VXLAN device (Proxmox
    /// SDN's VXLAN zone, Incus's `tunnel.NAME.protocol=vxlan`); DHCP/DNS from one host or none.
    case vxlan
}

/// The VXLAN side of a `vxlan` network (`qnet net create NAME --mode vxlan ...`), stored
/// under `vxlan:` in the definition.
public struct VXLANNetworkSettings: Codable, Equatable, Sendable {
    /// The VXLAN network identifier, the same on every host of the segment.
    public var vni: UInt32
    /// The underlay: an interface (its first address is the local VTEP address) or a local address.
    public var underlay: String
    /// The other hosts' VTEP addresses: each gets an all-zero FDB entry (head-end replication).
    public var peers: [String]
    /// The UDP port (4789 by default).
    public var port: UInt16
    /// Whether this host serves DHCP and DNS for the segment (exactly one host should).
    public var dhcpHost: Bool
    /// The bridge's and guests' MTU: the underlay's minus the encapsulation overhead
    /// (50 bytes over IPv4, 70 over IPv6), found when the network is created.
    public var mtu: UInt32
    /// The BGP EVPN control plane (`--control-plane evpn`); nil: static peers (head-end
    /// replication from `peers`).
    public var evpn: EVPNSettings?

    public init(vni: UInt32, underlay: String, peers: [String] = [], port: UInt16 = 4789, dhcpHost: Bool = false, mtu: UInt32 = 1450,
                evpn: EVPNSettings? = nil) {
        self.vni = vni
        self.underlay = underlay
        self.peers = peers
        self.port = port
        self.dhcpHost = dhcpHost
        self.mtu = mtu
        self.evpn = evpn
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vni, underlay, peers, port, mtu, evpn
        case dhcpHost = "dhcp_host"
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        vni = try container.decode(UInt32.self, forKey: .vni)
        underlay = try container.decode(String.self, forKey: .underlay)
        peers = try container.decodeIfPresent([String].self, forKey: .peers) ?? []
        port = try container.decodeIfPresent(UInt16.self, forKey: .port) ?? 4789
        dhcpHost = try container.decodeIfPresent(Bool.self, forKey: .dhcpHost) ?? false
        mtu = try container.decodeIfPresent(UInt32.self, forKey: .mtu) ?? 1450
        evpn = try container.decodeIfPresent(EVPNSettings.self, forKey: .evpn)
    }
}

/// A vxlan network's BGP EVPN control plane, stored under `vxlan: evpn:`: FRR's bgpd
/// speaks iBGP (`address-family l2vpn evpn`, `advertise-all-vni`) with `bgpPeers`, and
/// zebra installs the remote MACs (type-2 routes) and flood lists (type-3) in the VXLAN
/// device's FDB.
public struct EVPNSettings: Codable, Equatable, Sendable {
    /// This host's autonomous system number; every peer is in the same one (iBGP).
    public var asn: UInt32
    /// The other hosts' underlay addresses, each a BGP neighbour.
    public var bgpPeers: [String]

    public init(asn: UInt32, bgpPeers: [String]) {
        self.asn = asn
        self.bgpPeers = bgpPeers
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case asn
        case bgpPeers = "bgp_peers"
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        asn = try container.decode(UInt32.self, forKey: .asn)
        bgpPeers = try container.decodeIfPresent([String].self, forKey: .bgpPeers) ?? []
    }
}

/// A fixed DHCP lease: this MAC always gets this address (`qnet net lease add`).
public struct StaticLease: Codable, Equatable, Sendable {
    public var mac: String
    public var address: String
    public var hostname: String?

    public init(mac: String, address: String, hostname: String? = nil) {
        self.mac = mac
        self.address = address
        self.hostname = hostname
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case mac, address, hostname }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        mac = try container.decode(String.self, forKey: .mac)
        address = try container.decode(String.self, forKey: .address)
        hostname = try container.decodeIfPresent(String.self, forKey: .hostname)
    }
}

/// A named network as stored in /var/lib/qnet/networks/NAME.yaml.
public struct NetworkDefinition: Codable, Equatable, Sendable {
    public var name: String
    public var mode: NetworkMode
    /// The bridge: qnet-made (`qn-NAME` by default) for nat/isolated; existing or
    /// qnet-made for bridge mode.
    public var bridge: String
    /// bridge mode: an uplink to move into the bridge (the transactional uplink move).
    public var uplink: String?
    /// nat/isolated: the subnet, e.g. 10.0.123.0/24 (chosen automatically when not given).
    public var subnet: String?
    /// nat/isolated: the gateway address on the bridge (default: the subnet's first host).
    public var gateway: String?
    /// nat/isolated: the DHCP range (default: .100 to .199 of a /24, else from the quarter point to the last host address).
    public var dhcpStart: String?
    public var dhcpEnd: String?
    /// DHCP lease time in seconds.
    public var leaseTime: Int
    public var staticLeases: [StaticLease]
    /// The DNS domain guests get (`vmname.DOMAIN` resolves to a lease); default: the network's name.
    public var domain: String?
    /// The interface group every TAP of this network joins (so stop deletes them in one request).
    public var interfaceGroup: UInt32
    /// nat/isolated: the IPv6 /64 (router advertisements, DHCPv6, SLAAC); nil: IPv4 only.
    /// `qnet net create --ipv6 auto` (the default) stores a unique local prefix (RFC 4193,
    /// fd00::/8 plus a random 40-bit global ID), so it stays the same across starts.
    /// Before `NetworkManager.create`, `IPv6Choice.auto` asks for such a prefix.
    public var ipv6Prefix: String?
    /// nat: masquerade IPv6 leaving the host (NAT66, the default); false routes the prefix
    /// unchanged (the upstream must route it to this host).
    public var ipv6NAT: Bool
    /// vxlan mode: VNI, underlay, peers, port, DHCP host, MTU.
    public var vxlan: VXLANNetworkSettings?

    public init(name: String, mode: NetworkMode, bridge: String, uplink: String? = nil, subnet: String? = nil,
                gateway: String? = nil, dhcpStart: String? = nil, dhcpEnd: String? = nil, leaseTime: Int = 3600,
                staticLeases: [StaticLease] = [], domain: String? = nil, interfaceGroup: UInt32 = 0,
                ipv6Prefix: String? = nil, ipv6NAT: Bool = true,
                vxlan: VXLANNetworkSettings? = nil) {
        self.name = name
        self.mode = mode
        self.bridge = bridge
        self.uplink = uplink
        self.subnet = subnet
        self.gateway = gateway
        self.dhcpStart = dhcpStart
        self.dhcpEnd = dhcpEnd
        self.leaseTime = leaseTime
        self.staticLeases = staticLeases
        self.domain = domain
        self.interfaceGroup = interfaceGroup
        self.ipv6Prefix = ipv6Prefix
        self.ipv6NAT = ipv6NAT
        self.vxlan = vxlan
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, mode, bridge, uplink, subnet, gateway
        case dhcpStart = "dhcp_start", dhcpEnd = "dhcp_end", leaseTime = "lease_time"
        case staticLeases = "static_leases", domain
        case interfaceGroup = "interface_group"
        case ipv6Prefix = "ipv6_prefix", ipv6NAT = "ipv6_nat"
        case vxlan
    }

    /// The stored YAML form: the keys above and no others (see `DefinitionYAML`).
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        guard let mode: NetworkMode = try container.decodeChoice(.mode, what: "network mode") else {
            throw DecodingError.keyNotFound(CodingKeys.mode, .init(codingPath: decoder.codingPath, debugDescription: "mode"))
        }
        self.mode = mode
        bridge = try container.decode(String.self, forKey: .bridge)
        uplink = try container.decodeIfPresent(String.self, forKey: .uplink)
        subnet = try container.decodeIfPresent(String.self, forKey: .subnet)
        gateway = try container.decodeIfPresent(String.self, forKey: .gateway)
        dhcpStart = try container.decodeIfPresent(String.self, forKey: .dhcpStart)
        dhcpEnd = try container.decodeIfPresent(String.self, forKey: .dhcpEnd)
        leaseTime = try container.decodeIfPresent(Int.self, forKey: .leaseTime) ?? 3600
        staticLeases = try container.decodeIfPresent([StaticLease].self, forKey: .staticLeases) ?? []
        domain = try container.decodeIfPresent(String.self, forKey: .domain)
        interfaceGroup = try container.decodeIfPresent(UInt32.self, forKey: .interfaceGroup) ?? 0
        // Definitions written before IPv6 existed have neither key: they stay IPv4 only.
        ipv6Prefix = try container.decodeIfPresent(String.self, forKey: .ipv6Prefix)
        ipv6NAT = try container.decodeIfPresent(Bool.self, forKey: .ipv6NAT) ?? true
        vxlan = try container.decodeIfPresent(VXLANNetworkSettings.self, forKey: .vxlan)
    }

    /// Whether qnet runs dnsmasq (DHCP + DNS) for this network.
    public var servesDHCP: Bool { mode == .vxlan ? vxlan?.dhcpHost == true : mode != .bridge }
    /// Whether qnet gives this network's bridge an address and plans a subnet for it.
    public var hasAddressing: Bool { mode == .vxlan ? servesDHCP : mode != .bridge }
    public var effectiveDomain: String { domain ?? name }
    /// The IPv4 subnet and the IPv6 prefix, as far as they parse: what another network must not overlap.
    var prefixes: [IPPrefix] { [subnet, ipv6Prefix].compactMap { $0.flatMap(IPPrefix.init) } }
}

/// The addressing of a nat/isolated network with every default filled in and checked.
public struct NetworkAddressing: Equatable, Sendable {
    public var subnet: IPPrefix
    public var gateway: IPAddress
    public var dhcpStart: IPAddress
    public var dhcpEnd: IPAddress
    /// The IPv6 side, when the network has a prefix.
    public var ipv6: IPv6Addressing?
}

/// The IPv6 addressing of a nat/isolated network: a /64, the bridge's ::1 and the DHCPv6
/// range ::100 to ::1ff (guests also make a SLAAC address from the router advertisement).
public struct IPv6Addressing: Equatable, Sendable {
    public var prefix: IPPrefix
    public var gateway: IPAddress
    public var dhcpStart: IPAddress
    public var dhcpEnd: IPAddress

    /// The fixed layout inside `prefix` (a /64 network address).
    public init(prefix: IPPrefix) {
        func host(_ high: UInt8, _ low: UInt8) -> IPAddress {
            var bytes = prefix.network.bytes
            bytes[14] = high
            bytes[15] = low
            return IPAddress(bytes: bytes)!
        }
        self.prefix = IPPrefix(address: prefix.network, length: prefix.length)
        gateway = host(0, 1)
        dhcpStart = host(1, 0)
        dhcpEnd = host(1, 0xff)
    }
}

/// `qnet net create --ipv6`: a unique local prefix chosen by qnet, a given /64, or none.
public enum IPv6Choice: Equatable, Sendable {
    case auto
    case prefix(IPPrefix)
    case none

    /// Parses `auto`, `none` or `PREFIX/64`; nil for anything else.
    public init?(_ text: String) {
        switch text {
        case "auto": self = .auto
        case "none": self = .none
        default:
            guard text.contains(":"), text.contains("/"), let prefix = IPPrefix(text) else { return nil }
            self = .prefix(prefix)
        }
    }
}
