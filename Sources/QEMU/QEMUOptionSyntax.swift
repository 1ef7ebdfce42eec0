/// QEMU's option syntax (`-drive file=a.img,format=raw`): QemuOpts and keyval lists.
///
/// QEMU quirks handled here:
/// - In a `key=value,key=value` list a comma inside a value must be doubled: the path
///   `/vm/a,b.img` is written `file=/vm/a,,b.img`. This holds for QemuOpts (-drive,
///   -chardev, -device, -machine, -name) and for keyval (-netdev stream, -accel).
/// - Control characters (newline, tab, NUL...) cannot be expressed safely: NUL ends the
///   C string, and the others corrupt QEMU's messages and qnet's one-line errors, so such
///   values are rejected with an error naming them.
/// - A drive or image file name with a ':' before any '/' is read as a protocol prefix
///   (`c:d.img` fails with "Unknown protocol 'c'"; `json:{...}` is parsed as JSON), so
///   such relative names are passed as `./c:d.img`.
public enum QEMUOptionSyntax {
    /// `value` with every ',' doubled, or a thrown error naming it when it holds a
    /// control character. `option` names the value in that error ("drive file").
    public static func escape(_ value: String, option: String) throws -> String {
        try checkExpressible(value, option: option)
        return value.replacingCommas()
    }

    /// Throws when `value` contains a control character (or is empty and `allowEmpty` is false).
    public static func checkExpressible(_ value: String, option: String, allowEmpty: Bool = false) throws {
        if value.isEmpty && !allowEmpty {
            throw QEMUError.invalidValue(what: option, value: value, allowed: "it must not be empty")
        }
        for scalar in value.unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7f {
            let name: String
            switch scalar {
            case "\n": name = "a newline"
            case "\r": name = "a carriage return"
            case "\t": name = "a tab"
            case "\0": name = "a NUL byte"
            default: name = "the control character U+" + String(scalar.value, radix: 16, uppercase: true)
            }
            throw QEMUError.inexpressibleValue(option: option, value: value, reason: "it contains \(name), which QEMU's command line cannot carry; rename it")
        }
    }

    /// A file name QEMU's block layer (and qemu-img) will not mistake for a protocol
    /// prefix: relative names with ':' before the first '/' get a leading "./".
    public static func blockLayerFileName(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        guard let colon = path.firstIndex(of: ":") else { return path }
        if let slash = path.firstIndex(of: "/"), slash < colon { return path }
        return "./" + path
    }
}

/// One option value in QEMU's list syntax: an optional leading implied value (the
/// driver or type: `virtio-net-pci`, `file`, `q35`) followed by `key=value` pairs.
/// Rendering escapes every value; keys are qnet's own constants.
struct QEMUOptionList {
    private var parts: [String] = []

    /// Starts with the implied value, e.g. `tap` for `-netdev tap,...`.
    init(_ implied: String? = nil, option: String) throws {
        if let implied { parts.append(try QEMUOptionSyntax.escape(implied, option: option)) }
    }

    /// Appends `key=value`, escaping the value; `option` names it in errors.
    mutating func add(_ key: String, _ value: String, option: String) throws {
        parts.append(key + "=" + (try QEMUOptionSyntax.escape(value, option: option)))
    }

    /// Appends `key=value` for values qnet generates (numbers, on/off, identifiers).
    mutating func add(_ key: String, _ value: String) {
        parts.append(key + "=" + value.replacingCommas())
    }

    mutating func add(_ key: String, _ value: Int) { parts.append("\(key)=\(value)") }
    mutating func add(_ key: String, _ flag: Bool) { parts.append("\(key)=\(flag ? "on" : "off")") }

    var rendered: String { parts.joined(separator: ",") }
}

extension String {
    func replacingCommas() -> String {
        guard unicodeScalars.contains(",") else { return self }
        // Scalars, not Characters: "," followed by a combining mark is one Character.
        var result = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            result.append(scalar)
            if scalar == "," { result.append(",") }
        }
        return String(result)
    }
}
