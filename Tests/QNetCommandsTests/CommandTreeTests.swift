import Foundation
import ArgumentParser
import HostNetwork
@testable import QNetCommands
import QNetTypes
import VirtualMachines
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

    /// Every leaf of the command tree (read from the tree, so new verbs are covered without
    /// editing this list) is reached by its path: `qnet NOUN VERB --help` prints that verb's help.
    @Test func everyVerbIsReachable() throws {
        func leaves(_ command: ParsableCommand.Type, path: [String]) -> [([String], ParsableCommand.Type)] {
            let children = command.configuration.subcommands
            if children.isEmpty { return [(path, command)] }
            return children.flatMap { leaves($0, path: path + [$0._commandName]) }
        }
        let verbs = leaves(QNet.self, path: [])
        // The tree walk itself is checked: these nouns and verbs must be among what it found.
        let paths = Set(verbs.map { $0.0.joined(separator: " ") })
        for expected in ["vm run", "vm stop", "net create", "net lease add", "disk info", "probe", "guest build", "demo", "doctor", "recover",
                         "bridge create", "tap list", "show", "ifup", "ifdown"] {
            #expect(paths.contains(expected), "\(expected) not in \(paths.sorted())")
        }
        for (path, command) in verbs {
            do {
                // ArgumentParser answers --help with a help command whose run() throws the request.
                var help = try QNet.parseAsRoot(path + ["--help"])
                try help.run()
                Issue.record("\(path) --help did not ask for help")
            } catch {
                #expect(QNet.exitCode(for: error) == .success, "\(path): \(error)")
                #expect(QNet.fullMessage(for: error) == QNet.helpMessage(for: command), "\(path) reached another command")
            }
        }
    }

    /// Typical argument lists parse into their verb (arguments and options included).
    @Test func typicalArgumentsParseIntoTheirVerb() throws {
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

    /// vm run only parses: its options become overrides that VirtualMachines lays over the file.
    @Test func vmRunOptionsBecomeOverrides() throws {
        let run = try #require(try QNet.parseAsRoot(["vm", "run", "web", "-f", "vm.yaml", "--memory", "2G", "--cpus", "2",
                                                     "--nic", "network=lab", "--nic", "bridge=br0", "--accel", "tcg", "--", "-usb"]) as? VMRun)
        #expect(run.file == "vm.yaml")
        #expect(run.overrides == VMOverrides(name: "web", memory: 2048, cpus: 2, nics: ["network=lab", "bridge=br0"], accel: .tcg,
                                             extraArguments: ["-usb"]))
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
        (["vm", "run", "x", "--cpus", "-1"], "invalid CPU count '-1'"),
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

    /// Values refused by the parser itself, before any command runs (a regression here must not
    /// reach the host's network).
    @Test(arguments: [
        // Negative numbers are values out of range, not options (ArgumentParser read "-1" as one).
        (["bridge", "create", "br0", "--mtu", "-1"], "invalid MTU '-1': out of range; use 68 to 65535"),
        (["tap", "create", "tap0", "--mtu", "-1"], "invalid MTU '-1': out of range"),
        (["bridge", "create", "br0", "--forward-delay", "-1"], "invalid time '-1': out of range"),
        (["bridge", "create", "br0", "--priority", "-1"], "invalid bridge priority '-1': out of range; use 0 to 65535"),
        (["bridge", "create", "br0", "--priority", "65536"], "invalid bridge priority '65536': out of range"),
        (["bridge", "attach", "br0", "eth0", "--cost", "-1"], "invalid port cost '-1': out of range; use 1 to 65535"),
        (["bridge", "set-port", "eth0", "--port-priority", "-5"], "invalid port priority '-5': out of range; use 0 to 63"),
        (["tap", "create", "tap0", "--queues", "-1"], "invalid queue count '-1'"),
        (["vm", "run", "x", "--memory", "-1"], "invalid memory size '-1': out of range"),
        (["vm", "stop", "x", "--timeout", "-1"], "invalid time '-1': out of range"),
        (["probe", "br0", "--timeout", "-1"], "invalid time '-1': out of range"),
        (["net", "create", "n", "--mode", "nat", "--lease-time", "-1"], "invalid lease time '-1'"),
        // Interface addresses: unicast hosts with a prefix that makes sense.
        (["bridge", "create", "br0", "--address", "224.0.0.1/4"], "224.0.0.1 is a multicast address"),
        (["bridge", "create", "br0", "--address", "ff02::1/64"], "ff02::1 is a multicast address"),
        (["bridge", "create", "br0", "--address", "0.0.0.0/8"], "0.0.0.0 is the unspecified address"),
        (["bridge", "create", "br0", "--address", "::/64"], ":: is the unspecified address"),
        (["bridge", "create", "br0", "--address", "255.255.255.255/32"], "255.255.255.255 is the broadcast address"),
        (["bridge", "create", "br0", "--address", "192.168.1.255/24"],
         "192.168.1.255 is the broadcast address of 192.168.1.0/24; use a host address from 192.168.1.1 to 192.168.1.254"),
        (["bridge", "create", "br0", "--address", "192.168.1.0/24"], "192.168.1.0 is the network address of 192.168.1.0/24"),
        (["bridge", "create", "br0", "--address", "10.0.0.1/0"], "invalid address '10.0.0.1/0': a /0 prefix"),
        (["probe", "br0", "--address", "224.0.0.1/24"], "224.0.0.1 is a multicast address"),
    ])
    func refusedWhileParsing(arguments: [String], expected: String) throws {
        do {
            _ = try QNet.parseAsRoot(arguments)
            Issue.record("\(arguments) was accepted")
        } catch {
            #expect(ErrorReporting.exitCode(for: error) == 2, "\(arguments)")
            let message = ErrorReporting.message(for: error)
            #expect(message.contains(expected), "\(arguments): \(message)")
        }
    }

    /// Point-to-point and host prefixes have no network or broadcast address to refuse.
    @Test func interfaceAddressesThatAreValid() throws {
        for text in ["192.168.1.10/24", "10.0.0.0/31", "10.0.0.1/31", "192.168.1.255/32", "2001:db8::/64", "2001:db8::1/128", "fe80::1/64"] {
            #expect(try Parse.interfaceAddress(text) == IPPrefix(text)!, "\(text)")
        }
    }

    @Test func leadingGlobalOptionsMoveBehindTheSubcommand() {
        #expect(Entry.moveLeadingGlobalOptions(["--netns", "lab", "show", "br0"]) == ["show", "br0", "--netns", "lab"])
        #expect(Entry.moveLeadingGlobalOptions(["--netns=lab", "show"]) == ["show", "--netns=lab"])
        #expect(Entry.moveLeadingGlobalOptions(["show", "--netns", "lab"]) == ["show", "--netns", "lab"])
        #expect(Entry.moveLeadingGlobalOptions(["--netns", "lab", "vm", "run", "x", "--", "-S"]) == ["vm", "run", "x", "--netns", "lab", "--", "-S"])
    }

    /// `vm status` and `net show` print a library value with the schema version added.
    @Test func versionedReportAddsTheSchemaVersion() throws {
        struct Sample: Encodable { var name = "lab"; var active = true }
        let text = try Output.json(VersionedReport(report: Sample()))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["schemaVersion"] as? Int == 1 && object["name"] as? String == "lab" && object["active"] as? Bool == true)
        #expect(object.count == 3)
    }

    /// Columns padded to the widest cell (counted in Characters) plus two spaces; the last
    /// cell of a line is not padded; a short row ends early.
    @Test func tableAlignsColumns() {
        let text = Table.render(header: ["name", "kind", "mtu"], rows: [["tap0", "tun", "1500"], ["brücke0", "bridge", "9000"], ["x"]])
        #expect(text == """
            name     kind    mtu
            tap0     tun     1500
            brücke0  bridge  9000
            x

            """)
    }

    @Test func showTableHasBrctlColumns() {
        let table = Show.table([])
        #expect(table.hasPrefix("bridge name  bridge id  STP enabled  interfaces"))
    }
}
