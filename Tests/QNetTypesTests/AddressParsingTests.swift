import Testing
import QNetTypes

@Suite("MACAddress")
struct MACAddressTests {
    @Test("parses colon and dash forms, any case")
    func parses() throws {
        let expected: [UInt8] = [0x52, 0xfd, 0x91, 0x89, 0x9b, 0x86]
        for text in ["52:fd:91:89:9b:86", "52:FD:91:89:9B:86", "52-fd-91-89-9b-86"] {
            #expect(MACAddress(text)?.bytes == expected, "\(text)")
        }
        #expect(MACAddress(bytes: expected)?.description == "52:fd:91:89:9b:86")
    }

    @Test("prints lower case with two digits per byte")
    func prints() throws {
        #expect(try #require(MACAddress("02:00:0A:0b:00:0F")).description == "02:00:0a:0b:00:0f")
        #expect(try #require(MACAddress(bytes: [0, 0, 0, 0, 0, 1])).description == "00:00:00:00:00:01")
    }

    @Test("rejects malformed text", arguments: [
        "", "52:fd:91:89:9b", "52:fd:91:89:9b:86:00", "5:fd:91:89:9b:86", "052:fd:91:89:9b:86",
        "52:fd:91:89:9b:8g", "52:fd:91-89:9b:86", "52fd.9189.9b86", "52:fd:91:89:9b:", ":52:fd:91:89:9b",
        "52::fd:91:89:9b", " 52:fd:91:89:9b:86", "52:fd:91:89:9b:86 ", "52:fd:91:89:9b:８６",
    ])
    func rejects(text: String) {
        #expect(MACAddress(text) == nil)
    }

    @Test("rejects a sign in a byte (UInt8(\"+f\", radix: 16) is 15)", arguments: ["+f:00:00:00:00:00", "52:fd:91:89:9b:-0"])
    func rejectsSigns(text: String) {
        #expect(MACAddress(text) == nil)
    }

    @Test("wraps exactly six bytes")
    func byteCount() {
        #expect(MACAddress(bytes: [1, 2, 3, 4, 5]) == nil)
        #expect(MACAddress(bytes: [1, 2, 3, 4, 5, 6, 7]) == nil)
        #expect(MACAddress(bytes: []) == nil)
    }

    @Test("multicast, zero and unicast")
    func classification() throws {
        let bridgeGroup = try #require(MACAddress("01:80:c2:00:00:00"))
        #expect(bridgeGroup.isMulticast && !bridgeGroup.isValidUnicast)
        let broadcast = try #require(MACAddress("ff:ff:ff:ff:ff:ff"))
        #expect(broadcast.isMulticast && !broadcast.isValidUnicast)
        let zero = try #require(MACAddress("00:00:00:00:00:00"))
        #expect(zero.isZero && !zero.isValidUnicast)
        let tap = try #require(MACAddress("fe:54:00:12:34:56"))
        #expect(!tap.isMulticast && !tap.isZero && tap.isValidUnicast)
        #expect(try #require(MACAddress("00:00:00:00:00:01")) < tap)
    }
}

@Suite("IPAddress")
struct IPAddressTests {
    @Test("IPv4 parses and prints")
    func ipv4() throws {
        let address = try #require(IPAddress("192.168.1.10"))
        #expect(address == .v4([192, 168, 1, 10]))
        #expect(address.isIPv4 && address.bitWidth == 32)
        #expect(address.description == "192.168.1.10")
        #expect(IPAddress("0.0.0.0")?.bytes == [0, 0, 0, 0])
        #expect(IPAddress("255.255.255.255")?.bytes == [255, 255, 255, 255])
    }

