import Glibc
import NetlinkWire
import QNetTypes
import Testing

@Suite("AddressFamily")
struct AddressFamilyTests {
    @Test("an address's family is AF_INET or AF_INET6, the values rtnetlink carries")
    func family() throws {
        #expect(try #require(IPAddress("192.168.1.10")).family == .inet)
        #expect(try #require(IPAddress("2001:db8::1")).family == .inet6)
        #expect(AddressFamily.inet.rawValue == UInt8(AF_INET))
        #expect(AddressFamily.inet6.rawValue == UInt8(AF_INET6))
        #expect(AddressFamily.inet != .inet6)
    }
}
