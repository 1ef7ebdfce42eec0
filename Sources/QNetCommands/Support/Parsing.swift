import ArgumentParser
import HostNetwork
import QEMU
import QNetTypes

/// `on|off` switches, as iproute2 and brctl spell them.
public enum Switch: String, ExpressibleByArgument, CaseIterable, Sendable {
    case on, off
    public var isOn: Bool { self == .on }

    public init?(argument: String) {
        switch argument.lowercased() {
        case "on", "yes", "1", "true": self = .on
        case "off", "no", "0", "false": self = .off
        default: return nil
        }
    }
}

/// Typed parsing at the edge; each failure is one line naming the value and what is allowed.
enum Parse {
    /// `ADDRESS/PREFIXLEN` syntax only (a subnet's own rules are checked where it is planned).
    static func cidr(_ text: String) throws -> IPPrefix {
        guard let prefix = IPPrefix(text), text.contains("/") else {
            throw ValidationError("invalid address '\(text)': use ADDRESS/PREFIXLEN, e.g. 192.168.1.10/24 or 2001:db8::1/64")
        }
        return prefix
    }

    /// An address to put on an interface (`ip addr add ADDRESS/PREFIXLEN dev X`): a unicast
    /// host address and a prefix of at least one bit. The kernel takes 224.0.0.1/4, 0.0.0.0/8 or
    /// 192.168.1.255/24 without complaint and the interface then misbehaves.
    static func interfaceAddress(_ text: String) throws -> IPPrefix {
        let prefix = try cidr(text)
        let address = prefix.address
        let invalid = { (reason: String) in ValidationError("invalid address '\(text)': \(reason)") }
        if address.isMulticast {
            throw invalid("\(address) is a multicast address; use a unicast host address, e.g. 192.168.1.10/24 or 2001:db8::1/64")
        }
        if address.isUnspecified {
            throw invalid("\(address) is the unspecified address; use a host address, e.g. 192.168.1.10/24 or 2001:db8::1/64")
        }
        if address.isLimitedBroadcast {
            throw invalid("255.255.255.255 is the broadcast address; use a host address, e.g. 192.168.1.10/24")
        }
        guard prefix.length > 0 else {
            throw invalid("a /0 prefix puts the whole address space on one link; use 1 to \(address.bitWidth) (e.g. /24 or /64)")
        }
        // IPv4 subnets of /30 and wider reserve their first (network) and last (broadcast)
        // address; /31 (RFC 3021) and /32 have no such addresses.
        if address.isIPv4, prefix.length <= 30 {
            let network = IPPrefix(address: prefix.network, length: prefix.length)
            let hosts = address.hostRange(prefixLength: prefix.length)
            if address == prefix.network {
                throw invalid("\(address) is the network address of \(network); use a host address from \(hosts.first) to \(hosts.last)")
            }
            if address == hosts.broadcast {
                throw invalid("\(address) is the broadcast address of \(network); use a host address from \(hosts.first) to \(hosts.last)")
            }
        }
        return prefix
    }

    static func seconds(_ text: String) throws -> Double {
        guard let value = Double(text), value.isFinite else {
            throw ValidationError("invalid time '\(text)': use a number of seconds, e.g. 0, 2 or 15")
        }
        guard value >= 0 else {
            throw ValidationError("invalid time '\(text)': out of range; use 0 seconds or more, e.g. 0, 2 or 15")
        }
        return value
    }

    static func mtu(_ text: String) throws -> UInt32 {
        try integer("MTU", in: 68...65535, unit: " bytes")(text)
    }

    /// A whole number in `range`; "-1" and "99999" are out of range, "x" and "1.5" not numbers.
    /// Options taking numbers use `parsing: .unconditional`, or ArgumentParser reads "-1" as a
    /// short option and reports the value as missing.
    static func integer<Value: FixedWidthInteger & Sendable>(_ what: String, in range: ClosedRange<Value>, unit: String = "")
        -> @Sendable (String) throws -> Value {
        { text in
            let allowed = "use \(range.lowerBound) to \(range.upperBound)\(unit)"
            guard let wide = Int64(text) else {
                throw ValidationError("invalid \(what) '\(text)': not a whole number; \(allowed)")
            }
            guard let value = Value(exactly: wide), range.contains(value) else {
                throw ValidationError("invalid \(what) '\(text)': out of range; \(allowed)")
            }
            return value
        }
    }

