import Foundation
import QNetTypes
import Testing

@Suite("InterfaceIndex")
struct InterfaceIndexTests {
    @Test("one value whether written as a literal or from the kernel's u32")
    func construction() {
        let literal: InterfaceIndex = 7
        #expect(literal == InterfaceIndex(7))
        #expect(literal == InterfaceIndex(rawValue: 7))
        #expect(literal.rawValue == 7)
        #expect(literal != 8)
        #expect(literal.description == "7")
        #expect("dev if\(literal)" == "dev if7")
    }

    @Test("orders by number and keys dictionaries")
    func orderAndHashing() {
        #expect([InterfaceIndex(10), 2, 1].sorted() == [1, 2, 10])
        let names: [InterfaceIndex: String] = [1: "lo", 3: "br0"]
        #expect(names[3] == "br0" && names[2] == nil)
    }

    @Test("JSON carries the bare number")
    func json() throws {
        struct Report: Codable, Equatable { var index: InterfaceIndex }
        let data = try JSONEncoder().encode(Report(index: 42))
        #expect(String(decoding: data, as: UTF8.self) == #"{"index":42}"#)
        #expect(try JSONDecoder().decode(Report.self, from: data) == Report(index: 42))
    }
}
