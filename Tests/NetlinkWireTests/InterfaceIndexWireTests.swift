import NetlinkWire
import QNetTypes
import Testing

/// The one InterfaceIndex type against the kernel's two spellings of an ifindex: a signed
/// int in `ifinfomsg` and an unsigned 32-bit value in IFLA_MASTER, IFLA_LINK, `ifaddrmsg`
/// and RTA_OIF/RTA_IIF. The encoders convert at the wire boundary only.
@Suite("InterfaceIndex on the wire")
struct InterfaceIndexWireTests {
    @Test("ifi_index is bytes 4-7 of ifinfomsg, little-endian, and decodes to the same index")
    func linkIndex() throws {
        let bytes = LinkMessage(index: 0x0102_0304, attributes: [.master(7), .link(9)]).encoded()
        #expect(Array(bytes[4..<8]) == [0x04, 0x03, 0x02, 0x01])
        let decoded = try LinkMessage(payload: bytes)
        #expect(decoded.index == 0x0102_0304)
        #expect(decoded.masterIndex == 7)
        #expect(decoded.attributes.contains(.link(9)))
    }

    @Test("a negative ifi_index (which the kernel never sends) decodes without trapping and re-encodes byte for byte")
    func negativeIndexDoesNotTrap() throws {
        var bytes = [UInt8](repeating: 0, count: LinkMessage.fixedLength)
        bytes[4..<8] = [0xff, 0xff, 0xff, 0xff]
        let decoded = try LinkMessage(payload: bytes)
        #expect(decoded.index == InterfaceIndex(UInt32.max))
        #expect(decoded.encoded() == bytes)
    }

    @Test("ifa_index and RTA_OIF carry the same value as the link's index")
    func addressAndRouteIndex() throws {
        let index: InterfaceIndex = 3
        let address = try AddressMessage(payload: AddressMessage(family: .inet, index: index).encoded())
        #expect(address.index == index)
        let route = try RouteMessage(payload: RouteMessage(family: .inet, attributes: [.outputInterface(index), .inputInterface(1)]).encoded())
        #expect(route.outputInterface == index)
        #expect(route.attributes.contains(.inputInterface(1)))
    }
}
