import QNetTypes

/// Checks a nat/isolated network's addressing and fills in the defaults. Pure: the caller
/// passes the host's routes and addresses in (what `ip -4 route; ip -4 addr` show); needs no
/// privileges. libvirt's equivalent: the checks `virsh net-define` makes on a network's
/// `<ip address= netmask=>`, `<dhcp><range>` and `<host mac= ip=>` elements.
///
/// Defaults (documented for `qnet net create --help` and the README):
/// - subnet: the first free 10.x.y.0/24, see `firstFreeSubnet`.
/// - gateway: the subnet's first host address (10.0.100.1 in 10.0.100.0/24), like libvirt.
/// - DHCP range: .100 to .199 of a /24. Any other size: from the quarter point of the subnet
///   (network + size/4, at least network + 2) to the last host address (broadcast − 1), so the
///   lower quarter stays free for static addresses. A gateway given inside that default
///   range splits it, and the larger side is used.
/// - Static leases may lie inside or outside the DHCP range (dnsmasq reserves them either way).
public enum AddressPlanner {
    /// Subnet sizes: /8 at most; /29 at least, so the gateway and a DHCP range fit.
    public static let prefixLengths: ClosedRange<UInt8> = 8...29
    /// dnsmasq raises shorter lease times to 120 s; one year is the longest qnet accepts.
    public static let leaseTimes: ClosedRange<Int> = 120...31_536_000
    /// Where `firstFreeSubnet` starts: 10.0.100.0/24, past the low 10.0.x.0/24 blocks home
    /// routers, VPNs and Docker-style tools take first.
    public static let firstCandidate: IPPrefix = IPPrefix("10.0.100.0/24")!

    // MARK: - addressing

    /// Validates `definition`'s addressing and fills in every default.
    ///
    /// - `existing`: the host's IPv4 routes and addresses (prefixes; a /0 default route and
    ///   IPv6 prefixes are ignored — the manager leaves this network's own bridge out).
    /// - `otherNetworks`: the subnets of qnet's other networks.
    /// Throws the first problem found, in this order: names and domain, lease time, subnet,
    /// overlaps, gateway, DHCP range, static leases.
    public static func resolve(_ definition: NetworkDefinition, existing: [IPPrefix], otherNetworks: [IPPrefix]) throws -> NetworkAddressing {
        guard definition.mode != .bridge else { throw NetworkConfigError.bridgeModeHasNoAddressing(network: definition.name) }
        try NetworkNames.validate(definition.name)
        try NetworkNames.validateBridge(definition.bridge)
        try NetworkNames.validateDomain(definition.effectiveDomain)
        guard leaseTimes.contains(definition.leaseTime) else { throw NetworkConfigError.badLeaseTime(definition.leaseTime) }

        // Subnet.
        let subnet: IPPrefix
        if let text = definition.subnet {
            subnet = try parseSubnet(text)
        } else {
            guard let free = firstFreeSubnet(existing: existing, otherNetworks: otherNetworks) else { throw NetworkConfigError.noFreeSubnet }
            subnet = free
        }
        let block = IPv4Block(subnet)!
        if let other = otherNetworks.first(where: { IPv4Block($0).map(block.overlaps) ?? false }) {
            throw NetworkConfigError.overlapsNetwork(subnet: subnet, other: other,
                                                     suggestion: firstFreeSubnet(existing: existing, otherNetworks: otherNetworks))
        }
        if let taken = existing.first(where: { $0.length > 0 && (IPv4Block($0).map(block.overlaps) ?? false) }) {
            throw NetworkConfigError.overlapsHost(subnet: subnet, existing: taken,
                                                  suggestion: firstFreeSubnet(existing: existing, otherNetworks: otherNetworks))
        }

        // Gateway.
        let gateway: UInt32
        if let text = definition.gateway {
            gateway = try hostAddress(text, what: "gateway", in: subnet)
        } else {
            gateway = block.first + 1
        }

        // DHCP range.
        let start: UInt32, end: UInt32
        switch (definition.dhcpStart, definition.dhcpEnd) {
        case (nil, nil):
            (start, end) = defaultRange(block, avoiding: gateway)
        case let (startText?, endText?):
            start = try hostAddress(startText, what: "DHCP range start", in: subnet)
            end = try hostAddress(endText, what: "DHCP range end", in: subnet)
            guard start <= end else { throw NetworkConfigError.rangeReversed(start: IPv4Block.address(start), end: IPv4Block.address(end)) }
            if (start...end).contains(gateway) {
                throw NetworkConfigError.gatewayInRange(gateway: IPv4Block.address(gateway), start: IPv4Block.address(start), end: IPv4Block.address(end))
            }
        case let (startText, endText):
            throw NetworkConfigError.incompleteRange(start: startText, end: endText)
        }

        _ = try validateStaticLeases(definition.staticLeases, subnet: subnet, gateway: IPv4Block.address(gateway))
        return NetworkAddressing(subnet: subnet, gateway: IPv4Block.address(gateway),
                                 dhcpStart: IPv4Block.address(start), dhcpEnd: IPv4Block.address(end))
    }

