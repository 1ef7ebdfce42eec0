import CLinuxNet
import QNetTypes

/// AF_* values used in rtnetlink messages.
public struct AddressFamily: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unspecified = AddressFamily(rawValue: u8(AF_UNSPEC))
    public static let inet = AddressFamily(rawValue: u8(AF_INET))
    public static let inet6 = AddressFamily(rawValue: u8(AF_INET6))
    public static let bridge = AddressFamily(rawValue: u8(AF_BRIDGE))
}

extension IPAddress {
    /// AF_INET or AF_INET6.
    public var family: AddressFamily { isIPv4 ? .inet : .inet6 }
}
