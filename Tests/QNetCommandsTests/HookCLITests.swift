import Foundation
import QNetTestSupport
import Testing

/// `qnet ifup` / `qnet ifdown` pointed at things that are not TAPs: each must fail with
/// exit status 1, one line naming the device's kind, and leave every interface as it was
/// (checked through `ip`, tier 3).
@Suite(.serialized, Privileged.enabled)
struct HookCLITests {
    @Test func hooksRefuseEverythingButTAPsAndChangeNothing() throws {
        let ns = try TestNamespace("hookcli")
        #expect(try qnet(["bridge", "create", "br0", "--mtu", "1400", "--netns", ns.name]).status == 0)
        try ns.ip("link", "add", "veth0", "mtu", "1500", "type", "veth", "peer", "name", "veth1")
        try ns.ip("link", "set", "veth0", "address", "02:00:00:00:00:02")
        let bridgeMAC = try #require(try ns.link("br0")?["address"] as? String)
        let before = try ns.stateSummary()

        let cases: [([String], String)] = [
            // Used to exit 1 after rewriting br0's pinned MAC.
            (["ifup", "br0", "--bridge", "br0"], "'br0' is a bridge device, not a TAP"),
            // Used to exit 0 after giving veth0 an fe: MAC and br0's MTU and attaching it.
            (["ifup", "veth0", "--bridge", "br0"], "'veth0' is a veth device, not a TAP"),
            (["ifdown", "veth0"], "'veth0' is a veth device, not a TAP"),
            // Used to exit 0 after taking loopback down.
            (["ifdown", "lo"], "'lo' is a device without a link kind"),
        ]
        for (arguments, message) in cases {
            let result = try qnet(arguments + ["--netns", ns.name])
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stdout.isEmpty, "\(arguments)")
        }
        #expect(try ns.stateSummary() == before)
        #expect(try ns.link("br0")?["address"] as? String == bridgeMAC)
        #expect(try ns.link("veth0")?["address"] as? String == "02:00:00:00:00:02")
        #expect(try ns.link("veth0")?["mtu"] as? Int == 1500)
        #expect(try ns.link("veth0")?["master"] == nil)
        #expect((try ns.link("lo")?["flags"] as? [String])?.contains("UP") == true)
    }

    /// `qnet bridge set br0 --stp off --forward-delay 0` on a bridge running STP (it used
    /// to fail with ERANGE).
    @Test func stpOffWithZeroForwardDelay() throws {
        let ns = try TestNamespace("stpcli")
        #expect(try qnet(["bridge", "create", "br0", "--stp", "on", "--forward-delay", "4", "--netns", ns.name]).status == 0)
        let result = try qnet(["bridge", "set", "br0", "--stp", "off", "--forward-delay", "0", "--netns", ns.name])
        #expect(result.status == 0, "\(result.stderr)")
        let info = try #require(((try ns.link("br0"))?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        #expect(info["stp_state"] as? Int == 0)
        #expect(info["forward_delay"] as? Int == 0)
    }
}
