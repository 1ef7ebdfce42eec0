import ArgumentParser
import HostNetwork
import NetlinkWire
@testable import QNetCommands
import Testing

/// The command tree parses into typed values without running anything (tier 1).
struct CommandTreeTests {
    @Test func bridgeCreateParsesEveryOption() throws {
        let command = try QNet.parseAsRoot([
            "bridge", "create", "br0", "--stp", "on", "--forward-delay", "4", "--hello-time", "2", "--max-age", "12",
            "--ageing-time", "30", "--priority", "100", "--vlan-filtering", "off", "--uplink", "eth0",
            "--address", "192.168.1.10/24", "--address", "2001:db8::1/64", "--mtu", "9000", "--netns", "lab",
        ])
        let create = try #require(command as? BridgeCreate)
        #expect(create.name == "br0")
        #expect(create.bridge.options == BridgeOptions(stp: true, forwardDelay: 4, helloTime: 2, maxAge: 12, ageingTime: 30,
                                                       priority: 100, vlanFiltering: false))
        #expect(create.uplink == "eth0")
        #expect(create.addresses == [IPPrefix("192.168.1.10/24")!, IPPrefix("2001:db8::1/64")!])
        #expect(create.mtu == 9000)
        #expect(create.global.netns == "lab")
    }

    @Test func everyVerbIsReachable() throws {
        let cases: [([String], ParsableCommand.Type)] = [
            (["bridge", "delete", "br0"], BridgeDelete.self),
            (["bridge", "set", "br0", "--stp", "off"], BridgeSet.self),
            (["bridge", "attach", "br0", "eth0"], BridgeAttach.self),
            (["bridge", "detach", "br0", "eth0"], BridgeDetach.self),
            (["bridge", "set-port", "tap0", "--cost", "10"], BridgeSetPort.self),
            (["tap", "create", "tap%d", "--bridge", "br0", "--owner", "root", "--group", "0", "--vnet-hdr", "--queues", "4"], TapCreate.self),
            (["tap", "delete", "tap0"], TapDelete.self),
            (["tap", "list", "--json"], TapList.self),
            (["show"], Show.self),
            (["show", "br0", "--json"], Show.self),
            (["ifup", "tap0"], Ifup.self),
            (["ifdown", "tap0", "--bridge", "br1"], Ifdown.self),
        ]
        for (arguments, expected) in cases {
            let command = try QNet.parseAsRoot(arguments)
            #expect(type(of: command) == expected, "\(arguments)")
        }
    }

    @Test func tapCreateOptions() throws {
        let tap = try #require(try QNet.parseAsRoot(["tap", "create", "vm%d", "--bridge", "br0", "--vnet-hdr", "--queues", "4"]) as? TapCreate)
        #expect(tap.name == "vm%d" && tap.bridge == "br0" && tap.vnetHdr && tap.queues == 4)
    }

    /// Bad input is a usage error (exit 2) whose one line names the value and what is allowed.
    @Test(arguments: [
        (["bridge", "create", "br0/x"], "invalid interface name 'br0/x'"),
        (["bridge", "create", "a-name-that-is-too-long"], "invalid interface name 'a-name-that-is-too-long'"),
        (["bridge", "create", "br0", "--stp", "maybe"], "maybe"),
        (["bridge", "create", "br0", "--forward-delay=-1"], "invalid time '-1'"),
        (["bridge", "create", "br0", "--mtu", "10"], "invalid MTU '10'"),
        (["bridge", "create", "br0", "--address", "192.168.1.300/24"], "invalid address '192.168.1.300/24'"),
        (["bridge", "create", "br0", "--address", "10.0.0.1"], "invalid address '10.0.0.1'"),
        (["bridge", "create", "br0", "--uplink", "eth 0"], "invalid interface name 'eth 0'"),
        (["tap", "create", "tap0", "--queues", "0"], "invalid queue count '0'"),
        (["tap", "create", "tap0", "--queues", "257"], "invalid queue count '257'"),
        (["bridge", "attach", "br0"], "Missing expected argument"),
        (["bridge", "set", "br0"], "nothing to change"),
        (["show", "--netns", "../etc"], "invalid network namespace name"),
        (["frobnicate"], "frobnicate"),
    ])
    func badInputIsAUsageError(arguments: [String], expected: String) throws {
        do {
            var command = try QNet.parseAsRoot(arguments)
            // Some checks happen in run() before any host access (nothing to change).
            try command.run()
            Issue.record("\(arguments) was accepted")
        } catch {
            #expect(ErrorReporting.exitCode(for: error) == 2, "\(arguments)")
            let message = ErrorReporting.message(for: error)
            #expect(message.contains(expected), "\(arguments): \(message)")
        }
    }

    @Test func leadingGlobalOptionsMoveBehindTheSubcommand() {
        #expect(Entry.moveLeadingGlobalOptions(["--netns", "lab", "show", "br0"]) == ["show", "br0", "--netns", "lab"])
        #expect(Entry.moveLeadingGlobalOptions(["--netns=lab", "show"]) == ["show", "--netns=lab"])
        #expect(Entry.moveLeadingGlobalOptions(["show", "--netns", "lab"]) == ["show", "--netns", "lab"])
        #expect(Entry.moveLeadingGlobalOptions(["--netns", "lab", "vm", "run", "x", "--", "-S"]) == ["vm", "run", "x", "--netns", "lab", "--", "-S"])
    }

    @Test func showTableHasBrctlColumns() {
        let table = Show.table([])
        #expect(table.hasPrefix("bridge name  bridge id  STP enabled  interfaces"))
    }

    @Test func interfaceNameRules() {
        #expect(InterfaceName.problem(with: "eth0") == nil)
        #expect(InterfaceName.problem(with: "fifteen-bytes-x") == nil)
        #expect(InterfaceName.problem(with: "sixteen-bytes-xx") != nil)
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "a\tb", "tap%d"] {
            #expect(InterfaceName.problem(with: bad) != nil, "\(bad)")
        }
        #expect(InterfaceName.problem(with: "tap%d", allowTemplate: true) == nil)
        #expect(InterfaceName.problem(with: "tap%d%d", allowTemplate: true) != nil)
        #expect(InterfaceName.problem(with: "tap%s", allowTemplate: true) != nil)
    }
}
