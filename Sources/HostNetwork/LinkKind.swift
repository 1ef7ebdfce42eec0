/// What sort of device a link is: the kernel's IFLA_INFO_KIND, the word `ip -d link show`
/// prints and `ip link add NAME type KIND` takes. Physical NICs and `lo` have none
/// (``Link/kind`` is nil).
///
/// Two kinds are equal when the kernel's names are: `.other("veth") == .veth`.
public enum LinkKind: Hashable, Sendable, CustomStringConvertible {
    case bridge
    /// A TUN or a TAP device: the kernel names both "tun"; ``Link/isTAP`` tells them apart.
    case tun
    case veth
    case vxlan
    /// 802.1Q (`ip link add link eth0 name eth0.10 type vlan id 10`).
    case vlan
    case macvlan
    case macvtap
    case ipvlan
    case dummy
    case bond
    case vrf
    case wireguard
    case geneve
    /// Any kind qnet has no case for, as the kernel names it.
    case other(String)

    /// The kind the kernel reports as `name` (IFLA_INFO_KIND).
    public init(kernelName name: String) {
        self = Self.known.first { $0.kernelName == name } ?? .other(name)
    }

    private static let known: [LinkKind] = [.bridge, .tun, .veth, .vxlan, .vlan, .macvlan, .macvtap, .ipvlan, .dummy,
                                            .bond, .vrf, .wireguard, .geneve]

    /// The kernel's name for this kind (what IFLA_INFO_KIND carries).
    public var kernelName: String {
        switch self {
        case .bridge: "bridge"
        case .tun: "tun"
        case .veth: "veth"
        case .vxlan: "vxlan"
        case .vlan: "vlan"
        case .macvlan: "macvlan"
        case .macvtap: "macvtap"
        case .ipvlan: "ipvlan"
        case .dummy: "dummy"
        case .bond: "bond"
        case .vrf: "vrf"
        case .wireguard: "wireguard"
        case .geneve: "geneve"
        case let .other(name): name
        }
    }

    public var description: String { kernelName }

    public static func == (lhs: LinkKind, rhs: LinkKind) -> Bool { lhs.kernelName == rhs.kernelName }
    public func hash(into hasher: inout Hasher) { hasher.combine(kernelName) }
}