    /// The first 10.x.y.0/24 that overlaps no prefix in `existing` (ignoring /0 default
    /// routes and IPv6) or `otherNetworks`, or nil when all 65,536 are taken.
    ///
    /// Scan order: 10.0.100.0/24, 10.0.101.0/24, … 10.0.255.0/24, 10.1.0.0/24, … 10.255.255.0/24,
    /// then wrapping round to 10.0.0.0/24 … 10.0.99.0/24 last. libvirt starts at 192.168.122.0/24,
    /// which collides with the 192.168.x.0/24 LANs of home routers; the issue asks for 10.x.y, and
    /// starting at 10.0.100 skips the low blocks that VPNs and other tools take first.
    public static func firstFreeSubnet(existing: [IPPrefix], otherNetworks: [IPPrefix]) -> IPPrefix? {
        let taken = (existing.filter { $0.length > 0 } + otherNetworks).compactMap(IPv4Block.init)
        let base: UInt32 = 10 << 24
        let firstIndex = IPv4Block(firstCandidate)!.first >> 8 & 0xffff
        var scanned: UInt32 = 0
        while scanned < 65_536 {
            let candidateIndex = (firstIndex + scanned) & 0xffff
            let candidate = IPv4Block(first: base | candidateIndex << 8, length: 24)
            guard let blocker = taken.first(where: candidate.overlaps) else { return candidate.prefix }
            // Skip every /24 the blocker covers up to the end of 10/8 (so a 10.0.0.0/8 VPN
            // route ends the scan at once). It overlaps the candidate, so this is at least one.
            let lastCoveredIndex = min(blocker.last, base | 0x00ff_ffff) >> 8 & 0xffff
            scanned += lastCoveredIndex - candidateIndex + 1
        }
        return nil
    }

    // MARK: - static leases

    /// A static lease with its values parsed.
    public struct ResolvedLease: Equatable, Sendable {
        public var mac: MACAddress
        public var address: IPAddress
        public var hostname: String?
    }

    /// Checks static leases: unicast MACs, host addresses inside `subnet` other than the
    /// gateway, valid hostnames, no MAC, address or hostname twice.
    public static func validateStaticLeases(_ leases: [StaticLease], subnet: IPPrefix, gateway: IPAddress) throws -> [ResolvedLease] {
        var result: [ResolvedLease] = []
        for lease in leases {
            guard let mac = MACAddress(lease.mac), mac.isValidUnicast else { throw NetworkConfigError.badMAC(lease.mac) }
            let value = try hostAddress(lease.address, what: "static lease address", in: subnet)
            let address = IPv4Block.address(value)
            if address == gateway {
                throw NetworkConfigError.reservedAddress(what: "static lease address", address: address, role: "gateway", subnet: subnet)
            }
            if let hostname = lease.hostname { try NetworkNames.validateHostname(hostname) }
            if result.contains(where: { $0.mac == mac }) { throw NetworkConfigError.duplicateLeaseMAC(mac) }
            if let other = result.first(where: { $0.address == address }) {
                throw NetworkConfigError.duplicateLeaseAddress(address, first: other.mac, second: mac)
            }
            if let hostname = lease.hostname, result.contains(where: { $0.hostname?.lowercased() == hostname.lowercased() }) {
                throw NetworkConfigError.duplicateLeaseHostname(hostname)
            }
            result.append(ResolvedLease(mac: mac, address: address, hostname: lease.hostname))
        }
        return result
    }

    // MARK: - helpers

