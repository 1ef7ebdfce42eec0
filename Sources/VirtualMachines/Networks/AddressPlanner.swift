import NetlinkWire

/// Why a network definition cannot be used; one line each, naming the bad value and what is allowed.
public enum NetworkConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    case badNetworkName(String)
    case badBridgeName(String)
    case badDomain(String)
    case bridgeModeHasNoAddressing(network: String)
    /// Not an IPv4 `ADDRESS/LENGTH`.
    case badSubnet(String)
    /// Host bits set, e.g. 10.0.0.5/24 (`network` is what was probably meant).
    case notANetworkAddress(given: IPPrefix, network: IPPrefix)
    /// Prefix length outside 8...29.
    case subnetSize(IPPrefix)
    /// Inside loopback, link-local, multicast or another block that cannot be a LAN.
    case reservedSubnet(IPPrefix, block: IPPrefix, purpose: String)
    /// `what` is "gateway", "DHCP range start", "DHCP range end" or "static lease address".
    case badAddress(what: String, value: String)
    case outsideSubnet(what: String, address: IPAddress, subnet: IPPrefix)
    /// The subnet's network or broadcast address, or the gateway, used where a host address is needed.
    case reservedAddress(what: String, address: IPAddress, role: String, subnet: IPPrefix)
    /// Only one end of the DHCP range was given.
    case incompleteRange(start: String?, end: String?)
    case rangeReversed(start: IPAddress, end: IPAddress)
    case gatewayInRange(gateway: IPAddress, start: IPAddress, end: IPAddress)
    case badLeaseTime(Int)
    case badMAC(String)
    case duplicateLeaseMAC(MACAddress)
    case duplicateLeaseAddress(IPAddress, first: MACAddress, second: MACAddress)
    case badHostname(String)
    case duplicateLeaseHostname(String)
    /// The subnet overlaps a route or address on the host.
    case overlapsHost(subnet: IPPrefix, existing: IPPrefix, suggestion: IPPrefix?)
    /// The subnet overlaps another qnet network's subnet.
    case overlapsNetwork(subnet: IPPrefix, other: IPPrefix, suggestion: IPPrefix?)
    /// Every 10.x.y.0/24 is taken.
    case noFreeSubnet

    /// Bad input (exit status 2), as opposed to a host that cannot take the network (1).
    public var isUsageError: Bool {
        switch self {
        case .noFreeSubnet: false
        default: true
        }
    }

    public var description: String {
        switch self {
        case let .badNetworkName(name):
            "invalid network name '\(printable(name))': use 1 to \(AddressPlanner.maximumNameLength) lowercase letters, digits, '-' or '_', "
                + "starting with a letter or digit (it becomes part of the bridge name qn-NAME, at most 15 bytes)"
        case let .badBridgeName(name):
            "invalid bridge name '\(printable(name))': use 1 to 15 bytes of letters, digits, '-', '_' or '.' (not '.' or '..')"
        case let .badDomain(domain):
            "invalid DNS domain '\(printable(domain))': use dot-separated labels of letters, digits, '-' or '_' "
                + "(each 1 to 63 bytes, starting with a letter or digit), at most 253 bytes in all"
        case let .bridgeModeHasNoAddressing(network):
            "network '\(network)' is a bridge network: qnet gives it no subnet, gateway or DHCP range (its guests use the LAN's)"
        case let .badSubnet(text):
            "invalid subnet '\(printable(text))': write an IPv4 network as ADDRESS/LENGTH, e.g. 10.0.100.0/24"
        case let .notANetworkAddress(given, network):
            "\(given) is not a network address (its host bits are not zero); did you mean \(network)?"
        case let .subnetSize(subnet):
            "subnet \(subnet) has the wrong size: use a prefix length from /\(AddressPlanner.prefixLengths.lowerBound) "
                + "to /\(AddressPlanner.prefixLengths.upperBound) (a /29 leaves 6 host addresses: the gateway and 5 for DHCP)"
        case let .reservedSubnet(subnet, block, purpose):
            "subnet \(subnet) lies in \(block) (\(purpose)); use a private range such as 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
        case let .badAddress(what, value):
            "invalid \(what) '\(printable(value))': use an IPv4 address inside the subnet, e.g. 10.0.100.1"
        case let .outsideSubnet(what, address, subnet):
            "\(what) \(address) is outside the subnet \(subnet); use an address from \(AddressPlanner.hostRange(subnet))"
        case let .reservedAddress(what, address, role, subnet):
            "\(what) \(address) is the \(role) address of \(subnet); use another host address from \(AddressPlanner.hostRange(subnet))"
        case let .incompleteRange(start, end):
            "the DHCP range needs a start and an end (got only \(start.map { "start \(printable($0))" } ?? "end \(printable(end ?? "?"))")); give both or neither"
        case let .rangeReversed(start, end):
            "DHCP range \(start)-\(end) ends before it starts; the start must not be above the end"
        case let .gatewayInRange(gateway, start, end):
            "DHCP range \(start)-\(end) contains the gateway \(gateway); move the range or the gateway so they do not meet"
        case let .badLeaseTime(seconds):
            "invalid lease time \(seconds) s: use \(AddressPlanner.leaseTimes.lowerBound) (dnsmasq's minimum) "
                + "to \(AddressPlanner.leaseTimes.upperBound) seconds (one year)"
        case let .badMAC(text):
            "invalid static lease MAC '\(printable(text))': use a unicast address like 52:54:00:12:34:56 (not multicast, broadcast or all zero)"
        case let .duplicateLeaseMAC(mac):
            "MAC \(mac) has more than one static lease; give each MAC one address"
        case let .duplicateLeaseAddress(address, first, second):
            "address \(address) is in two static leases (\(first) and \(second)); give each lease its own address"
        case let .badHostname(name):
            "invalid static lease hostname '\(printable(name))': use 1 to 63 letters, digits or '-', starting with a letter or digit "
                + "(no dots: the network's domain is added)"
        case let .duplicateLeaseHostname(name):
            "hostname '\(printable(name))' is in two static leases; give each lease its own name"
        case let .overlapsHost(subnet, existing, suggestion):
            "subnet \(subnet) overlaps \(existing), already routed or assigned on this host; pick another subnet"
                + (suggestion.map { ", e.g. \($0)" } ?? "")
        case let .overlapsNetwork(subnet, other, suggestion):
            "subnet \(subnet) overlaps \(other) of another qnet network; pick another subnet" + (suggestion.map { ", e.g. \($0)" } ?? "")
        case .noFreeSubnet:
            "no free 10.x.y.0/24 subnet is left (each overlaps a host route, address or another network); pass --subnet"
        }
    }

    /// A value as typed, with control characters escaped (`\n`, `\t`, `\u{1B}`) so the
    /// message stays one line whatever the input was.
    private func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case _ where scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}":
                result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

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
    /// Bridges are named `qn-NAME` and Linux interface names hold 15 bytes (IFNAMSIZ − 1).
    public static let maximumNameLength = 12
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
        try validateNetworkName(definition.name)
        try validateBridgeName(definition.bridge)
        try validateDomain(definition.effectiveDomain)
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

    // MARK: - names

    /// Network names: 1 to 12 bytes of `a-z`, `0-9`, `-`, `_`, starting with a letter or digit.
    /// The name becomes the bridge `qn-NAME` (15 bytes at most), a file name, and the
    /// default DNS domain (so it cannot start with `-` or `_`).
    public static func validateNetworkName(_ name: String) throws {
        let bytes = Array(name.utf8)
        let allowed = bytes.allSatisfy { isLowercaseLetterOrDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        guard (1...maximumNameLength).contains(bytes.count), allowed, isLowercaseLetterOrDigit(bytes[0]) else {
            throw NetworkConfigError.badNetworkName(name)
        }
    }

    /// The bridge a nat/isolated network makes unless told otherwise: `qn-NAME`.
    public static func defaultBridgeName(for network: String) -> String { "qn-\(network)" }

    /// Bridge names that qnet writes into dnsmasq and nftables files: 1 to 15 bytes of
    /// letters, digits, `-`, `_` and `.`, not `.` or `..`. (The kernel allows more, but
    /// nothing that needs quoting in those files gets through here.)
    public static func validateBridgeName(_ name: String) throws {
        let bytes = Array(name.utf8)
        let allowed = bytes.allSatisfy { isLetterOrDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
        guard (1...15).contains(bytes.count), allowed, name != ".", name != ".." else { throw NetworkConfigError.badBridgeName(name) }
    }

    /// DNS domains for dnsmasq's `domain=`: dot-separated labels of letters, digits, `-`, `_`
    /// (each 1–63 bytes, starting with a letter or digit; dnsmasq's own rule), 253 bytes at most.
    public static func validateDomain(_ domain: String) throws {
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard domain.utf8.count <= 253, labels.allSatisfy({ isDNSLabel(Array($0.utf8), underscore: true) }) else {
            throw NetworkConfigError.badDomain(domain)
        }
    }

    /// Static lease hostnames: one DNS label (1–63 letters, digits, `-`, starting with a
    /// letter or digit); dnsmasq adds the network's domain.
    public static func validateHostname(_ name: String) throws {
        guard isDNSLabel(Array(name.utf8), underscore: false) else { throw NetworkConfigError.badHostname(name) }
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
            if let hostname = lease.hostname { try validateHostname(hostname) }
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

    private static func isLowercaseLetterOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        isLowercaseLetterOrDigit(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    private static func isDNSLabel(_ bytes: [UInt8], underscore: Bool) -> Bool {
        guard (1...63).contains(bytes.count), isLetterOrDigit(bytes[0]) else { return false }
        return bytes.allSatisfy { isLetterOrDigit($0) || $0 == UInt8(ascii: "-") || (underscore && $0 == UInt8(ascii: "_")) }
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
