import Foundation
import QNetTestSupport
import Testing


@discardableResult
func qnet(_ arguments: [String], environment: [String: String]? = nil) throws -> CommandResult {
    try run(try qnetExecutable(), arguments, environment: environment)
}

/// `qemu-ifup` and `qemu-ifdown` symlinks to the built qnet in a folder of their own, as
/// QEMU's `script=` / `downscript=` name them; `remove()` deletes the folder.
struct HookLinks {
    let directory: URL
    var ifup: String { directory.appendingPathComponent("qemu-ifup").path }
    var ifdown: String { directory.appendingPathComponent("qemu-ifdown").path }

    init(_ label: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-\(label)-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for link in [ifup, ifdown] {
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: try qnetExecutable())
        }
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// The CLI end to end, as an admin runs it, checked with `ip -j` (tier 3).
@Suite(.serialized, Privileged.enabled)
struct CLIRoundTripTests {
    @Test func bridgeWithUplinkTapsShowAndDeleteRestoresTheUplink() throws {
        let hostBefore = try hostLinkNames()
        let ns = try TestNamespace("cli")
        try ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "lan0")
        try ns.ip("link", "set", "eth0", "up")
        try ns.ip("link", "set", "lan0", "up")
        try ns.ip("addr", "add", "192.168.1.10/24", "dev", "eth0")
        try ns.ip("route", "add", "default", "via", "192.168.1.254", "dev", "eth0", "metric", "100")
        let addressesBefore = try ns.ip("-o", "-4", "addr", "show", "dev", "eth0")
        let routesBefore = try ns.ip("route", "show")

        let create = try qnet(["--netns", ns.name, "bridge", "create", "br0", "--uplink", "eth0"])
        #expect(create.status == 0, "\(create.stderr)")
        #expect(create.stdout.contains("192.168.1.10/24"))
        #expect(try ns.json("route", "show", "default").first?["dev"] as? String == "br0")

        for name in ["tap0", "tap1", "tap2"] {
            let tap = try qnet(["tap", "create", name, "--bridge", "br0", "--vnet-hdr", "--netns", ns.name])
            #expect(tap.status == 0, "\(tap.stderr)")
        }
        // With STP off a port forwards as soon as it has carrier; a TAP nobody holds loses its
        // carrier when `tap create` exits, and the bridge disables the port once linkwatch
        // (batched, up to a second) reports it. Poll until every port's state is the one its
        // carrier (as `ip -j link` reports it) implies.
        func expectedState(_ line: Substring) throws -> String? {
            let words = line.split(separator: " ")
            guard let name = words.first(where: { ["eth0", "tap0", "tap1", "tap2"].contains(String($0)) }),
                  let link = try ns.link(String(name)) else { return nil }
            return (link["flags"] as? [String] ?? []).contains("LOWER_UP") ? "forwarding" : "disabled"
        }
        var show = try qnet(["show", "--netns", ns.name])
        _ = try waitUntil(timeout: 10, interval: 0.1) {
            show = try qnet(["show", "--netns", ns.name])
            return try show.stdout.split(separator: "\n").dropFirst().allSatisfy { line in
                try expectedState(line).map { line.contains($0) } ?? false
            }
        }
        #expect(show.status == 0)
        let lines = show.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("bridge name") == true)
        #expect(lines.count == 5)  // header + eth0 + 3 TAPs
        #expect(lines.dropFirst().first?.contains("forwarding") == true, "\(show.stdout)")  // eth0 has carrier
        #expect(try lines.dropFirst().allSatisfy { line in try expectedState(line).map { line.contains($0) } ?? false }, "\(show.stdout)")

        let json = try qnet(["show", "br0", "--json", "--netns", ns.name])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(report["schemaVersion"] as? Int == 1)
        let bridge = try #require((report["bridges"] as? [[String: Any]])?.first)
        #expect(bridge["name"] as? String == "br0")
        #expect(bridge["uplink"] as? String == "eth0")
        #expect(bridge["stp"] as? Bool == false)
        let ports = (bridge["ports"] as? [[String: Any]]) ?? []
        #expect(Set(ports.compactMap { $0["name"] as? String }) == ["eth0", "tap0", "tap1", "tap2"])
        // The witness agrees on every port's master, MTU and MAC.
        for port in ports {
            let name = try #require(port["name"] as? String)
            let link = try #require(try ns.link(name))
            #expect(link["master"] as? String == "br0")
            #expect(link["mtu"] as? Int == port["mtu"] as? Int)
            #expect(link["address"] as? String == port["mac"] as? String)
        }

        let list = try qnet(["tap", "list", "--json", "--netns", ns.name])
        let taps = try #require((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["taps"] as? [[String: Any]])
        #expect(taps.count == 3 && taps.allSatisfy { $0["persistent"] as? Bool == true && $0["vnetHeader"] as? Bool == true })

        #expect(try qnet(["tap", "delete", "tap2", "--netns", ns.name]).status == 0)
        #expect(try ns.link("tap2") == nil)

