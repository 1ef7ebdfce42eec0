/// A network interface's index (`ifindex`: what `ip link` prints before the name, and
/// /sys/class/net/NAME/ifindex), unique within a network namespace.
///
/// The kernel carries it as a signed int in `ifinfomsg` and as an unsigned 32-bit value in
/// IFLA_MASTER, IFLA_LINK, `ifaddrmsg` and RTA_OIF; this one type stands for all of them, and
/// the netlink encoders convert at the wire boundary only. 0 names no interface: in requests
/// it means "none" (IFLA_MASTER 0 detaches) or "not chosen yet" (a new link's index).
public struct InterfaceIndex: RawRepresentable, Hashable, Comparable, Codable, Sendable,
    CustomStringConvertible, ExpressibleByIntegerLiteral
{
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public init(integerLiteral value: UInt32) { self.rawValue = value }

    public var description: String { String(rawValue) }

    public static func < (lhs: InterfaceIndex, rhs: InterfaceIndex) -> Bool { lhs.rawValue < rhs.rawValue }
}
