import Foundation
import HostNetwork
import QNetTypes
import Testing

/// `CreatedLinkRecord`'s hand-written journal JSON (every `qnet tap create` writes one) is
/// byte for byte JSONEncoder's, and JSONDecoder (as the journal decodes records) reads it back
/// as the same record.
@Suite("created-link record JSON")
struct CreatedLinkRecordJSONTests {
    @Test func handWrittenJSONIsJSONEncoders() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let records = [
            CreatedLinkRecord(links: []),
            CreatedLinkRecord(links: [.init(name: "nic0", kind: "tun", index: 7)]),
            CreatedLinkRecord(links: [.init(name: "br0", kind: "bridge", mac: "fe:54:00:12:34:56")]),
            CreatedLinkRecord(links: (0..<5).map { .init(name: "t\"a\\p/\($0)", kind: "tun", index: InterfaceIndex(UInt32.max - UInt32($0))) }
                + [.init(name: "é\u{1}", kind: "vxlan", index: 1, mac: "02:00:00:00:00:01")]),
        ]
        for record in records {
            let handWritten = try #require(record.handWrittenJSON)
            #expect(String(decoding: handWritten, as: UTF8.self) == String(decoding: try encoder.encode(record), as: UTF8.self))
            #expect(try JSONDecoder().decode(CreatedLinkRecord.self, from: Data(handWritten)) == record)
        }
    }
}
