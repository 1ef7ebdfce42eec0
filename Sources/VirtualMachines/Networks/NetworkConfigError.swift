import QNetSystem
import QNetTypes

/// Why a network definition cannot be used; one line each, naming the bad value and what is allowed.
public enum NetworkConfigError: UserFacingError, Equatable, Sendable {
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
    /// `--ipv6` is not `auto`, `none` or an IPv6 `PREFIX/64`.
    case badIPv6Prefix(String)
    /// An IPv6 prefix other than a /64.
    case ipv6PrefixSize(IPPrefix)
    /// `--ipv6` on a bridge network (guests take the LAN's router advertisements).
    case ipv6OnBridgeMode
    /// `--ipv6 auto` on a vxlan host that does not serve DHCP (the segment's prefix is the DHCP host's).
    case ipv6AutoWithoutDHCPHost

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
            "invalid network name '\(printable(name))': use 1 to \(NetworkNames.maximumLength) lowercase letters, digits, '-' or '_', "
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
        case let .badIPv6Prefix(text):
            "invalid IPv6 prefix '\(printable(text))': use auto, none or an IPv6 network as PREFIX/64, e.g. fd12:3456:789a::/64"
        case let .ipv6PrefixSize(prefix):
            "IPv6 prefix \(prefix) has the wrong size: use a /64 (guests make their SLAAC address from the prefix's upper 64 bits)"
        case .ipv6OnBridgeMode:
            "--ipv6 applies to nat and isolated networks; a bridge network's guests take the LAN's router advertisements"
        case .ipv6AutoWithoutDHCPHost:
            "--ipv6 auto picks a prefix on the vxlan network's --dhcp-host only; give the DHCP host's PREFIX/64 here"
        case .noFreeSubnet:
            "no free 10.x.y.0/24 subnet is left (each overlaps a host route, address or another network); pass --subnet"
        }
    }
}
