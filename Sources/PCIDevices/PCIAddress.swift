/// A PCI function's address, as sysfs and `lspci -D` print it: `DDDD:BB:DD.F` (domain,
/// bus, device, function), e.g. `0000:01:00.0`.
public struct PCIAddress: Hashable, Comparable, Sendable, Codable, CustomStringConvertible, LosslessStringConvertible {
    /// 0...0xffff on most hosts; Intel VMD domains go beyond (`10000:e0:00.0`).
    public var domain: UInt32
    public var bus: UInt8
    /// 0...31.
    public var device: UInt8
    /// 0...7.
    public var function: UInt8

    public init(domain: UInt32 = 0, bus: UInt8, device: UInt8, function: UInt8) {
        precondition(device < 32 && function < 8, "PCI device 0-31, function 0-7")
        self.domain = domain
        self.bus = bus
        self.device = device
        self.function = function
    }

    /// Parses `DDDD:BB:DD.F` or `BB:DD.F` (domain 0, as `lspci` prints without -D), hex,
    /// either case. nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        var domain: UInt32 = 0
        if parts.count == 3 {
            guard (1...8).contains(parts[0].count), let value = UInt32(parts[0], radix: 16) else { return nil }
            domain = value
        }
        let busText = parts[parts.count - 2]
        let slot = parts[parts.count - 1].split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(busText.count), let bus = UInt8(busText, radix: 16),
              slot.count == 2, (1...2).contains(slot[0].count), slot[1].count == 1,
              let device = UInt8(slot[0], radix: 16), let function = UInt8(slot[1], radix: 16),
              device < 32, function < 8 else { return nil }
        self.init(domain: domain, bus: bus, device: device, function: function)
    }

    /// `0000:01:00.0`: the name of the function's directory under /sys/bus/pci/devices.
    public var description: String {
        hex(domain, width: 4) + ":" + hex(UInt32(bus), width: 2) + ":" + hex(UInt32(device), width: 2) + "." + String(function)
    }

    public static func < (lhs: PCIAddress, rhs: PCIAddress) -> Bool {
        (lhs.domain, lhs.bus, lhs.device, lhs.function) < (rhs.domain, rhs.bus, rhs.device, rhs.function)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = PCIAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a PCI address: \(text)"))
        }
        self = address
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// What the CLI says about text that is not an address (one line, the allowed forms).
    public static func invalidMessage(_ text: String) -> String {
        "invalid PCI address '\(text)': use DDDD:BB:DD.F or BB:DD.F in hex (device 00-1f, function 0-7), e.g. 0000:01:00.0 or 01:00.0"
    }
}

func hex(_ value: UInt32, width: Int) -> String {
    let digits = String(value, radix: 16)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
