import Foundation
import QNetTestSupport
import Testing

/// `qnet apply` in namespaces, checked with `ip -j` (and strace for "no changing request"):
/// plan, idempotence, a simulated reboot, --prune, --try with and without confirmation
/// (also when the qnet that started the try is SIGKILLed), and refusing a DHCP uplink.
@Suite(Privileged.enabled)
struct ApplyTests {
    /// A host namespace whose eth0 (192.168.100.10/24, default route via .1) is a veth to a
    /// LAN namespace holding the gateway; a state directory whose etc/ is CONFIG_DIR.
    final class Lab: @unchecked Sendable {
        let host: TestNamespace
        let lan: TestNamespace
        let stateDirectory: String

        init(_ label: String, dhcpLifetime: Int? = nil) throws {
            host = try TestNamespace(label)
            lan = try TestNamespace(label + "l")
            stateDirectory = NSTemporaryDirectory() + "qnet-apply-\(getpid())-\(label)"
            try? FileManager.default.removeItem(atPath: stateDirectory)
            try host.ip("link", "add", "eth0", "type", "veth", "peer", "name", "lan0", "netns", lan.name)
            try lan.ip("addr", "add", "192.168.100.1/24", "dev", "lan0")
            try lan.ip("link", "set", "lan0", "up")
            try host.ip("link", "set", "eth0", "up")
            try bootAddress(lifetime: dhcpLifetime)
        }

        deinit {
            host.remove()
            lan.remove()
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }

        /// eth0's address and default route as the distribution's own boot gives them.
        func bootAddress(lifetime: Int? = nil) throws {
            try host.ip(["addr", "add", "192.168.100.10/24", "dev", "eth0"] + (lifetime.map { ["valid_lft", "\($0)", "preferred_lft", "\($0)"] } ?? []))
            try host.ip("route", "add", "default", "via", "192.168.100.1", "dev", "eth0")
        }

