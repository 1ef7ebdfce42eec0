import QNetSystem

/// Names from the pci.ids database (`lspci`'s names): vendors, devices and classes.
/// Format: `VVVV  name` at column 0, `\tDDDD  name` below it; classes as `C CC  name` with
/// `\tSS  name` subclasses. Subsystem lines (two tabs) are skipped.
public struct PCIIDs: Sendable, Equatable {
    var vendors: [UInt16: String] = [:]
    var devices: [UInt32: String] = [:]
    var classes: [UInt8: String] = [:]
    var subclasses: [UInt16: String] = [:]

    public init() {}

    /// Parses the database's text; lines it does not understand are skipped.
    public init(text: String) {
        var vendor: UInt16?
        var baseClass: UInt8?
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let first = line.first, first != "#" else { continue }
            if line.hasPrefix("\t\t") { continue }
            if first == "\t" {
                let body = line.dropFirst()
                guard let (id, name) = Self.split(body) else { continue }
                if let vendor, id.count == 4, let device = UInt16(id, radix: 16) {
                    devices[UInt32(vendor) << 16 | UInt32(device)] = name
                } else if let baseClass, id.count == 2, let sub = UInt8(id, radix: 16) {
                    subclasses[UInt16(baseClass) << 8 | UInt16(sub)] = name
                }
                continue
            }
            if line.hasPrefix("C "), let (id, name) = Self.split(line.dropFirst(2)), let code = UInt8(id, radix: 16) {
                classes[code] = name
                baseClass = code
                vendor = nil
            } else if let (id, name) = Self.split(line), id.count == 4, let code = UInt16(id, radix: 16) {
                vendors[code] = name
                vendor = code
                baseClass = nil
            } else {
                vendor = nil
                baseClass = nil
            }
        }
    }

    /// The first readable file of `paths`; empty names when none is.
    public static func load(_ paths: [String]) -> PCIIDs {
        for path in paths {
            if let text = try? FileSystem.readText(path) { return PCIIDs(text: text) }
        }
        return PCIIDs()
    }

    static func split(_ line: Substring) -> (String, String)? {
        guard let space = line.firstIndex(of: " ") else { return nil }
        let id = String(line[..<space])
        let name = line[space...].drop { $0 == " " }
        return name.isEmpty ? nil : (id, String(name))
    }

    public func vendor(_ id: UInt16) -> String? { vendors[id] }
    public func device(vendor: UInt16, device: UInt16) -> String? { devices[UInt32(vendor) << 16 | UInt32(device)] }

    /// The subclass's name, else the base class's (pci.ids, else the PCI specification's).
    public func className(_ classCode: UInt32) -> String? {
        let base = UInt8(truncatingIfNeeded: classCode >> 16)
        let sub = UInt16(truncatingIfNeeded: classCode >> 8)
        return subclasses[sub] ?? classes[base] ?? Self.baseClassNames[base]
    }

    /// PCI Code and ID Assignment Specification's base classes, for hosts without pci.ids.
    static let baseClassNames: [UInt8: String] = [
        0x00: "Unclassified device", 0x01: "Mass storage controller", 0x02: "Network controller",
        0x03: "Display controller", 0x04: "Multimedia controller", 0x05: "Memory controller", 0x06: "Bridge",
        0x07: "Communication controller", 0x08: "Generic system peripheral", 0x09: "Input device controller",
        0x0a: "Docking station", 0x0b: "Processor", 0x0c: "Serial bus controller", 0x0d: "Wireless controller",
        0x0e: "Intelligent controller", 0x0f: "Satellite communications controller", 0x10: "Encryption controller",
        0x11: "Signal processing controller", 0x12: "Processing accelerators", 0x13: "Non-Essential Instrumentation",
    ]
}