    @Test("IPv4 rejects malformed text", arguments: [
        "300.1.1.1", "256.0.0.0", "1.2.3", "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "", "a.b.c.d", "1.2.3.x",
        " 1.2.3.4", "1.2.3.4 ", "1.2.3.1000", "1.2.3.-1", "١.2.3.4", "1.2.3.4/24",
    ])
    func ipv4Rejects(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test("IPv4 rejects a sign in an octet", arguments: ["+1.2.3.4", "1.2.3.+4"])
    func ipv4RejectsSigns(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test("IPv6 parses, including '::' forms", arguments: [
        ("::", [UInt8](repeating: 0, count: 16)),
        ("::1", [UInt8](repeating: 0, count: 15) + [1]),
        ("1::", [0, 1] + [UInt8](repeating: 0, count: 14)),
        ("2001:db8::1", [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]),
        ("2001:DB8:0:0:0:0:0:1", [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]),
        ("fe80::a:b:c:d", [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0, 0x0b, 0, 0x0c, 0, 0x0d]),
        ("1:2:3:4:5:6:7:8", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]),
        ("1:2:3::6:7:8", [0, 1, 0, 2, 0, 3, 0, 0, 0, 0, 0, 6, 0, 7, 0, 8]),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", [UInt8](repeating: 0xff, count: 16)),
    ])
    func ipv6(text: String, bytes: [UInt8]) throws {
        let address = try #require(IPAddress(text))
        #expect(address.bytes == bytes)
        #expect(!address.isIPv4 && address.bitWidth == 128)
    }

    @Test("IPv6 prints per RFC 5952", arguments: [
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),  // leading zeros dropped, longest run compressed
        ("2001:DB8::1", "2001:db8::1"),                              // lower case
        ("0:0:0:0:0:0:0:0", "::"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("1:0:0:0:0:0:0:0", "1::"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),            // a single 0 group is not compressed
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),               // equal runs: the first one
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),                     // the longest run, not the first
        ("fe80:0:0:0:0:0:0:1", "fe80::1"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("::ffff:c0a8:10a", "::ffff:c0a8:10a"),                      // mapped IPv4 stays in hex
    ])
    func rfc5952(text: String, printed: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == printed)
        #expect(IPAddress(printed) == address)
    }

    @Test("IPv6 rejects malformed text", arguments: [
        "::1::2", ":::", "1:::2", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7::8", "::1:2:3:4:5:6:7:8",
        "12345::1", "g::1", ":1::", "1::2:", ":", "1:2:3:4:5:6:7:", "::ffff:1.2.3.4", "fe80::1%eth0", " ::1",
        "2001:db8::/64",
    ])
    func ipv6Rejects(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test("IPv6 rejects a sign in a group")
    func ipv6RejectsSigns() {
        #expect(IPAddress("+1::") == nil)
    }

    @Test("wraps 4 or 16 bytes only")
    func fromBytes() {
        #expect(IPAddress(bytes: [10, 0, 0, 1]) == .v4([10, 0, 0, 1]))
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 16))?.description == "::")
        for count in [0, 3, 5, 6, 15, 17] {
            #expect(IPAddress(bytes: [UInt8](repeating: 0, count: count)) == nil)
        }
    }
}

@Suite("IPPrefix")
struct IPPrefixTests {
    @Test("parses address/length; a bare address gets the full length")
    func parses() throws {
        let prefix = try #require(IPPrefix("192.168.1.10/24"))
        #expect(prefix.address == IPAddress("192.168.1.10"))
        #expect(prefix.length == 24)
        #expect(prefix.description == "192.168.1.10/24")
        #expect(IPPrefix("10.0.0.1")?.length == 32)
        #expect(IPPrefix("2001:db8::1")?.length == 128)
        #expect(IPPrefix("0.0.0.0/0")?.length == 0)
        #expect(IPPrefix("2001:db8::1/64")?.description == "2001:db8::1/64")
    }

    @Test("network() clears host bits", arguments: [
        ("192.168.1.10/24", "192.168.1.0"),
        ("10.255.255.255/9", "10.128.0.0"),
        ("10.1.2.3/8", "10.0.0.0"),
        ("172.16.5.4/32", "172.16.5.4"),
        ("203.0.113.77/0", "0.0.0.0"),
        ("192.168.1.10/31", "192.168.1.10"),
        ("192.168.1.11/31", "192.168.1.10"),
        ("2001:db8::1/64", "2001:db8::"),
        ("2001:db8:abcd:1234::1/36", "2001:db8:a000::"),
        ("fe80::1:2:3:4/10", "fe80::"),
        ("::1/128", "::1"),
        ("ffff::/0", "::"),
    ])
    func network(text: String, network: String) throws {
        let prefix = try #require(IPPrefix(text))
        #expect(prefix.network == IPAddress(network))
    }

    @Test("contains")
    func contains() throws {
        let lan = try #require(IPPrefix("192.168.1.10/24"))
        #expect(lan.contains(try #require(IPAddress("192.168.1.254"))))
        #expect(lan.contains(try #require(IPAddress("192.168.1.0"))))
        #expect(!lan.contains(try #require(IPAddress("192.168.2.1"))))
        #expect(!lan.contains(try #require(IPAddress("::ffff:c0a8:10a"))))  // other family
        let all = try #require(IPPrefix("0.0.0.0/0"))
        #expect(all.contains(try #require(IPAddress("8.8.8.8"))))
        let doc = try #require(IPPrefix("2001:db8::/32"))
        #expect(doc.contains(try #require(IPAddress("2001:db8:ffff::1"))))
        #expect(!doc.contains(try #require(IPAddress("2001:db9::1"))))
        #expect(!doc.contains(try #require(IPAddress("10.0.0.1"))))
        let host = try #require(IPPrefix("10.0.0.1/32"))
        #expect(host.contains(try #require(IPAddress("10.0.0.1"))))
        #expect(!host.contains(try #require(IPAddress("10.0.0.2"))))
    }

    @Test("rejects malformed text", arguments: [
        "1.2.3.4/33", "::1/129", "300.1.1.1", "300.1.1.1/24", "1.2.3", "1.2.3/24", "::1::2", "::1::2/64",
        "1.2.3.4/", "/24", "1.2.3.4/-1", "1.2.3.4/24/1", "1.2.3.4/a", "1.2.3.4/ 24", "1.2.3.4/1000000000000000000000", "",
    ])
    func rejects(text: String) {
        #expect(IPPrefix(text) == nil)
    }

    @Test("rejects a sign in the length")
    func rejectsSign() {
        #expect(IPPrefix("1.2.3.4/+24") == nil)
        #expect(IPPrefix("1.2.3.4/-0") == nil)
    }
}
