import Foundation
import QNetTestSupport
import Testing

/// vxlan networks killed at every step (`KillInjection`): `net start` of an evpn network (its
/// bridge, VXLAN device, dnsmasq, zebra and bgpd) and `net peer add|remove` of a static one,
/// each followed by the next command's recovery. Witnesses: `ip -j link`, `bridge -j fdb`
/// and `ip netns pids` in host 1 of the three-host setup (`VXLANHosts`).
@Suite(.serialized, Privileged.enabled)
struct VXLANReliabilityTests {
    /// Netlink sends and file commits (journal, state, configuration files end in a rename).
    static let series: [(name: String, syscalls: [String])] = [
        ("netlink send", ["sendto", "sendmsg"]), ("file commit", ["rename", "renameat", "renameat2"]),
    ]

    /// `qnet ARGS` on host 1 with SIGKILL at its `n`-th call of `syscalls`.
    static func stopped(_ setup: VXLANHosts, at n: Int, of syscalls: [String], _ arguments: [String]) throws -> KillInjection.Outcome {
        try KillInjection.run(try qnetExecutable(), ["--netns", setup.hosts[0].name, "--state-dir", setup.states[0].path] + arguments,
                              at: n, of: syscalls)
    }

    /// Host 1's links and processes: what a started or stopped evpn network leaves.
    static func snapshot(_ setup: VXLANHosts) throws -> String {
        let links = try setup.hosts[0].linkNames().sorted().joined(separator: ",")
        let processes = try setup.processes(in: 1).sorted().joined(separator: ",")
        return "links \(links); processes \(processes)"
    }

    /// SIGKILL at every netlink send and file commit of an evpn network's `net start`; the next
    /// `net start` rolls the interrupted one back (FRR's daemons included) and starts the network
    /// fully, and `net stop` then leaves neither a device nor a daemon.
    @Test(.timeLimit(.minutes(15)))
    func evpnStartKilledAtEveryPointRecovers() throws {
        let setup = try VXLANHosts("vk")
        let created = try setup.qnet(1, ["net", "create", "ov", "--mode", "vxlan", "--vni", "42", "--underlay", "u0", "--subnet", VXLANHosts.subnet,
                                         "--dhcp-host", "--control-plane", "evpn", "--asn", "65042", "--bgp-peers", "192.0.2.2,192.0.2.3"])
        #expect(created.status == 0, "\(created.stderr)")
        let clean = try Self.snapshot(setup)
        #expect(clean == "links lo,u0; processes ", "\(clean)")
        let started = "links lo,qn-ov,qx-ov,u0; processes bgpd,dnsmasq,zebra"
        var tried = 0, recovered = 0, lost = 0
        for (name, syscalls) in Self.series {
            tried += try KillInjection.everyPoint({ n in
                try Self.stopped(setup, at: n, of: syscalls, ["net", "start", "ov"])
            }, afterEach: { n, _ throws in
                let next = try setup.qnet(1, ["net", "start", "ov"])
                if next.stderr.contains("recovered:") { recovered += 1 }
                let up = try Self.snapshot(setup)
                let stop = try setup.qnet(1, ["net", "stop", "ov"])
                let down = try Self.snapshot(setup)
                let consistent = next.status == 0 && up == started && stop.status == 0 && down == clean
                if !consistent { lost += 1 }
                #expect(consistent, "killed at \(name) \(n): start → \(next.status) \(next.stderr) [\(up)]; stop → \(stop.status) \(stop.stderr) [\(down)]")
            }, completed: { result throws in
                #expect(result.status == 0, "\(result.stderr)")
                #expect(try Self.snapshot(setup) == started)
                #expect(try setup.qnet(1, ["net", "stop", "ov"]).status == 0)
            })
        }
        #expect(try Self.snapshot(setup) == clean)
        print("reliability: evpn net start killed at \(tried) points, \(recovered) recovered from a journal, \(lost) inconsistent")
        #expect(tried > 5 && lost == 0)
    }