        func write(_ path: String, _ text: String) throws {
            let full = stateDirectory + "/etc/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }

        var common: [String] { ["--netns", host.name, "--state-dir", stateDirectory] }

        func qnet(_ arguments: [String]) throws -> CommandResult { try QNetCommandsTests.qnet(arguments + common) }

        var state: String { get throws { try host.normalizedState() } }

        /// `ip -d -j link show NAME`'s object.
        func details(_ name: String) throws -> [String: Any]? { (try? host.json("-d", "link", "show", "dev", name))?.first }

        func master(_ name: String) throws -> String? { try details(name)?["master"] as? String }

        func addresses(_ name: String) throws -> [String] {
            let info = try host.json("-4", "addr", "show", "dev", name).first?["addr_info"] as? [[String: Any]] ?? []
            return info.compactMap { entry in (entry["local"] as? String).map { "\($0)/\(entry["prefixlen"] as? Int ?? -1)" } }
        }

        func gatewayAnswers() throws -> Bool {
            try waitUntil(timeout: 5, interval: 0.05) { try host.exec("ping", ["-c", "1", "-W", "1", "192.168.100.1"]).status == 0 }
        }

        var journals: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: stateDirectory + "/run/journal")) ?? []).filter { $0.hasSuffix(".journal") }
        }

        /// Watchdogs (`qnet apply --watchdog`) of this lab still running.
        var watchdogs: [Int32] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> Int32? in
                guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
                let words = String(decoding: data, as: UTF8.self).split(separator: "\0").map(String.init)
                return words.contains("--watchdog") && words.contains(stateDirectory) ? pid : nil
            }
        }

        /// Starts `qnet apply ARGS` without waiting (stdin /dev/null: no Enter).
        func start(_ arguments: [String]) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try qnetExecutable())
            process.arguments = ["apply"] + arguments + common
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
    }

    static let seedBridge = """
        # the seed's ifcfg-br0 + ifcfg-eth0, as `qnet import ifcfg` writes them
        name: br0
        stp: true
        forward_delay: 2
        uplink: eth0
        addresses:
        - 192.168.100.10/24
        routes:
        - to: default
          via: 192.168.100.1
        """

    @Test func planApplyIdempotenceRebootAndPrune() throws {
        let lab = try Lab("apl")
        try lab.write("bridges/br0.yaml", Self.seedBridge)
        try lab.write("bridges/br1.yaml", "mtu: 1400\nmac: \"52:54:00:00:00:b1\"\naddresses: [10.9.0.1/24]\nroutes:\n  - to: 10.99.0.0/16\n    via: 10.9.0.254\n")
        try lab.write("taps/tap0.yaml", "bridge: br1\nvnet_hdr: true\n")
        let before = try lab.state

        let dryRun = try lab.qnet(["apply", "--dry-run"])
        #expect(dryRun.status == 0, "\(dryRun.stderr)")
        #expect(dryRun.stdout.contains("qnet would make 3 changes"), "\(dryRun.stdout)")
        #expect(dryRun.stdout.contains("+ create bridge br0: uplink eth0"))
        #expect(try lab.state == before, "--dry-run changed nothing")

        let apply = try lab.qnet(["apply"])
        #expect(apply.status == 0, "\(apply.stderr)")
        try expectApplied(lab)

        // A second apply: nothing to do, and no request that changes anything (strace
        // decodes every netlink message qnet sends: only RTM_GET* may appear).
        let trace = lab.stateDirectory + "/second.trace"
        let second = try run("strace", ["-f", "-qq", "-o", trace, "-e", "trace=sendto,sendmsg", "-s", "64", try qnetExecutable(), "apply"] + lab.common)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("nothing to do"), "\(second.stdout)")
        let sent = try String(contentsOfFile: trace, encoding: .utf8)
        let types = Self.netlinkTypes(sent)
        #expect(types.count >= 3, "strace showed the netlink requests: \(sent.prefix(400))")
        let changing = types.filter { !Self.isGet($0) }
        #expect(changing.isEmpty, "the second apply sent changing requests: \(changing)")

        // "Reboot": the links are gone, eth0 has its boot address again, /run is empty.
        for link in ["tap0", "br1", "br0"] { try lab.host.ip("link", "delete", link) }
        try lab.bootAddress()
        try FileManager.default.removeItem(atPath: lab.stateDirectory + "/run")
        let boot = try lab.qnet(["apply", "--boot"])
        #expect(boot.status == 0, "\(boot.stderr)")
        try expectApplied(lab)

        // --prune removes what qnet made and is no longer declared.
        try FileManager.default.removeItem(atPath: lab.stateDirectory + "/etc/taps/tap0.yaml")
        let prune = try lab.qnet(["apply", "--prune"])
        #expect(prune.status == 0, "\(prune.stderr)")
        #expect(prune.stdout.contains("- delete TAP tap0"), "\(prune.stdout)")
        #expect(try lab.details("tap0") == nil)
        #expect(try lab.master("eth0") == "br0", "a declared bridge stays")
    }

    /// Every nlmsg_type strace printed (a name such as RTM_GETLINK, or a number when it
    /// does not decode the protocol).
    static func netlinkTypes(_ trace: String) -> [String] {
        trace.components(separatedBy: "nlmsg_type=").dropFirst().map { String($0.prefix { $0 != "," && $0 != " " }) }
    }

    /// rtnetlink requests are RTM_NEW* (16 + 4k), RTM_DEL*, RTM_GET* (18 + 4k) and RTM_SET*;
    /// only GETs read without changing anything.
    static func isGet(_ type: String) -> Bool {
        if type.hasPrefix("RTM_") { return type.hasPrefix("RTM_GET") }
        let number = type.hasPrefix("0x") ? Int(type.dropFirst(2), radix: 16) : Int(type)
        guard let number else { return false }
        return number >= 16 && number % 4 == 2
    }

    func expectApplied(_ lab: Lab, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try lab.master("eth0") == "br0", sourceLocation: sourceLocation)
        #expect(try lab.addresses("br0") == ["192.168.100.10/24"], sourceLocation: sourceLocation)
        #expect(try lab.addresses("eth0") == [], sourceLocation: sourceLocation)
        let data = (try lab.details("br0")?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any]
        #expect(data?["stp_state"] as? Int == 1, sourceLocation: sourceLocation)
        #expect(data?["forward_delay"] as? Int == 200, sourceLocation: sourceLocation)
        #expect(try lab.details("br1")?["mtu"] as? Int == 1400, sourceLocation: sourceLocation)
        #expect(try lab.details("br1")?["address"] as? String == "52:54:00:00:00:b1", sourceLocation: sourceLocation)
        #expect(try lab.addresses("br1") == ["10.9.0.1/24"], sourceLocation: sourceLocation)
        #expect(try lab.master("tap0") == "br1", sourceLocation: sourceLocation)
        let routes = try lab.host.ip("route", "show")
        #expect(routes.contains("default via 192.168.100.1 dev br0"), "\(routes)", sourceLocation: sourceLocation)
        #expect(routes.contains("10.99.0.0/16 via 10.9.0.254 dev br1"), "\(routes)", sourceLocation: sourceLocation)
        #expect(try lab.gatewayAnswers(), sourceLocation: sourceLocation)
    }

    /// Byte for byte: `ip -j link`, `ip -j addr` and `ip -j route show table all` print the
    /// same after the rollback as before (`exactState`: objects and lists in ip's order).
    @Test func tryWithoutConfirmationRollsBackExactly() throws {
        let lab = try Lab("try")
        try lab.write("bridges/br0.yaml", Self.seedBridge)
        let before = try lab.host.exactState()
        let tried = try lab.qnet(["apply", "--try", "--timeout", "3"])
        #expect(tried.status == 1, "\(tried.stdout) \(tried.stderr)")
        #expect(tried.stderr.contains("not confirmed within 3 s"), "\(tried.stderr)")
        let after = try lab.host.exactState()
        #expect(after == before, "after:\n\(after)\nbefore:\n\(before)")
        #expect(lab.journals.isEmpty)
        #expect(try lab.gatewayAnswers())
    }

    /// In-place changes to an existing bridge (STP and timer, MTU, addresses, a route) are
    /// rolled back too: its `ip -d -j link` and addresses are as before.
    @Test func tryRollsBackInPlaceChanges() throws {
        let lab = try Lab("tryi")
        try lab.host.ip("link", "add", "br1", "address", "52:54:00:00:0e:02", "type", "bridge")
        try lab.host.ip("link", "set", "br1", "up")
        try lab.host.ip("addr", "add", "10.9.0.1/24", "dev", "br1")
        try lab.write("bridges/br1.yaml", "stp: true\nforward_delay: 3\nmtu: 1400\naddresses: [10.9.0.2/24]\nroutes:\n  - to: 10.99.0.0/16\n    via: 10.9.0.254\n")
        func bridgeState() throws -> String {
            var link = try #require(try lab.details("br1"))
            for key in ["operstate", "flags"] { link.removeValue(forKey: key) }
            if var info = link["linkinfo"] as? [String: Any], var data = info["info_data"] as? [String: Any] {
                // Timers that count down by themselves.
                for key in ["hello_timer", "tcn_timer", "topology_change_timer", "gc_timer"] { data.removeValue(forKey: key) }
                info["info_data"] = data
                link["linkinfo"] = info
            }
            return String(decoding: try JSONSerialization.data(withJSONObject: link, options: [.sortedKeys]), as: UTF8.self)
        }
        let before = try lab.host.exactState()
        let bridgeBefore = try bridgeState()
        let tried = try lab.qnet(["apply", "--try", "--timeout", "2"])
        #expect(tried.status == 1, "\(tried.stdout) \(tried.stderr)")
        #expect(tried.stdout.contains("~ br1: stp off → on"), "\(tried.stdout)")
        #expect(try lab.host.exactState() == before)
        #expect(try bridgeState() == bridgeBefore)
        #expect(lab.journals.isEmpty)
    }

    /// The uplink the crash-safety tests use (`UplinkNamespaces`: a secondary address, IPv6,
    /// routes with metrics and RTA_METRICS, a multipath route, policy-routing table 100),
    /// moved whole (`addresses: keep`) by a try that is not confirmed: ip -j prints the
    /// same bytes afterwards.
    @Test func tryRollsBackARichUplinkByteForByte() throws {
        let namespaces = try UplinkNamespaces("tryx")
        defer { namespaces.remove() }
        let stateDirectory = NSTemporaryDirectory() + "qnet-apply-\(getpid())-tryx"
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
        try FileManager.default.createDirectory(atPath: stateDirectory + "/etc/bridges", withIntermediateDirectories: true)
        try "uplink: eth0\naddresses: keep\n".write(toFile: stateDirectory + "/etc/bridges/br0.yaml", atomically: true, encoding: .utf8)
        let before = try namespaces.host.exactState()
        let tried = try QNetCommandsTests.qnet(["apply", "--try", "--timeout", "2", "--netns", namespaces.host.name, "--state-dir", stateDirectory])
        #expect(tried.status == 1 && tried.stdout.contains("(its addresses and routes move)"), "\(tried.stdout) \(tried.stderr)")
        let after = try namespaces.host.exactState()
        #expect(after == before, "after:\n\(after)\nbefore:\n\(before)")
        #expect(try namespaces.gatewayAnswers())
    }

    @Test func tryRollsBackWhenItsQnetIsKilled() throws {
        let lab = try Lab("tryk")
        try lab.write("bridges/br0.yaml", Self.seedBridge)
        let before = try lab.host.exactState()
        let process = try lab.start(["--try", "--timeout", "4"])
        let trialFile = lab.stateDirectory + "/run/apply-try.json"
        #expect(try waitUntil(timeout: 30, interval: 0.05) { FileManager.default.fileExists(atPath: trialFile) && !lab.watchdogs.isEmpty },
                "the try started its watchdog")
        #expect(try lab.master("eth0") == "br0", "the change was made")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(try waitUntil(timeout: 30, interval: 0.1) { lab.journals.isEmpty && lab.watchdogs.isEmpty }, "rolled back by the watchdog")
        let after = try lab.host.exactState()
        #expect(after == before, "after:\n\(after)\nbefore:\n\(before)")
        #expect(try waitUntil(timeout: 5, interval: 0.05) { lab.watchdogs.isEmpty && !FileManager.default.fileExists(atPath: trialFile) })
        #expect(lab.journals.isEmpty)
        #expect(try lab.gatewayAnswers())
    }

    @Test func confirmedTryStays() throws {
        let lab = try Lab("tryc")
        try lab.write("bridges/br0.yaml", Self.seedBridge)
        let process = try lab.start(["--try", "--timeout", "60"])
        let trialFile = lab.stateDirectory + "/run/apply-try.json"
        #expect(try waitUntil(timeout: 30, interval: 0.05) { FileManager.default.fileExists(atPath: trialFile) && !lab.watchdogs.isEmpty })
        let confirm = try lab.qnet(["apply", "--confirm"])
        #expect(confirm.status == 0, "\(confirm.stderr)")
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try lab.master("eth0") == "br0")
        #expect(try lab.addresses("br0") == ["192.168.100.10/24"])
        #expect(lab.journals.isEmpty, "committed: no journal left to roll back")
        #expect(try waitUntil(timeout: 5, interval: 0.05) { lab.watchdogs.isEmpty })
        #expect(try lab.qnet(["apply"]).stdout.contains("nothing to do"))
    }

    /// A bridge made by hand with `ip`, exported, deleted and applied from the export, is
    /// the same bridge again (`ip -d -j link`, addresses, routes).
    @Test func exportOfAHandMadeBridgeAppliesBackToTheSame() throws {
        let lab = try Lab("exp")
        try lab.host.ip("link", "add", "brx", "address", "52:54:00:00:0e:01", "mtu", "1450", "type", "bridge", "stp_state", "1", "forward_delay", "500", "hello_time", "300", "priority", "4096")
        try lab.host.ip("link", "set", "brx", "up")
        try lab.host.ip("addr", "add", "10.8.0.1/24", "dev", "brx")
        try lab.host.ip("route", "add", "10.88.0.0/16", "via", "10.8.0.254", "dev", "brx", "metric", "20")
        func snapshot() throws -> String {
            let link = try #require(try lab.details("brx"))
            let data = (link["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any] ?? [:]
            let fields = ["stp_state", "forward_delay", "hello_time", "max_age", "ageing_time", "priority", "vlan_filtering"].map { "\($0)=\(data[$0] ?? "-")" }
            // Routes apply adds carry qnet's mark (proto 113, what --prune goes by); the
            // hand-made one had none: everything else about them must match.
            let routes = try lab.host.ip("route", "show", "dev", "brx").replacingOccurrences(of: " proto 113", with: "")
            return "\(link["mtu"] ?? "-") \(link["address"] ?? "-") \(fields) \(try lab.addresses("brx")) \(routes)"
        }
        let made = try snapshot()
        let exported = try lab.qnet(["export", "brx"])
        #expect(exported.status == 0, "\(exported.stderr)")
        #expect(exported.stdout.hasPrefix("# bridges/brx.yaml\n"), "\(exported.stdout)")
        try lab.write("bridges/brx.yaml", exported.stdout)
        #expect(try lab.qnet(["apply"]).stdout.contains("nothing to do"), "the export describes what exists")
        try lab.host.ip("link", "delete", "brx")
        let apply = try lab.qnet(["apply"])
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(try snapshot() == made)
        let missing = try lab.qnet(["export", "nosuch0"])
        #expect(missing.status == 1 && missing.stderr.contains("nothing named 'nosuch0'"))
    }

    /// The README's worked example end to end: the seed's ifcfg files, imported with
    /// --write, applied.
    @Test func seedIfcfgImportedAndApplied() throws {
        let lab = try Lab("seed")
        let scripts = lab.stateDirectory + "/network-scripts"
        try FileManager.default.createDirectory(atPath: scripts, withIntermediateDirectories: true)
        try "DEVICE=\"eth0\"\nONBOOT=\"yes\"\nBRIDGE=\"br0\"\n".write(toFile: scripts + "/ifcfg-eth0", atomically: true, encoding: .utf8)
        try "DEVICE=\"br0\"\nTYPE=\"Bridge\"\nBOOTPROTO=\"none\"\nIPADDR=\"192.168.100.10\"\nNETMASK=\"255.255.255.0\"\nONBOOT=\"yes\"\nSTP=\"on\"\nDELAY=\"0\"\n"
            .write(toFile: scripts + "/ifcfg-br0", atomically: true, encoding: .utf8)
        let imported = try lab.qnet(["import", "ifcfg", scripts, "--write"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("wrote \(lab.stateDirectory)/etc/bridges/br0.yaml"), "\(imported.stdout)")
        #expect(imported.stderr.contains("adjusted: ifcfg-br0: STP=on with DELAY=0"), "\(imported.stderr)")
        let apply = try lab.qnet(["apply"])
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(try lab.master("eth0") == "br0")
        #expect(try lab.addresses("br0") == ["192.168.100.10/24"])
        let data = (try lab.details("br0")?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any]
        #expect(data?["stp_state"] as? Int == 1 && data?["forward_delay"] as? Int == 200)
        #expect(try lab.gatewayAnswers())
    }

    /// SIGHUP (a dropped SSH session) during the wait rolls the try back at once.
    @Test func tryRollsBackOnSIGHUP() throws {
        let lab = try Lab("tryh")
        try lab.write("bridges/br0.yaml", Self.seedBridge)
        let before = try lab.state
        let process = try lab.start(["--try", "--timeout", "60"])
        let trialFile = lab.stateDirectory + "/run/apply-try.json"
        #expect(try waitUntil(timeout: 30, interval: 0.05) { FileManager.default.fileExists(atPath: trialFile) })
        kill(process.processIdentifier, SIGHUP)
        process.waitUntilExit()
        #expect(process.terminationStatus == 129)
        #expect(try lab.state == before)
        #expect(try waitUntil(timeout: 5, interval: 0.05) { lab.watchdogs.isEmpty })
    }

    /// A try whose qnet was killed can still be confirmed: the journal is committed on its
    /// behalf and the watchdog does not roll it back.
    @Test func killedTryCanStillBeConfirmed() throws {
        let lab = try Lab("trykc")
        try lab.write("bridges/br0.yaml", Self.seedBridge)
        let process = try lab.start(["--try", "--timeout", "4"])
        let trialFile = lab.stateDirectory + "/run/apply-try.json"
        #expect(try waitUntil(timeout: 30, interval: 0.05) { FileManager.default.fileExists(atPath: trialFile) && !lab.watchdogs.isEmpty })
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let confirm = try lab.qnet(["apply", "--confirm"])
        #expect(confirm.status == 0, "\(confirm.stderr)")
        #expect(lab.journals.isEmpty)
        // Neither a journal nor a watchdog is left that could roll it back.
        #expect(try waitUntil(timeout: 10, interval: 0.1) { lab.watchdogs.isEmpty })
        #expect(try lab.master("eth0") == "br0")
        #expect(try lab.qnet(["apply"]).stdout.contains("nothing to do"))
    }

    /// A declared NAT network marked autostart is defined and started; a second apply
    /// leaves it alone.
    @Test func autostartNetwork() throws {
        let lab = try Lab("anet")
        try lab.write("networks/lab.yaml", "mode: nat\nbridge: qn-lab\nsubnet: 10.0.213.0/24\nautostart: true\n")
        let apply = try lab.qnet(["apply"])
        #expect(apply.status == 0, "\(apply.stdout) \(apply.stderr)")
        #expect(apply.stdout.contains("+ define network lab") && apply.stdout.contains("> start network lab"), "\(apply.stdout)")
        #expect(try lab.addresses("qn-lab") == ["10.0.213.1/24"])
        let list = try lab.qnet(["net", "list", "--json"])
        #expect(list.stdout.contains("\"active\" : true"), "\(list.stdout)")
        #expect(try lab.qnet(["apply"]).stdout.contains("nothing to do"))
        _ = try lab.qnet(["net", "stop", "lab"])
    }

    /// A VM marked autostart that is not running is planned to start (the start itself is
    /// `vm run`'s, tested with real guests in CLIVMTests); one without autostart is not.
    @Test func autostartVMIsPlanned() throws {
        let lab = try Lab("avm")
        try lab.write("vms/web.yaml", "memory: 64\nnics: []\nautostart: true\n")
        try lab.write("vms/idle.yaml", "memory: 64\nautostart: false\n")
        let plan = try lab.qnet(["apply", "--dry-run"])
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("> start VM web"), "\(plan.stdout)")
        #expect(!plan.stdout.contains("idle"))
    }

    /// Routes are reconciled, not only added: a declared route whose gateway or metric
    /// differs is changed; `--prune` removes routes qnet made (proto 113) that are no longer
    /// declared; a route an admin made is never touched; a second apply sends no changing
    /// request.
    @Test func routesAreReconciled() throws {
        let lab = try Lab("aroute")
        try lab.host.ip("link", "add", "br1", "address", "52:54:00:00:0e:03", "type", "bridge")
        try lab.host.ip("link", "set", "br1", "up")
        try lab.host.ip("addr", "add", "10.9.0.1/24", "dev", "br1")
        try lab.host.ip("route", "add", "10.77.0.0/16", "via", "10.9.0.253", "dev", "br1")
        func routes() throws -> [String] {
            try lab.host.json("route", "show", "dev", "br1").compactMap { route in
                guard let destination = route["dst"] as? String, destination != "10.9.0.0/24" else { return nil }
                return "\(destination) via \(route["gateway"] as? String ?? "-") metric \(route["metric"] as? Int ?? 0) proto \(route["protocol"] ?? "-")"
            }.sorted()
        }
        let header = "addresses: [10.9.0.1/24]\nroutes:\n"
        try lab.write("bridges/br1.yaml", header + "  - to: 10.99.0.0/16\n    via: 10.9.0.254\n  - to: 10.98.0.0/16\n    via: 10.9.0.254\n    metric: 10\n")
        let first = try lab.qnet(["apply"])
        #expect(first.status == 0, "\(first.stdout) \(first.stderr)")
        #expect(try routes() == ["10.77.0.0/16 via 10.9.0.253 metric 0 proto -", "10.98.0.0/16 via 10.9.0.254 metric 10 proto 113",
                                 "10.99.0.0/16 via 10.9.0.254 metric 0 proto 113"])

        try lab.write("bridges/br1.yaml", header + "  - to: 10.99.0.0/16\n    via: 10.9.0.250\n  - to: 10.98.0.0/16\n    via: 10.9.0.254\n    metric: 20\n")
        // Rolled back (an unconfirmed try): the replaced routes come back exactly.
        let unchanged = try lab.host.exactState()
        let tried = try lab.qnet(["apply", "--try", "--timeout", "1"])
        #expect(tried.status == 1 && tried.stdout.contains("change route"), "\(tried.stdout) \(tried.stderr)")
        #expect(try lab.host.exactState() == unchanged)
        let changed = try lab.qnet(["apply"])
        #expect(changed.status == 0, "\(changed.stdout) \(changed.stderr)")
        #expect(changed.stdout.contains("change route 10.99.0.0/16 via 10.9.0.250 (was via 10.9.0.254, metric 0)"), "\(changed.stdout)")
        #expect(try routes() == ["10.77.0.0/16 via 10.9.0.253 metric 0 proto -", "10.98.0.0/16 via 10.9.0.254 metric 20 proto 113",
                                 "10.99.0.0/16 via 10.9.0.250 metric 0 proto 113"])

        // No longer declared: kept without --prune, removed with it; the admin's route stays.
        try lab.write("bridges/br1.yaml", header + "  - to: 10.99.0.0/16\n    via: 10.9.0.250\n")
        #expect(try lab.qnet(["apply"]).stdout.contains("nothing to do"))
        let pruned = try lab.qnet(["apply", "--prune"])
        #expect(pruned.status == 0, "\(pruned.stdout) \(pruned.stderr)")
        #expect(try routes() == ["10.77.0.0/16 via 10.9.0.253 metric 0 proto -", "10.99.0.0/16 via 10.9.0.250 metric 0 proto 113"])

        // Idempotent: the second apply (with --prune) sends only RTM_GET* requests.
        let trace = lab.stateDirectory + "/routes.trace"
        let second = try run("strace", ["-f", "-qq", "-o", trace, "-e", "trace=sendto,sendmsg", "-s", "64", try qnetExecutable(), "apply", "--prune"] + lab.common)
        #expect(second.stdout.contains("nothing to do"), "\(second.stdout) \(second.stderr)")
        let types = Self.netlinkTypes(try String(contentsOfFile: trace, encoding: .utf8))
        #expect(!types.isEmpty && types.allSatisfy(Self.isGet), "changing requests: \(types.filter { !Self.isGet($0) })")
    }

    /// `qnet vm run NAME --declared` (what qnet-vm@NAME.service runs) starts the VM of
    /// CONFIG_DIR/vms/NAME.yaml, whether or not it is marked autostart; a name no file
    /// declares is refused naming the folder.
    @Test func declaredVMRunsByName() throws {
        let lab = try Lab("avmd")
        try lab.write("vms/web.yaml", "memory: 64\naccel: tcg\nnics: []\nautostart: false\n")
        let started = try lab.qnet(["vm", "run", "web", "--declared"])
        #expect(started.status == 0 && started.stdout.contains("started VM web"), "\(started.stdout) \(started.stderr)")
        #expect(try lab.qnet(["vm", "list"]).stdout.contains("web "))
        #expect(try lab.qnet(["apply"]).stdout.contains("nothing to do"), "not autostart: apply leaves it alone")
        #expect(try lab.qnet(["vm", "kill", "web"]).status == 0)
        let missing = try lab.qnet(["vm", "run", "db", "--declared"])
        #expect(missing.status == 1 && missing.stderr.contains("no VM named 'db' is declared in \(lab.stateDirectory)/etc/vms"), "\(missing.stderr)")
        let both = try lab.qnet(["vm", "run", "web", "--declared", "-f", "web.yaml"])
        #expect(both.status == 2, "\(both.stderr)")
    }

    @Test func dhcpUplinkIsRefusedWithReasonAndFix() throws {
        let lab = try Lab("dhcp", dhcpLifetime: 300)
        let before = try lab.state
        let create = try lab.qnet(["bridge", "create", "br0", "--uplink", "eth0"])
        #expect(create.status == 1)
        #expect(create.stderr.contains("eth0's address comes from DHCP (192.168.100.10/24 expires in"), "\(create.stderr)")
        #expect(create.stderr.contains("Fix:"))
        try lab.write("bridges/br0.yaml", Self.seedBridge)
        let apply = try lab.qnet(["apply"])
        #expect(apply.status == 1)
        #expect(apply.stderr.contains("comes from DHCP"), "\(apply.stderr)")
        #expect(try lab.details("br0") == nil)
        #expect(try lab.state == before)
    }
}

