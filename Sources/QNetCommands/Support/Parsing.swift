import ArgumentParser
import HostNetwork
import NetlinkWire
import QEMU

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
    static func cidr(_ text: String) throws -> IPPrefix {
        guard let prefix = IPPrefix(text), text.contains("/") else {
            throw ValidationError("invalid address '\(text)': use ADDRESS/PREFIXLEN, e.g. 192.168.1.10/24 or 2001:db8::1/64")
        }
        return prefix
    }

    static func seconds(_ text: String) throws -> Double {
        guard let value = Double(text), value.isFinite, value >= 0 else {
            throw ValidationError("invalid time '\(text)': use a number of seconds, e.g. 0, 2 or 15")
        }
        return value
    }

    static func mtu(_ text: String) throws -> UInt32 {
        guard let value = UInt32(text), (68...65535).contains(value) else {
            throw ValidationError("invalid MTU '\(text)': use 68 to 65535 bytes")
        }
        return value
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
        guard let value = Double(number), value.isFinite, value > 0, number.allSatisfy({ $0.isNumber || $0 == "." }) else {
            throw ValidationError("invalid memory size '\(text)': use MiB (1024) or a number with K, M, G or T (512M, 2G)")
        }
        let mebibytes = value * scale
        guard mebibytes >= 16, mebibytes <= Double(1 << 22), mebibytes == mebibytes.rounded() else {
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

    static func nicModel(_ text: String) throws -> NICModel {
        guard let model = NICModel(name: text) else {
            throw ValidationError("invalid NIC model '\(text)': use virtio, e1000, e1000e or rtl8139")
        }
        return model
    }
}
