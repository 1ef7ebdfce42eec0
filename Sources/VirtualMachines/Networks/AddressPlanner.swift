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
        let ipv6 = try definition.ipv6Prefix.map { text in
            IPv6Addressing(prefix: try checkIPv6Prefix(try parseIPv6Prefix(text), existing: existing, otherNetworks: otherNetworks))
        }
        return NetworkAddressing(subnet: subnet, gateway: IPv4Block.address(gateway),
                                 dhcpStart: IPv4Block.address(start), dhcpEnd: IPv4Block.address(end), ipv6: ipv6)
    }

    // MARK: - IPv6

    /// Prefixes an IPv6 network cannot use (RFC 6890, RFC 4291): a /64 inside one of them
    /// is refused with its purpose.
    static let reservedIPv6Blocks: [(IPPrefix, String)] = [
        (IPPrefix("::/96")!, "unspecified, loopback and IPv4-compatible addresses"),
        (IPPrefix("::ffff:0:0/96")!, "IPv4-mapped addresses"),
        (IPPrefix("fe80::/10")!, "link-local"),
        (IPPrefix("ff00::/8")!, "multicast"),
    ]

    /// Parses `PREFIX/64`: an IPv6 network address with a /64 length (SLAAC needs /64) outside
    /// the reserved blocks.
    static func parseIPv6Prefix(_ text: String) throws -> IPPrefix {
        guard text.contains(":"), text.contains("/"), let prefix = IPPrefix(text), !prefix.address.isIPv4 else {
            throw NetworkConfigError.badIPv6Prefix(text)
        }
        let network = IPPrefix(address: prefix.network, length: prefix.length)
        guard network == prefix else { throw NetworkConfigError.notANetworkAddress(given: prefix, network: network) }
        guard prefix.length == 64 else { throw NetworkConfigError.ipv6PrefixSize(prefix) }
        for (reserved, purpose) in reservedIPv6Blocks where overlaps(prefix, reserved) {
            throw NetworkConfigError.reservedSubnet(prefix, block: reserved, purpose: purpose)
        }
        return prefix
    }

    /// Refuses a /64 that overlaps another network's IPv6 prefix or one of the host's IPv6
    /// routes and addresses (`existing`; default routes, link-local and multicast ones are
    /// not overlaps). IPv4 prefixes in either list are ignored.
    static func checkIPv6Prefix(_ prefix: IPPrefix, existing: [IPPrefix], otherNetworks: [IPPrefix]) throws -> IPPrefix {
        if let other = otherNetworks.first(where: { !$0.address.isIPv4 && overlaps(prefix, $0) }) {
            throw NetworkConfigError.overlapsNetwork(subnet: prefix, other: other, suggestion: nil)
        }
        if let taken = existing.first(where: { countsAsHostIPv6($0) && overlaps(prefix, $0) }) {
            throw NetworkConfigError.overlapsHost(subnet: prefix, existing: taken, suggestion: nil)
        }
        return prefix
    }

    /// A unique local /64 (RFC 4193 section 3.2): fd00::/8, a 40-bit global ID from
    /// `randomBytes` (5 bytes wanted) and subnet ID 0. Tries again (up to 16 times) while it
    /// overlaps something in `existing` or `otherNetworks`; nil if every try did.
    public static func uniqueLocalPrefix(existing: [IPPrefix], otherNetworks: [IPPrefix],
                                         randomBytes: (Int) -> [UInt8] = AddressPlanner.systemRandomBytes) -> IPPrefix? {
        for _ in 0..<16 {
            let globalID = randomBytes(5)
            guard globalID.count == 5 else { return nil }
            let prefix = IPPrefix(address: .v6([0xfd] + globalID + [UInt8](repeating: 0, count: 10)), length: 64)
            if (try? checkIPv6Prefix(prefix, existing: existing, otherNetworks: otherNetworks)) != nil { return prefix }
        }
        return nil
    }

    /// Random bytes from the system generator.
    public static func systemRandomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Whether `a` and `b` share an address (one contains the other's network).
    static func overlaps(_ a: IPPrefix, _ b: IPPrefix) -> Bool {
        guard a.address.isIPv4 == b.address.isIPv4 else { return false }
        let length = min(a.length, b.length)
        return IPPrefix(address: a.address, length: length).network == IPPrefix(address: b.address, length: length).network
    }

    /// Host IPv6 prefixes a network's /64 must not overlap: not default routes, link-local
    /// or multicast ones (every interface has those).
    static func countsAsHostIPv6(_ prefix: IPPrefix) -> Bool {
        guard !prefix.address.isIPv4, prefix.length > 0 else { return false }
        return !prefix.address.isLinkLocal && !prefix.address.isMulticast
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