    /// SIGKILL at every netlink send and file commit of `net peer add|remove ov 192.0.2.3` on host
    /// 1, whose running `ov` has 192.0.2.2 as its peer: after each kill `qnet recover` must leave
    /// the stored peers (`net show --json`) equal to what `applied` reads from the kernel or FRR,
    /// and the command run again completes. Returns (points tried, inconsistent ones).
    static func peerCampaign(_ setup: VXLANHosts, _ label: String, applied: () throws -> [String]) throws -> (tried: Int, lost: Int) {
        /// (stored peers, applied peers), each sorted.
        func state() throws -> (stored: [String], applied: [String]) {
            let shown = try setup.qnet(1, ["net", "show", "ov", "--json"])
            let report = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
            let peers = (report?["vxlan"] as? [String: Any])?["peers"] as? [[String: Any]] ?? []
            let stored = peers.filter { $0["configured"] as? Bool == true }.compactMap { $0["address"] as? String }
            return (stored.sorted(), try applied().sorted())
        }
        func expectState(_ peers: [String], _ context: String) throws {
            let now = try state()
            #expect(now.stored == peers && now.applied == peers, "\(context): \(now)")
        }
        var tried = 0, lost = 0
        let one = ["192.0.2.2"], two = ["192.0.2.2", "192.0.2.3"]
        for (verb, opposite, before, after) in [("add", "remove", one, two), ("remove", "add", two, one)] {
            if verb == "remove" { #expect(try setup.qnet(1, ["net", "peer", "add", "ov", "192.0.2.3"]).status == 0) }
            try expectState(before, "before \(label) \(verb)")
            for (name, syscalls) in Self.series {
                tried += try KillInjection.everyPoint({ n in
                    try Self.stopped(setup, at: n, of: syscalls, ["net", "peer", verb, "ov", "192.0.2.3"])
                }, afterEach: { n, _ throws in
                    let recover = try setup.qnet(1, ["recover"])
                    let now = try state()
                    let consistent = recover.status == 0 && now.stored == now.applied
                    if !consistent { lost += 1 }
                    #expect(consistent, "\(label) \(verb) killed at \(name) \(n): recover → \(recover.status) \(recover.stderr); \(now)")
                    // Run again: done now, or already done before the kill (remove then says it is no peer).
                    let again = try setup.qnet(1, ["net", "peer", verb, "ov", "192.0.2.3"])
                    #expect(again.status == 0 || (verb == "remove" && again.status == 2), "\(again.stderr)")
                    try expectState(after, "\(label) \(verb) again after a kill at \(name) \(n)")
                    #expect(try setup.qnet(1, ["net", "peer", opposite, "ov", "192.0.2.3"]).status == 0)
                }, completed: { result throws in
                    #expect(result.status == 0, "\(result.stderr)")
                    try expectState(after, "\(label) \(verb) completed")
                    #expect(try setup.qnet(1, ["net", "peer", opposite, "ov", "192.0.2.3"]).status == 0)
                })
            }
        }
        return (tried, lost)
    }

    /// SIGKILL at every netlink send and file commit of `net peer add` and `net peer remove` on a
    /// running static network; after `qnet recover` the device's flood entries are exactly the
    /// stored definition's peers, and the command run again completes.
    @Test(.timeLimit(.minutes(15)))
    func peerChangesKilledAtEveryPointStayConsistent() throws {
        let setup = try VXLANHosts("vpk")
        let created = try setup.qnet(1, ["net", "create", "ov", "--mode", "vxlan", "--vni", "42", "--underlay", "u0", "--peers", "192.0.2.2"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try setup.qnet(1, ["net", "start", "ov"]).status == 0)
        let (tried, lost) = try Self.peerCampaign(setup, "peer") {
            // The kernel's flood destinations.
            try setup.vxlanFDB(1).filter { $0["mac"] as? String == "00:00:00:00:00:00" }.compactMap { $0["dst"] as? String }
        }
        #expect(try setup.qnet(1, ["net", "stop", "ov"]).status == 0)
        print("reliability: net peer add/remove killed at \(tried) points, \(lost) inconsistent")
        #expect(tried > 4 && lost == 0)
    }

    /// Two evpn networks of host 1 share qnet's FRR (ov with BGP peer 2, ov2 with peer 3). SIGKILL
    /// at every netlink send and file commit of `net stop ov`, then of `net stop ov2` (the last):
    /// after `qnet recover` the stopped network's device is gone, and the FRR either carries
    /// exactly ov2's neighbour (its bgpd's own running configuration says so) or, after the
    /// last, no daemon is left.
    @Test(.timeLimit(.minutes(15)))
    func evpnStopKilledAtEveryPointRecovers() throws {
        let setup = try VXLANHosts("vks")
        #expect(try setup.createEVPN(1, "ov", vni: 42, peers: [2]).status == 0)
        #expect(try setup.createEVPN(1, "ov2", vni: 43, peers: [3]).status == 0)
        #expect(try setup.qnet(1, ["net", "start", "ov2"]).status == 0)
        func neighbours() throws -> [String] { try setup.bgpdNeighbours(1) }
        var tried = 0, lost = 0
        for (name, after) in [("ov", "links lo,qn-ov2,qx-ov2,u0; processes bgpd,zebra; neighbours 192.0.2.3"),
                              ("ov2", "links lo,u0; processes ; neighbours ")] {
            let up = try setup.qnet(1, ["net", "start", name])
            #expect(up.status == 0, "\(up.stderr)")
            for (series, syscalls) in Self.series {
                tried += try KillInjection.everyPoint({ n in
                    try Self.stopped(setup, at: n, of: syscalls, ["net", "stop", name])
                }, afterEach: { n, _ throws in
                    let recover = try setup.qnet(1, ["recover"])
                    // A kill before the stop's point of no return leaves the network up: stop it now.
                    if try setup.hosts[0].linkNames().contains("qx-\(name)") { _ = try setup.qnet(1, ["net", "stop", name]) }
                    let now = try Self.snapshot(setup) + "; neighbours " + neighbours().joined(separator: ",")
                    let consistent = recover.status == 0 && now == after
                    if !consistent { lost += 1 }
                    #expect(consistent, "net stop \(name) killed at \(series) \(n): recover → \(recover.status) \(recover.stderr) [\(now)]")
                    #expect(try setup.qnet(1, ["net", "start", name]).status == 0)
                }, completed: { result throws in
                    #expect(result.status == 0, "\(result.stderr)")
                    #expect(try Self.snapshot(setup) + "; neighbours " + neighbours().joined(separator: ",") == after)
                    #expect(try setup.qnet(1, ["net", "start", name]).status == 0)
                })
            }
            #expect(try setup.qnet(1, ["net", "stop", name]).status == 0)
        }
        print("reliability: evpn net stop killed at \(tried) points, \(lost) inconsistent")
        #expect(tried > 5 && lost == 0)
    }

    /// A system FRR runs in host 1's namespace: SIGKILL at every netlink send and file commit of
    /// `net start` and of `net stop` of an evpn network using it. After the next command, the
    /// system bgpd's running configuration is what it was before qnet (stop, or start rolled
    /// back) or holds the network's lines (start run again), and the system's daemons still run.
    @Test(.timeLimit(.minutes(15)))
    func systemFRRStartAndStopKilledAtEveryPoint() throws {
        let setup = try VXLANHosts("vky")
        let system = try SystemFRR(in: setup.hosts[0], config: "frr defaults datacenter\nhostname system\n")
        defer { system.stop() }
        let before = try system.runningConfig()
        #expect(try setup.createEVPN(1, "ov", vni: 42, peers: [2]).status == 0)
        #expect(try setup.qnet(1, ["net", "start", "ov"]).status == 0)
        let configured = try system.runningConfig()
        #expect(configured.contains("neighbor 192.0.2.2 remote-as internal"), "\(configured)")
        #expect(try setup.qnet(1, ["net", "stop", "ov"]).status == 0)
        #expect(try system.runningConfig() == before)
        var tried = 0, lost = 0
        for (series, syscalls) in Self.series {
            tried += try KillInjection.everyPoint({ n in
                try Self.stopped(setup, at: n, of: syscalls, ["net", "start", "ov"])
            }, afterEach: { n, _ throws in
                let next = try setup.qnet(1, ["net", "start", "ov"])
                let up = try system.runningConfig()
                let stop = try setup.qnet(1, ["net", "stop", "ov"])
                let down = try system.runningConfig()
                let consistent = next.status == 0 && up == configured && stop.status == 0 && down == before && system.running
                if !consistent { lost += 1 }
                #expect(consistent, "net start killed at \(series) \(n): start → \(next.status) \(next.stderr); stop → \(stop.status) \(stop.stderr); [\(up)] [\(down)]")
            }, completed: { result throws in
                #expect(result.status == 0, "\(result.stderr)")
                #expect(try setup.qnet(1, ["net", "stop", "ov"]).status == 0)
            })
            tried += try KillInjection.everyPoint({ n in
                #expect(try setup.qnet(1, ["net", "start", "ov"]).status == 0)
                return try Self.stopped(setup, at: n, of: syscalls, ["net", "stop", "ov"])
            }, afterEach: { n, _ throws in
                let recover = try setup.qnet(1, ["recover"])
                if try setup.hosts[0].linkNames().contains("qx-ov") { _ = try setup.qnet(1, ["net", "stop", "ov"]) }
                let down = try system.runningConfig()
                let links = try setup.hosts[0].linkNames()
                let consistent = recover.status == 0 && down == before && system.running && links == ["lo", "u0"]
                if !consistent { lost += 1 }
                #expect(consistent, "net stop killed at \(series) \(n): recover → \(recover.status) \(recover.stderr); [\(down)]")
            }, completed: { result throws in
                #expect(result.status == 0, "\(result.stderr)")
                #expect(try system.runningConfig() == before)
            })
        }
        print("reliability: evpn on a system FRR, net start and stop killed at \(tried) points, \(lost) inconsistent")
        #expect(tried > 5 && lost == 0)
    }

    /// SIGKILL at every netlink send and file commit of `net peer add` and `net peer remove` on
    /// a running evpn network: after `qnet recover` the neighbours in the running bgpd (its own
    /// running configuration) are exactly the stored BGP peers, and the command run again
    /// completes.
    @Test(.timeLimit(.minutes(15)))
    func evpnPeerChangesKilledAtEveryPointStayConsistent() throws {
        let setup = try VXLANHosts("vkp")
        #expect(try setup.createEVPN(1, "ov", vni: 42, peers: [2]).status == 0)
        #expect(try setup.qnet(1, ["net", "start", "ov"]).status == 0)
        let (tried, lost) = try Self.peerCampaign(setup, "evpn peer") { try setup.bgpdNeighbours(1) }
        #expect(try setup.qnet(1, ["net", "stop", "ov"]).status == 0)
        print("reliability: evpn net peer add/remove killed at \(tried) points, \(lost) inconsistent")
        #expect(tried > 4 && lost == 0)
    }
}