        let delete = try qnet(["bridge", "delete", "br0", "--netns", ns.name])
        #expect(delete.status == 0, "\(delete.stderr)")
        #expect(try ns.link("br0") == nil)
        #expect(try ns.ip("-o", "-4", "addr", "show", "dev", "eth0") == addressesBefore)
        #expect(try ns.ip("route", "show") == routesBefore)
        #expect(try hostLinkNames() == hostBefore)
    }

    /// qnet never runs ip, brctl, tunctl, ifconfig or bridge: tracing execve sees only qnet.
    @Test func qnetExecutesNoOtherProgram() throws {
        let ns = try TestNamespace("exec")
        try ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "lan0")
        try ns.ip("addr", "add", "192.168.1.10/24", "dev", "eth0")
        let binary = try qnetExecutable()
        let trace = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-exec-\(getpid()).trace").path
        defer { try? FileManager.default.removeItem(atPath: trace) }
        let commands: [[String]] = [
            ["bridge", "create", "br0", "--uplink", "eth0", "--stp", "on", "--forward-delay", "2"],
            ["tap", "create", "tap0", "--bridge", "br0"],
            ["bridge", "set", "br0", "--stp", "off"],
            ["show"], ["tap", "list"],
            ["ifdown", "tap0"], ["ifup", "tap0", "--bridge", "br0"],
            ["tap", "delete", "tap0"], ["bridge", "delete", "br0"],
        ]
        for command in commands {
            let result = try run("strace", ["-f", "-qq", "-e", "trace=execve,execveat", "-o", trace, binary] + command + ["--netns", ns.name])
            #expect(result.status == 0, "\(command): \(result.stderr)")
            let execs = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").filter { $0.contains("execve") }
            #expect(execs.count == 1, "\(command) executed: \(execs)")
            #expect(execs.first?.contains(binary) == true)
        }
    }

    @Test func failedOperationsExitOneAndLeaveNothing() throws {
        let ns = try TestNamespace("clibad")
        try ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "lan0")
        #expect(try qnet(["bridge", "create", "br0", "--netns", ns.name]).status == 0)
        #expect(try qnet(["bridge", "create", "br1", "--netns", ns.name]).status == 0)
        #expect(try qnet(["bridge", "attach", "br1", "eth0", "--netns", ns.name]).status == 0)
        let before = try ns.stateSummary()
        let addressesBefore = try ns.ip("-o", "addr", "show")

        let cases: [([String], Int32, String)] = [
            (["bridge", "attach", "br0", "nope0"], 1, "no interface named 'nope0'"),
            (["bridge", "attach", "br0", "br0"], 1, "cannot attach bridge 'br0' to itself"),
            (["bridge", "attach", "br0", "eth0"], 1, "'eth0' already belongs to 'br1'"),
            (["bridge", "attach", "br0", "br1"], 1, "br1"),
            (["bridge", "create", "br0"], 1, "'br0' already exists"),
            (["bridge", "create", "br2", "--uplink", "nope0"], 1, "no interface named 'nope0'"),
            (["bridge", "create", "br2", "--uplink", "eth0"], 1, "'eth0' already belongs to 'br1'"),
            (["bridge", "create", "br2", "--stp", "on", "--forward-delay", "1"], 2, "invalid forward delay '1'"),
            (["bridge", "delete", "lan0"], 1, "'lan0' is not a bridge"),
            (["tap", "create", "lan0"], 1, "'lan0' already exists"),
            (["tap", "create", "t0", "--bridge", "lan0"], 1, "'lan0' is not a bridge"),
            (["tap", "create", "t0", "--owner", "no-such-user-x"], 2, "unknown user 'no-such-user-x'"),
            (["tap", "delete", "lan0"], 2, "not a TAP"),
            (["show", "lan0"], 1, "'lan0' is not a bridge"),
            (["ifup", "nope0"], 1, "no interface named 'nope0'"),
            (["bridge", "create", "br2", "--address", "10.0.0.1/24", "--address", "10.0.0.1/24"], 2, "10.0.0.1/24"),
        ]
        for (arguments, status, message) in cases {
            let result = try qnet(arguments + ["--netns", ns.name])
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stdout.isEmpty, "\(arguments)")
        }
        #expect(try ns.stateSummary() == before)
        #expect(try ns.ip("-o", "addr", "show") == addressesBefore)

        let missing = try qnet(["show", "--netns", "qnet-no-such-ns"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("network namespace 'qnet-no-such-ns' does not exist"))
    }

    /// The qemu-ifup / qemu-ifdown hooks, through symlinks, with the bridge from the
    /// environment — what QEMU runs for `-netdev tap,script=...,downscript=...`.
    @Test func qemuHooksAttachAndDetachWithoutSleeping() throws {
        let ns = try TestNamespace("hook")
        #expect(try qnet(["bridge", "create", "br7", "--mtu", "1400", "--netns", ns.name]).status == 0)
        try ns.ip("tuntap", "add", "tap0", "mode", "tap")
        let links = try HookLinks("hooks")
        defer { links.remove() }
        let (ifup, ifdown) = (links.ifup, links.ifdown)
        var environment = ProcessInfo.processInfo.environment
        environment["QNET_BRIDGE"] = "br7"

        // (The recipe's script sleeps 0.5 s; qnet's start-up and attach are timed in
        // BENCHMARKS.md (a), "qnet --netns NS tap create nic0 --bridge br0".)
        let up = try run(ifup, ["--netns", ns.name, "tap0"], environment: environment)
        #expect(up.status == 0, "\(up.stderr)")
        let link = try #require(try ns.link("tap0"))
        #expect(link["master"] as? String == "br7")
        #expect(link["mtu"] as? Int == 1400)
        #expect((link["flags"] as? [String])?.contains("UP") == true)
        #expect((link["address"] as? String)?.hasPrefix("fe:") == true)

        let down = try run(ifdown, ["--netns", ns.name, "tap0"], environment: environment)
        #expect(down.status == 0, "\(down.stderr)")
        let after = try #require(try ns.link("tap0"))
        #expect(after["master"] == nil)
        #expect((after["flags"] as? [String])?.contains("UP") == false)

        // Without --bridge or QNET_BRIDGE the hook uses br0, which does not exist here.
        var plain = ProcessInfo.processInfo.environment
        plain["QNET_BRIDGE"] = nil
        let fallback = try run(ifup, ["--netns", ns.name, "tap0"], environment: plain)
        #expect(fallback.status == 1 && fallback.stderr.contains("'br0'"))
    }
}