    static func interfaceName(_ text: String) throws -> String {
        if let problem = InterfaceName.problem(with: text) {
            throw ValidationError("invalid interface name '\(text)': \(problem)")
        }
        return text
    }

    static func tapName(_ text: String) throws -> String {
        if let problem = InterfaceName.problem(with: text, allowTemplate: true) {
            throw ValidationError("invalid interface name '\(text)': \(problem)")
        }
        return text
    }

    static func mac(_ text: String) throws -> MACAddress {
        guard let mac = MACAddress(text) else {
            throw ValidationError("invalid MAC address '\(text)': use six hex pairs, e.g. 52:54:00:12:34:56")
        }
        guard mac.isValidUnicast else {
            throw ValidationError("invalid MAC address '\(text)': it is \(mac.isZero ? "all zero" : "multicast"); use a unicast address (even first byte)")
        }
        return mac
    }
}

extension Parse {
    /// `--memory`: MiB, or a number with K/M/G/T (1024-based).
    static func memory(_ text: String) throws -> Int {
        let units: [Character: Double] = ["K": 1.0 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024]
        var number = Substring(text)
        var scale = 1.0
        if let last = number.last?.uppercased().first, let unit = units[last] {
            scale = unit
            number = number.dropLast()
            if number.last?.uppercased() == "I" { number = number.dropLast() }
        }
        guard let value = Double(number), value.isFinite, number.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }) else {
            throw ValidationError("invalid memory size '\(text)': use MiB (1024) or a number with K, M, G or T (512M, 2G)")
        }
        let mebibytes = value * scale
        guard mebibytes >= 16, mebibytes <= Double(1 << 22) else {
            throw ValidationError("invalid memory size '\(text)': out of range; use 16 MiB to 4 TiB")
        }
        guard mebibytes == mebibytes.rounded() else {
            throw ValidationError("invalid memory size '\(text)': use a whole number of MiB from 16 MiB to 4 TiB")
        }
        return Int(mebibytes)
    }

    /// `--vnc :N`.
    static func vncDisplay(_ text: String) throws -> Int {
        let digits = text.hasPrefix(":") ? String(text.dropFirst()) : text
        guard let value = Int(digits), (0...99).contains(value), digits.allSatisfy(\.isNumber) else {
            throw ValidationError("invalid VNC display '\(text)': use :0 to :99")
        }
        return value
    }
}

extension Parse {
    static func ipAddress(_ text: String) throws -> IPAddress {
        guard let address = IPAddress(text) else {
            throw ValidationError("invalid IP address '\(text)': use e.g. 192.168.1.254 or 2001:db8::1")
        }
        return address
    }

    /// `ADDR[,ADDR...]`: each an IP address (`--peers`).
    static func ipAddressList(_ text: String) throws -> [IPAddress] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { try ipAddress(String($0)) }
    }

    static func nicModel(_ text: String) throws -> NICModel {
        guard let model = NICModel(name: text) else {
            throw ValidationError("invalid NIC model '\(text)': use virtio, e1000, e1000e or rtl8139")
        }
        return model
    }
}

// Subnet arithmetic for `Parse.interfaceAddress` (the address classes are QNetTypes').
extension IPAddress {
    /// The first and last host and the broadcast address of this IPv4 address's subnet.
    fileprivate func hostRange(prefixLength: UInt8) -> (first: IPAddress, last: IPAddress, broadcast: IPAddress) {
        let value = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let hostMask: UInt32 = prefixLength == 0 ? .max : (1 << (32 - UInt32(prefixLength))) - 1
        let network = value & ~hostMask
        let address = { (value: UInt32) in IPAddress.v4((0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }) }
        return (address(network + 1), address((network | hostMask) - 1), address(network | hostMask))
    }
}
