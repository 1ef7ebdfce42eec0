import Foundation
import QMP
import Testing

struct JSONValueTests {
    @Test func decodesEveryKind() throws {
        let value = try JSONValue(parsing: #"{"a": null, "b": true, "c": 42, "d": -1.5, "e": "x\ny", "f": [1, "2", false], "g": {"h": {}}}"#)
        #expect(value == .object([
            "a": .null, "b": .bool(true), "c": .integer(42), "d": .number(-1.5), "e": .string("x\ny"),
            "f": .array([.integer(1), .string("2"), .bool(false)]), "g": .object(["h": .object([:])]),
        ]))
        #expect(value["c"]?.integerValue == 42 && value["d"]?.doubleValue == -1.5 && value["f"]?[1]?.stringValue == "2")
        #expect(value["missing"] == nil && value["f"]?[9] == nil && value["b"]?.boolValue == true)
    }

    @Test func integersStayExact() throws {
        // 2^62 + 1 is not representable as a Double.
        let value = try JSONValue(parsing: #"{"size": 4611686018427387905}"#)
        #expect(value["size"] == .integer(4_611_686_018_427_387_905))
        #expect(try value.serialized() == #"{"size":4611686018427387905}"#)
        #expect(try JSONValue(parsing: "[0, 1, true]") == [0, 1, true])
    }

    @Test func serializesCompactSortedWithReadablePaths() throws {
        let value: JSONValue = ["execute": "getfd", "arguments": ["fdname": "tap0", "path": "/run/a,b"], "id": 7]
        #expect(try value.serialized() == #"{"arguments":{"fdname":"tap0","path":"/run/a,b"},"execute":"getfd","id":7}"#)
        #expect(try JSONValue.string("quote\" back\\ nl\n").serialized() == #""quote\" back\\ nl\n""#)
        #expect(try JSONValue(parsing: try value.serialized()) == value)
    }

    @Test(arguments: ["", "{", "{\"a\":}", "nul", "{'a': 1}", "[1 2]", "[1,]", "{\"a\":1,}", "01", "1.", "-", "1e", ".5",
                      "\"tab\there\"", "\"\\x\"", "\"\\u12\"", "[1] x", "NaN", "// c\n1", "\"unterminated"])
    func rejectsMalformed(text: String) {
        #expect(throws: (any Error).self) { try JSONValue(parsing: text) }
    }

    @Test func stringsEscapesAndUnicode() throws {
        #expect(try JSONValue(parsing: #""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{8}\u{c}\n\r\t"))
        #expect(try JSONValue(parsing: #""\u00e9\u20AC\ud83d\ude00""#) == .string("é€😀"))
        #expect(try JSONValue(parsing: "\"é€😀\"") == .string("é€😀"))
        #expect(try JSONValue(parsing: #""\ud83d""#) == .string("\u{FFFD}"))
        #expect(try JSONValue.string("\u{1}é/").serialized() == #""\u0001é/""#)
    }

    @Test func numbers() throws {
        #expect(try JSONValue(parsing: "-0") == .integer(0))
        #expect(try JSONValue(parsing: "1e3") == .number(1000))
        #expect(try JSONValue(parsing: "-2.5E-3") == .number(-0.0025))
        #expect(try JSONValue(parsing: "18446744073709551615") == .number(18_446_744_073_709_551_615))
        #expect(try JSONValue(parsing: "9223372036854775807") == .integer(.max))
        #expect(throws: (any Error).self) { try JSONValue(parsing: "1e999") }
        #expect(throws: (any Error).self) { try JSONValue.number(.nan).serialized() }
        #expect(try JSONValue.number(0.5).serialized() == "0.5")
    }

    @Test func nestingIsBounded() throws {
        #expect(try JSONValue(parsing: String(repeating: "[", count: 500) + String(repeating: "]", count: 500)).arrayValue != nil)
        #expect(throws: (any Error).self) { try JSONValue(parsing: String(repeating: "[", count: 100_000)) }
    }

    @Test func codableThroughFoundation() throws {
        let value: JSONValue = ["a": [1, 2.5, "x", nil, true], "b": ["c": 4_611_686_018_427_387_905]]
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
    }
}
