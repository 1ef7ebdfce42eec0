import QNetTypes
import Testing

@Suite("IPAddress classes")
struct AddressClassTests {
    /// Each address with the classes it belongs to: m multicast, u unspecified,
    /// l loopback, k link-local, b limited broadcast.
    @Test("multicast, unspecified, loopback, link-local and broadcast", arguments: [
        ("224.0.0.1", "m"), ("224.0.0.0", "m"), ("239.255.255.255", "m"), ("223.255.255.255", ""), ("240.0.0.1", ""),
        ("0.0.0.0", "u"), ("0.0.0.1", ""),
        ("127.0.0.1", "l"), ("127.255.255.254", "l"), ("128.0.0.1", ""), ("126.255.255.255", ""),
        ("169.254.1.1", "k"), ("169.254.0.0", "k"), ("169.253.255.255", ""), ("169.255.0.1", ""),
        ("255.255.255.255", "b"), ("255.255.255.254", ""),
        ("192.168.1.10", ""), ("10.0.0.1", ""),
        ("ff02::1", "m"), ("ff00::", "m"), ("fe80::1", "k"), ("febf:ffff::1", "k"), ("fec0::1", ""), ("fe7f::1", ""),
        ("::", "u"), ("::1", "l"), ("::2", ""), ("1::1", ""), ("::ffff:7f00:1", ""), ("2001:db8::1", ""),
    ])
    func classes(text: String, classes: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.isMulticast == classes.contains("m"), "\(text) multicast")
        #expect(address.isUnspecified == classes.contains("u"), "\(text) unspecified")
        #expect(address.isLoopback == classes.contains("l"), "\(text) loopback")
        #expect(address.isLinkLocal == classes.contains("k"), "\(text) link-local")
        #expect(address.isLimitedBroadcast == classes.contains("b"), "\(text) broadcast")
    }

    @Test("malformed byte counts belong to no class and do not trap")
    func malformed() {
        for address in [IPAddress.v4([224]), .v4([]), .v6([0xff]), .v6([0xfe, 0x80]), .v4([255, 255, 255, 255, 255])] {
            #expect(!address.isMulticast && !address.isLoopback && !address.isLinkLocal && !address.isLimitedBroadcast)
        }
    }
}

@Suite("InterfaceName")
struct InterfaceNameTests {
    @Test("accepts 1 to 15 bytes the kernel allows", arguments: ["eth0", "a", "br-lan", "fifteen-bytes-x", "tap.1", "vnet_0", "é"])
    func accepts(name: String) {
        #expect(InterfaceName.problem(with: name) == nil)
    }

    @Test("rejects what dev_valid_name rejects", arguments: [
        "", "sixteen-bytes-xx", ".", "..", "a/b", "eth0:1", "a b", "a\tb", "a\nb", "a\u{7f}", "a\u{1}", "tap%d", "éééééééé",
    ])
    func rejects(name: String) {
        #expect(InterfaceName.problem(with: name) != nil)
    }

    @Test("a template takes exactly one %d, and only when allowed")
    func templates() {
        #expect(InterfaceName.maximumLength == 15)
        #expect(InterfaceName.problem(with: "tap%d", allowTemplate: true) == nil)
        #expect(InterfaceName.problem(with: "tap%d%d", allowTemplate: true) != nil)
        #expect(InterfaceName.problem(with: "tap%s", allowTemplate: true) != nil)
        #expect(InterfaceName.problem(with: "tap%d") != nil)
    }
}
