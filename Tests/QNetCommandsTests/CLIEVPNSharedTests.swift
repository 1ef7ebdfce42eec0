import Foundation
import QNetTestSupport
import Testing

extension VXLANHosts {
    /// `qnet net create NAME --mode vxlan --vni VNI --underlay u0 --control-plane evpn ...` on host `number`.
    func createEVPN(_ number: Int, _ name: String, vni: Int, asn: Int = 65042, peers: [Int], extra: [String] = []) throws -> CommandResult {
        try qnet(number, ["net", "create", name, "--mode", "vxlan", "--vni", String(vni), "--underlay", "u0",
                          "--control-plane", "evpn", "--asn", String(asn),
                          "--bgp-peers", peers.map(Self.underlayAddress).joined(separator: ",")] + extra)
    }

    /// The VTEPs of the all-zero (flood) entries of `device` in host `number` (`bridge -j fdb`):
    /// with EVPN, zebra installs them from the peers' type-3 routes of that VNI.
    func floodList(_ number: Int, device: String) -> [String] {
        guard let fdb = try? run("bridge", ["-n", hosts[number - 1].name, "-j", "fdb", "show", "dev", device]),
              let entries = try? JSONSerialization.jsonObject(with: Data(fdb.stdout.utf8)) as? [[String: Any]] else { return [] }
        return entries.filter { $0["mac"] as? String == "00:00:00:00:00:00" }.compactMap { $0["dst"] as? String }.sorted()
    }

    /// The neighbours in the running configuration of host `number`'s bgpd (found by its
    /// command line's `--vty_socket`, asked with vtysh); empty when no bgpd runs there.
    func bgpdNeighbours(_ number: Int) throws -> [String] {
        for pid in try run("ip", ["netns", "pids", hosts[number - 1].name]).stdout.split(separator: "\n") {
            guard let line = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8) else { continue }
            let arguments = line.split(separator: "\0").map(String.init)
            guard arguments.first?.hasSuffix("bgpd") == true, let index = arguments.firstIndex(of: "--vty_socket"),
                  index + 1 < arguments.count else { continue }
            let config = try run("vtysh", ["--vty_socket", arguments[index + 1], "-c", "show running-config"]).stdout
            return config.split(separator: "\n").filter { $0.hasPrefix(" neighbor ") && $0.hasSuffix(" remote-as internal") }
                .map { String($0.split(separator: " ")[1]) }.sorted()
        }
        return []
    }

    /// The remote addresses of host `number`'s established BGP sessions (`ss`, the kernel's TCP table).
    func bgpSessionPeers(_ number: Int) -> [String] {
        guard let result = try? hosts[number - 1].exec("ss", ["-Htn", "state", "established", "( sport = :179 or dport = :179 )"]) else { return [] }
        return result.stdout.split(separator: "\n").compactMap { line in
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            guard columns.count >= 4 else { return nil }
            return columns[3].split(separator: ":").first.map(String.init)
        }.sorted()
    }
}

