import Foundation
import QNetSystem
import Testing

/// The journal's hand-written JSON (`JournalJSON`) must be byte for byte what `JSONEncoder`
/// (sorted keys, slashes unescaped, as the journal used it) writes, and read back by the
/// journal's decoder as the same values.
@Suite("journal JSON written by hand")
struct JournalJSONTests {
    static func reference<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Strings that exercise every escape: quotes, backslash, slash, each control character,
    /// DEL, non-ASCII and characters some encoders escape (U+2028, U+2029), emoji.
    static let awkwardStrings: [String] = [
        "", "br0", "qnet --netns ns1 tap create nic0 --bridge br0", "a\"b\\c/d", "/run/qnet/journal",
        "qnet bridge create 'my br'", "\u{7f}", "é ü ß", "\u{2028}\u{2029}", "🙂 tap", "x\u{0}y",
        String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }),
    ]

    @Test("step names: the same JSON string as JSONEncoder writes", arguments: awkwardStrings)
    func stepNames(text: String) throws {
        var json = JournalJSON()
        json.string(text)
        #expect(String(decoding: json.bytes, as: UTF8.self) == (try Self.reference(text)))
        #expect(try JSONDecoder().decode(String.self, from: Data(json.bytes)) == text)
    }

    @Test("headers: with and without namespace, cookie and executable, awkward commands and scopes")
    func headers() throws {
        var headers: [JournalHeader] = []
        for (index, text) in Self.awkwardStrings.enumerated() {
            let owner = ProcessIdentity(pid: Int32(index * 977 + 1), startTime: UInt64(index) * 1_000_003,
                                        executable: index.isMultiple(of: 3) ? nil : "/usr/local/bin/qnet\(text)")
            let namespace: NetworkNamespaceIdentity? = switch index % 3 {
            case 0: nil
            case 1: NetworkNamespaceIdentity(device: 4, inode: 4_026_532_000 + UInt64(index), cookie: nil)
            default: NetworkNamespaceIdentity(device: UInt64.max, inode: 0, cookie: UInt64.max - UInt64(index))
            }
            headers.append(JournalHeader(scope: "netns-\(text)", command: text, owner: owner, namespace: namespace))
        }
        headers.append(JournalHeader(scope: "host", command: "qnet ifup tap0",
                                     owner: ProcessIdentity(pid: Int32.max, startTime: UInt64.max, executable: "/x"), namespace: nil))
        for header in headers {
            #expect(String(decoding: header.journalJSON, as: UTF8.self) == (try Self.reference(header)))
            #expect(try JSONDecoder().decode(JournalHeader.self, from: Data(header.journalJSON)) == header)
        }
    }

    @Test("a whole journal entry decodes back to the same entry")
    func entryRoundTrip() throws {
        var entry = JournalEntry(header: JournalHeader(scope: "netns-1-2", command: "qnet tap create \"x\"",
                                                       owner: ProcessIdentity(pid: 42, startTime: 7, executable: "/bin/qnet"),
                                                       namespace: NetworkNamespaceIdentity(device: 4, inode: 5, cookie: 6)))
        entry.steps = ["configure TAPs", "a\\b\n"]
        entry.pastPointOfNoReturn = true
        let decoded = try JournalEntry(decoding: try entry.encoded(), fileName: entry.fileName)
        #expect(decoded == entry)
    }
}
