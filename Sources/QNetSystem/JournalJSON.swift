/// Journal JSON written by hand for the records every host change writes (the header, step
/// names, `created-link`): byte for byte what `JSONEncoder` with `.sortedKeys` and
/// `.withoutEscapingSlashes` writes (a test compares the two over many values), so the
/// decoder reads both and a journal is the same whoever wrote it.
///
/// Why: in the static binary the first `JSONEncoder.encode` of a type resolves its generic
/// metadata and protocol conformances by name, 2.1 M of the 5.5 M instructions of
/// `qnet tap create` (callgrind), more than the command's own work.
public struct JournalJSON {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init() { bytes.reserveCapacity(256) }

    /// Writes an object: `body` adds its members, which must come in the sorted key order
    /// `JSONEncoder`'s `.sortedKeys` gives (the test of each type checks it).
    public mutating func object(_ body: (inout JournalJSON) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    /// Writes an array of `elements`, each with `body`.
    public mutating func array<Element>(_ elements: [Element], _ body: (inout JournalJSON, Element) -> Void) {
        bytes.append(UInt8(ascii: "["))
        needsComma = false
        for element in elements {
            if needsComma { bytes.append(UInt8(ascii: ",")) }
            body(&self, element)
            needsComma = true
        }
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// `"name":` (a member's value follows). Names are Swift property names: nothing to escape.
    public mutating func key(_ name: StaticString) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        needsComma = false
    }

    /// A member with a string value; nothing when nil (as `encodeIfPresent` leaves it out).
    public mutating func member(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        key(name)
        string(value)
    }

    /// A member with an integer value; nothing when nil.
    public mutating func member<Integer: BinaryInteger>(_ name: StaticString, _ value: Integer?) {
        guard let value else { return }
        key(name)
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    /// A JSON string as `JSONEncoder` writes it: `"` and `\` escaped, control characters as
    /// `\b \f \n \r \t` or `\u00XX`, '/' and everything else (UTF-8 included) as it is.
    public mutating func string(_ value: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex: StaticString = "0123456789abcdef"
                bytes.append(contentsOf: Array("\\u00".utf8))
                hex.withUTF8Buffer { digits in
                    bytes.append(digits[Int(byte >> 4)])
                    bytes.append(digits[Int(byte & 0x0f)])
                }
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }
}

/// A value the journal writes with ``JournalJSON`` instead of `JSONEncoder`.
public protocol JournalJSONWritable {
    func write(to json: inout JournalJSON)
}

extension JournalJSONWritable {
    /// The value's journal JSON.
    public var journalJSON: [UInt8] {
        var json = JournalJSON()
        write(to: &json)
        return json.bytes
    }
}

extension ProcessIdentity: JournalJSONWritable {
    public func write(to json: inout JournalJSON) {
        json.object { json in
            json.member("executable", executable)
            json.member("pid", pid)
            json.member("startTime", startTime)
        }
    }
}

extension NetworkNamespaceIdentity: JournalJSONWritable {
    public func write(to json: inout JournalJSON) {
        json.object { json in
            json.member("cookie", cookie)
            json.member("device", device)
            json.member("inode", inode)
        }
    }
}

extension JournalHeader: JournalJSONWritable {
    public func write(to json: inout JournalJSON) {
        json.object { json in
            json.member("command", command)
            if let namespace {
                json.key("namespace")
                namespace.write(to: &json)
            }
            json.key("owner")
            owner.write(to: &json)
            json.member("scope", scope)
        }
    }
}
