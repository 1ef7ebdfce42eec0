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

    /// QEMU runs its hooks as `qemu-ifup TAP` inside its own namespace, a form qnet runs
    /// without the argument parser (FastPath). Run that way (under `ip netns exec`), the
    /// hooks must do what the parsed commands do: the same kernel state (`ip -j`), the same
    /// output line, and for a bad target the same status and error line.
    @Test func qemusOwnHookFormDoesWhatTheParsedCommandDoes() throws {
        let ns = try TestNamespace("hookfast")
        #expect(try qnet(["bridge", "create", "br0", "--mtu", "1400", "--netns", ns.name]).status == 0)
        try ns.ip("tuntap", "add", "tap0", "mode", "tap")
        try ns.ip("link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
        let links = try HookLinks("hookfast")
        defer { links.remove() }
        let (ifup, ifdown) = (links.ifup, links.ifdown)
        var environment = ProcessInfo.processInfo.environment
        environment["QNET_BRIDGE"] = nil  // the default bridge, br0
        func inside(_ program: String, _ arguments: [String]) throws -> CommandResult {
            try run("ip", ["netns", "exec", ns.name, program] + arguments, environment: environment)
        }

        let up = try inside(ifup, ["tap0"])
        #expect(up.status == 0, "\(up.stderr)")
        #expect(up.stdout == "tap0: attached to br0, up\n")
        let attached = try #require(try ns.link("tap0"))
        #expect(attached["master"] as? String == "br0")
        #expect(attached["mtu"] as? Int == 1400)
        #expect((attached["flags"] as? [String])?.contains("UP") == true)
        #expect((attached["address"] as? String)?.hasPrefix("fe:") == true)

        let down = try inside(ifdown, ["tap0"])
        #expect(down.status == 0, "\(down.stderr)")
        #expect(down.stdout == "tap0: detached, down\n")
        let detached = try #require(try ns.link("tap0"))
        #expect(detached["master"] == nil)
        #expect((detached["flags"] as? [String])?.contains("UP") == false)

        // `qnet ifup TAP` by its own name takes the same path.
        let byName = try inside(try qnetExecutable(), ["ifup", "tap0"])
        #expect(byName.status == 0 && byName.stdout == "tap0: attached to br0, up\n", "\(byName.stderr)")
        #expect(try ns.link("tap0")?["master"] as? String == "br0")
        #expect(try inside(try qnetExecutable(), ["ifdown", "tap0"]).status == 0)

        // Errors: the same status and line as the parsed command (run with --netns).
        let before = try ns.stateSummary()
        for (hook, verb, target) in [(ifup, "ifup", "veth0"), (ifup, "ifup", "nope0"), (ifdown, "ifdown", "lo")] {
            let fast = try inside(hook, [target])
            let parsed = try qnet([verb, target, "--netns", ns.name], environment: environment)
            #expect(fast.status == 1 && parsed.status == 1, "\(verb) \(target): \(fast.stderr) / \(parsed.stderr)")
            #expect(fast.stderr == parsed.stderr && fast.stdout.isEmpty, "\(verb) \(target)")
        }
        #expect(try ns.stateSummary() == before)

        // Anything but `HOOK TAP` still goes through the parser: help, and a bad name.
        let help = try inside(ifup, ["--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: qnet ifup"), "\(help.stderr)")
        let badName = try inside(ifup, ["name/with/slashes"])
        #expect(badName.status == 2 && badName.stderr.contains("invalid interface name"), "\(badName.stderr)")
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