    /// "10.0.100.1 to 10.0.100.254" for error messages.
    static func hostRange(_ subnet: IPPrefix) -> String {
        guard let block = IPv4Block(subnet) else { return "the subnet" }
        return "\(IPv4Block.address(block.first + 1)) to \(IPv4Block.address(block.last - 1))"
    }

    /// Reserved IPv4 blocks a LAN cannot use (RFC 6890).
    static let reservedBlocks: [(IPPrefix, String)] = [
        (IPPrefix("0.0.0.0/8")!, "\"this network\""),
        (IPPrefix("127.0.0.0/8")!, "loopback"),
        (IPPrefix("169.254.0.0/16")!, "link-local"),
        (IPPrefix("224.0.0.0/4")!, "multicast"),
        (IPPrefix("240.0.0.0/4")!, "reserved, including the broadcast address 255.255.255.255"),
    ]

    static func parseSubnet(_ text: String) throws -> IPPrefix {
        guard text.contains("/"), let prefix = IPPrefix(text), prefix.address.isIPv4 else { throw NetworkConfigError.badSubnet(text) }
        let network = IPPrefix(address: prefix.network, length: prefix.length)
        guard network == prefix else { throw NetworkConfigError.notANetworkAddress(given: prefix, network: network) }
        guard prefixLengths.contains(prefix.length) else { throw NetworkConfigError.subnetSize(prefix) }
        let block = IPv4Block(prefix)!
        for (reserved, purpose) in reservedBlocks where block.overlaps(IPv4Block(reserved)!) {
            throw NetworkConfigError.reservedSubnet(prefix, block: reserved, purpose: purpose)
        }
        return prefix
    }

    /// Parses an address that must be a host address of `subnet` (not its network or broadcast address).
    static func hostAddress(_ text: String, what: String, in subnet: IPPrefix) throws -> UInt32 {
        guard let address = IPAddress(text), let value = IPv4Block.value(address) else { throw NetworkConfigError.badAddress(what: what, value: text) }
        let block = IPv4Block(subnet)!
        guard block.contains(value) else { throw NetworkConfigError.outsideSubnet(what: what, address: address, subnet: subnet) }
        if value == block.first { throw NetworkConfigError.reservedAddress(what: what, address: address, role: "network", subnet: subnet) }
        if value == block.last { throw NetworkConfigError.reservedAddress(what: what, address: address, role: "broadcast", subnet: subnet) }
        return value
    }

    /// The default DHCP range (see the type's documentation), split round the gateway when
    /// the gateway falls inside it.
    static func defaultRange(_ block: IPv4Block, avoiding gateway: UInt32) -> (UInt32, UInt32) {
        let start: UInt32, end: UInt32
        if block.length == 24 {
            (start, end) = (block.first + 100, block.first + 199)
        } else {
            (start, end) = (block.first + max(2, block.size / 4), block.last - 1)
        }
        guard (start...end).contains(gateway) else { return (start, end) }
        let below = gateway - start, above = end - gateway
        // A /29's default range holds 5 addresses, so one side always has at least two.
        return above >= below ? (gateway + 1, end) : (start, gateway - 1)
    }
}

/// An IPv4 prefix as an inclusive range of host-order integers: the planner's arithmetic.
struct IPv4Block: Equatable {
    let first: UInt32
    let length: UInt8

    init(first: UInt32, length: UInt8) {
        self.first = first
        self.length = length
    }

    /// nil for IPv6 prefixes.
    init?(_ prefix: IPPrefix) {
        guard let value = IPv4Block.value(prefix.network) else { return nil }
        self.init(first: value, length: min(prefix.length, 32))
    }

    var size: UInt32 { length == 0 ? UInt32.max : UInt32(1) << (32 - UInt32(length)) }
    var last: UInt32 { length == 0 ? UInt32.max : first + (size - 1) }
    var prefix: IPPrefix { IPPrefix(address: IPv4Block.address(first), length: length) }

    func contains(_ value: UInt32) -> Bool { value >= first && value <= last }
    func overlaps(_ other: IPv4Block) -> Bool { first <= other.last && other.first <= last }

    static func value(_ address: IPAddress) -> UInt32? {
        guard case let .v4(bytes) = address, bytes.count == 4 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func address(_ value: UInt32) -> IPAddress {
        .v4([UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)])
    }
}