/// The systemd units `make install` ships: `systemd-analyze verify` accepts them
/// (qnet-vm@.service as an instance, qnet-vm@web.service, beside qnet.service it orders after).
@Suite struct SystemdUnitTests {
    @Test func unitsVerify() throws {
        guard (try? locate("systemd-analyze")) != nil else {
            if Privileged.required { Issue.record("systemd-analyze is missing (Debian package systemd)") }
            return
        }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let units = repository.appendingPathComponent("packaging/systemd")
        let directory = NSTemporaryDirectory() + "qnet-units-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let binDirectory = (try qnetExecutable() as NSString).deletingLastPathComponent
        let names = try FileManager.default.contentsOfDirectory(atPath: units.path).filter { $0.hasSuffix(".service") }.sorted()
        #expect(names == ["qnet-vm@.service", "qnet.service"])
        var paths: [String] = []
        for name in names {
            let text = try String(contentsOf: units.appendingPathComponent(name), encoding: .utf8)
                .replacingOccurrences(of: "@BINDIR@", with: binDirectory)
            if name == "qnet.service" {
                #expect(text.contains("Type=oneshot") && text.contains("RemainAfterExit=yes") && text.contains("apply --boot"))
            } else {
                #expect(text.contains("vm run %i --declared --foreground") && text.contains("After=qnet.service"))
            }
            let path = directory + "/" + name.replacingOccurrences(of: "@.", with: "@web.")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        let verify = try run("systemd-analyze", ["verify", "--man=no"] + paths)
        #expect(verify.status == 0 && verify.stderr.isEmpty, "\(verify.stderr)")
    }
}