/// Several evpn networks in one namespace on one FRR, BGP neighbours changed at runtime, and
/// the system's FRR used through vtysh (tier 3). Witnesses: `ip netns pids`, `ss`, `bridge -j
/// fdb`, and for the system FRR its own `show running-config` before and after.
@Suite(.serialized, Privileged.enabled)
struct CLIEVPNSharedTests {
    /// Two evpn networks (VNIs 42 and 43) on hosts 1 and 2: one zebra and one bgpd per host carry
    /// both VNIs (each VXLAN device gets the other host as its flood list from type-3 routes); a
    /// third network in another AS is refused; the first stop keeps FRR for the second, the last
    /// stop ends it.
    @Test(.timeLimit(.minutes(15)))
    func twoNetworksShareOneFRR() throws {
        let setup = try VXLANHosts("vs")
        for number in 1...2 {
            let other = 3 - number
            for (name, vni) in [("ov", 42), ("ov2", 43)] {
                let created = try setup.createEVPN(number, name, vni: vni, peers: [other])
                #expect(created.status == 0, "\(created.stderr)")
                let started = try setup.qnet(number, ["net", "start", name])
                #expect(started.status == 0, "host \(number) \(name): \(started.stderr)")
            }
        }
        for number in 1...2 {
            #expect(try setup.processes(in: number).sorted() == ["bgpd", "zebra"], "host \(number)")
        }
        #expect(waitUntil(timeout: 60, interval: 0.5) { setup.bgpSessionPeers(1) == ["192.0.2.2"] })
        // Both VNIs learnt the other VTEP from BGP.
        for device in ["qx-ov", "qx-ov2"] {
            #expect(waitUntil(timeout: 30, interval: 0.2) { setup.floodList(1, device: device) == ["192.0.2.2"] }, "\(device)")
        }

        // Another AS in the same namespace: one line, exit 2, nothing started.
        #expect(try setup.createEVPN(1, "ov3", vni: 44, asn: 65001, peers: [3]).status == 0)
        let refused = try setup.qnet(1, ["net", "start", "ov3"])
        #expect(refused.status == 2 && refused.stderr.split(separator: "\n").count == 1 && refused.stderr.contains("65001"), "\(refused.stderr)")
        #expect(try !setup.hosts[0].linkNames().contains("qx-ov3"))
        _ = try setup.qnet(1, ["net", "delete", "ov3"])

        // A third host on ov2 only: host 1's bgpd gets the neighbour, ov keeps its flood list.
        #expect(try setup.createEVPN(3, "ov2", vni: 43, peers: [1]).status == 0)
        #expect(try setup.qnet(3, ["net", "start", "ov2"]).status == 0)
        #expect(try setup.qnet(1, ["net", "peer", "add", "ov2", "192.0.2.3"]).status == 0)
        #expect(waitUntil(timeout: 60, interval: 0.5) { setup.bgpSessionPeers(1) == ["192.0.2.2", "192.0.2.3"] })
        #expect(waitUntil(timeout: 30, interval: 0.2) { setup.floodList(1, device: "qx-ov2") == ["192.0.2.2", "192.0.2.3"] })
        #expect(setup.floodList(1, device: "qx-ov") == ["192.0.2.2"])

        // The first stop leaves the FRR to ov2 (the session with host 3 is ov2's only).
        let stopped = try setup.qnet(1, ["net", "stop", "ov"])
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(try setup.processes(in: 1).sorted() == ["bgpd", "zebra"])
        #expect(try !setup.hosts[0].linkNames().contains("qx-ov"))
        #expect(setup.bgpSessionPeers(1) == ["192.0.2.2", "192.0.2.3"])
        let shown = try setup.qnet(1, ["net", "show", "ov2", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
        let evpn = (report?["vxlan"] as? [String: Any])?["evpn"] as? [String: Any]
        let sessions = evpn?["sessions"] as? [[String: Any]] ?? []
        #expect(sessions.contains { $0["peer"] as? String == "192.0.2.3" && $0["state"] as? String == "Established" }, "\(shown.stdout)")
        #expect(evpn?["frr"] as? String == "qnet", "\(shown.stdout)")
        // The last stop ends it.
        #expect(try setup.qnet(1, ["net", "stop", "ov2"]).status == 0)
        #expect(try setup.processes(in: 1).isEmpty)
        for number in 1...3 {
            for name in ["ov", "ov2"] {
                _ = try setup.qnet(number, ["net", "stop", name])
                _ = try setup.qnet(number, ["net", "delete", name])
            }
            #expect(try setup.hosts[number - 1].linkNames() == ["lo", "u0"], "host \(number)")
            #expect(try setup.processes(in: number).isEmpty, "host \(number)")
        }
    }

    /// One state directory, two namespaces (as `qnet --netns A` and `qnet --netns B` share
    /// /run/qnet): each namespace gets its own FRR, carrying only its own networks; the two
    /// bgpds peer with each other; stopping one namespace's network leaves the other's FRR.
    @Test(.timeLimit(.minutes(15)))
    func namespacesSharingAStateDirectoryEachGetTheirOwnFRR() throws {
        let setup = try VXLANHosts("vn")
        func qnet(_ number: Int, _ arguments: [String]) throws -> CommandResult {
            try QNetCommandsTests.qnet(["--netns", setup.hosts[number - 1].name, "--state-dir", setup.states[0].path] + arguments)
        }
        for (number, name, peer) in [(1, "ov", "192.0.2.2"), (2, "ow", "192.0.2.1")] {
            let created = try qnet(number, ["net", "create", name, "--mode", "vxlan", "--vni", "42", "--underlay", "u0",
                                            "--control-plane", "evpn", "--asn", "65042", "--bgp-peers", peer])
            #expect(created.status == 0, "\(created.stderr)")
            let started = try qnet(number, ["net", "start", name])
            #expect(started.status == 0, "\(started.stderr)")
        }
        #expect(try setup.processes(in: 1).sorted() == ["bgpd", "zebra"])
        #expect(try setup.processes(in: 2).sorted() == ["bgpd", "zebra"])
        #expect(waitUntil(timeout: 60, interval: 0.5) { setup.bgpSessionPeers(1) == ["192.0.2.2"] })
        #expect(waitUntil(timeout: 30, interval: 0.2) { setup.floodList(2, device: "qx-ow") == ["192.0.2.1"] })
        #expect(try qnet(1, ["net", "stop", "ov"]).status == 0)
        #expect(try setup.processes(in: 1).isEmpty)
        #expect(try setup.processes(in: 2).sorted() == ["bgpd", "zebra"])
        #expect(try qnet(2, ["net", "stop", "ow"]).status == 0)
        #expect(try setup.processes(in: 2).isEmpty)
        for name in ["ov", "ow"] { _ = try qnet(1, ["net", "delete", name]) }
    }

    /// `net peer add|remove` on a running evpn network: host 1 starts with host 2 as its only
    /// BGP neighbour; adding host 3 brings up the session and host 3's VTEP into the flood
    /// list; removing it takes both away again; the definition follows.
    @Test(.timeLimit(.minutes(15)))
    func peersOfARunningEVPNNetworkChange() throws {
        let setup = try VXLANHosts("vp")
        for number in 1...3 {
            let peers = number == 1 ? [2] : (1...3).filter { $0 != number }
            #expect(try setup.createEVPN(number, "ov", vni: 42, peers: peers).status == 0)
            #expect(try setup.qnet(number, ["net", "start", "ov"]).status == 0)
        }
        #expect(waitUntil(timeout: 60, interval: 0.5) { setup.bgpSessionPeers(1) == ["192.0.2.2"] })
        #expect(waitUntil(timeout: 30, interval: 0.2) { setup.floodList(1, device: "qx-ov") == ["192.0.2.2"] })

        let added = try setup.qnet(1, ["net", "peer", "add", "ov", "192.0.2.3"])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(waitUntil(timeout: 60, interval: 0.5) { setup.bgpSessionPeers(1) == ["192.0.2.2", "192.0.2.3"] })
        #expect(waitUntil(timeout: 30, interval: 0.2) { setup.floodList(1, device: "qx-ov") == ["192.0.2.2", "192.0.2.3"] })
        #expect(try configuredPeers(setup) == ["192.0.2.2", "192.0.2.3"])

        // Bad input: this host's own address; not a neighbour. One line, exit 2, nothing changed.
        let own = try setup.qnet(1, ["net", "peer", "add", "ov", "192.0.2.1"])
        #expect(own.status == 2 && own.stderr.split(separator: "\n").count == 1, "\(own.stderr)")
        let unknown = try setup.qnet(1, ["net", "peer", "remove", "ov", "192.0.2.9"])
        #expect(unknown.status == 2 && unknown.stderr.contains("192.0.2.9"), "\(unknown.stderr)")

        let removed = try setup.qnet(1, ["net", "peer", "remove", "ov", "192.0.2.3"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(waitUntil(timeout: 30, interval: 0.2) { setup.bgpSessionPeers(1) == ["192.0.2.2"] })
        #expect(waitUntil(timeout: 30, interval: 0.2) { setup.floodList(1, device: "qx-ov") == ["192.0.2.2"] })
        let shown = try setup.qnet(1, ["net", "show", "ov", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
        let sessions = ((report?["vxlan"] as? [String: Any])?["evpn"] as? [String: Any])?["sessions"] as? [[String: Any]] ?? []
        #expect(sessions.compactMap { $0["peer"] as? String } == ["192.0.2.2"], "\(shown.stdout)")
        #expect(try configuredPeers(setup) == ["192.0.2.2"])
        #expect(try setup.stopAndCheckClean().isEmpty)
        for number in 1...3 { #expect(try setup.processes(in: number).isEmpty) }
    }

    /// The stored BGP peers of host 1's `ov`, as `net show --json` lists them (configured).
    func configuredPeers(_ setup: VXLANHosts) throws -> [String] {
        let shown = try setup.qnet(1, ["net", "show", "ov", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
        let peers = (report?["vxlan"] as? [String: Any])?["peers"] as? [[String: Any]] ?? []
        return peers.filter { $0["configured"] as? Bool == true }.compactMap { $0["address"] as? String }.sorted()
    }

    /// A "system" FRR already runs in host 1's namespace (zebra and bgpd with a vty folder of
    /// their own, `router bgp 65042` with an admin's neighbour): `net start` starts no FRR
    /// but adds the network's lines to that one through vtysh; the session with host 2 comes up
    /// and host 2's VTEP is learnt; `net stop` removes exactly those lines (the running
    /// configuration is what it was, the configuration file untouched). Another ASN is refused.
    @Test(.timeLimit(.minutes(15)))
    func systemFRRIsConfiguredThroughVtysh() throws {
        let setup = try VXLANHosts("vy")
        let system = try SystemFRR(in: setup.hosts[0], config: """
            frr defaults datacenter
            hostname system
            router bgp 65042
             neighbor 192.0.2.99 remote-as internal
            exit
            """)
        defer { system.stop() }
        let before = try system.runningConfig()
        let file = try String(contentsOfFile: system.bgpdConfig, encoding: .utf8)
        #expect(before.contains("neighbor 192.0.2.99 remote-as internal"), "\(before)")

        #expect(try setup.createEVPN(2, "ov", vni: 42, peers: [1]).status == 0)
        #expect(try setup.qnet(2, ["net", "start", "ov"]).status == 0)
        #expect(try setup.createEVPN(1, "ov", vni: 42, peers: [2]).status == 0)
        let started = try setup.qnet(1, ["net", "start", "ov"])
        #expect(started.status == 0, "\(started.stderr)")
        // No FRR of qnet's own: the two daemons are the system's.
        #expect(try setup.processes(in: 1).sorted() == ["bgpd", "zebra"])
        #expect(system.running)
        let during = try system.runningConfig()
        #expect(during.contains("neighbor 192.0.2.2 remote-as internal") && during.contains("advertise-all-vni")
            && during.contains("neighbor 192.0.2.99 remote-as internal"), "\(during)")
        #expect(waitUntil(timeout: 60, interval: 0.5) { setup.bgpSessionPeers(1) == ["192.0.2.2"] })
        #expect(waitUntil(timeout: 30, interval: 0.2) { setup.floodList(1, device: "qx-ov") == ["192.0.2.2"] })
        let shown = try setup.qnet(1, ["net", "show", "ov"])
        #expect(shown.stdout.contains("192.0.2.2 Established"), "\(shown.stdout)")
        #expect(shown.stdout.contains("frr:      the system's FRR, vty \(system.directory)"), "\(shown.stdout)")

        // Another ASN than the system's router bgp: one line naming both, exit 2, nothing made.
        #expect(try setup.createEVPN(1, "ov9", vni: 49, asn: 65001, peers: [3]).status == 0)
        let refused = try setup.qnet(1, ["net", "start", "ov9"])
        #expect(refused.status == 2 && refused.stderr.split(separator: "\n").count == 1
            && refused.stderr.contains("65001") && refused.stderr.contains("65042"), "\(refused.stderr)")
        #expect(try !setup.hosts[0].linkNames().contains("qx-ov9"))

        let stopped = try setup.qnet(1, ["net", "stop", "ov"])
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(system.running)
        #expect(try system.runningConfig() == before)
        #expect(try String(contentsOfFile: system.bgpdConfig, encoding: .utf8) == file)

        // The system's FRR goes away while the network runs (its lines with it): the stop
        // still completes, and nothing is left for the next command to retry.
        #expect(try setup.qnet(1, ["net", "start", "ov"]).status == 0)
        system.stop()
        let orphaned = try setup.qnet(1, ["net", "stop", "ov"])
        #expect(orphaned.status == 0, "\(orphaned.stderr)")
        let recover = try setup.qnet(1, ["recover"])
        #expect(recover.status == 0 && !recover.stderr.contains("FRR"), "\(recover.stderr)")
        #expect(try setup.stopAndCheckClean().isEmpty)
    }
}

/// zebra and bgpd started by hand in a test namespace, standing for a system FRR: their own
/// vty folder (`--vty_socket`), pid files and configuration, no TCP vty.
final class SystemFRR {
    let directory: String
    let namespace: TestNamespace
    private var processes: [Process] = []
    var bgpdConfig: String { "\(directory)/bgpd.conf" }

    init(in namespace: TestNamespace, config: String) throws {
        self.namespace = namespace
        directory = "/tmp/qnet-sysfrr-\(getpid())-\(namespace.name)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "hostname system\n".write(toFile: "\(directory)/zebra.conf", atomically: true, encoding: .utf8)
        try config.write(toFile: bgpdConfig, atomically: true, encoding: .utf8)
        for file in [directory, "\(directory)/zebra.conf", bgpdConfig] {
            #expect(try run("chown", ["frr:frr", file]).status == 0)
        }
        for daemon in ["zebra", "bgpd"] {
            // Not -d: Foundation's Process would wait for the daemonized child's inherited
            // descriptors; the daemons stay this test's children and stop() ends them.
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try locate("ip"))
            process.arguments = ["netns", "exec", namespace.name, "/usr/lib/frr/\(daemon)", "-P", "0",
                                 "-f", "\(directory)/\(daemon).conf", "-i", "\(directory)/\(daemon).pid",
                                 "--vty_socket", directory, "-z", "\(directory)/zserv.api"]
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            processes.append(process)
            guard waitUntil(timeout: 10, interval: 0.05, { FileManager.default.fileExists(atPath: "\(directory)/\(daemon).vty") }) else {
                stop()
                throw TestSupportError("\(daemon) made no vty socket in \(directory)")
            }
        }
    }

    /// `vtysh --vty_socket DIR -c 'show running-config'` without its two header lines.
    func runningConfig() throws -> String {
        let result = try run("vtysh", ["--vty_socket", directory, "-c", "show running-config"])
        guard result.status == 0 else { throw TestSupportError("vtysh: \(result.stderr)") }
        return result.stdout
    }

    /// Both daemons still run (not exited).
    var running: Bool { processes.count == 2 && processes.allSatisfy(\.isRunning) }

    func stop() {
        // SIGKILL: the daemons inherit the test runner's blocked signals, SIGTERM among them.
        for process in processes.reversed() where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        processes = []
        try? FileManager.default.removeItem(atPath: directory)
    }
}
