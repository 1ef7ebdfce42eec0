import Foundation
import QNetTestSupport
import Testing

/// What one fault-injection campaign saw.
struct FaultCounts: CustomStringConvertible {
    var label: String
    var points = 0
    var connectivityLost = 0
    var recovered = 0

    var description: String {
        "fault injection: \(label): \(points) points tried, \(recovered) needed recovery, connectivity lost after \(connectivityLost)"
    }
}

/// The real `qnet` binary, stopped by a signal at each of its netlink sends (and at each
/// write of its journal) in turn, the way a user's Ctrl-C, `kill` or a lost SSH session
/// would stop it: `strace -e inject=sendto,sendmsg:signal=SIG:when=N` delivers SIG at the
/// N-th send, for N = 1, 2, ... until the command runs to its end untouched. After each
/// stop the next qnet command (`qnet recover`, or any command that takes the lock) must
/// leave the namespace exactly as before the command or as after it (`ip -j addr` and
/// `ip -j route show table all`, normalised), with the gateway answering ping.
///
/// The uplink is the one the issue measured: eth0 with two IPv4 addresses of one subnet
/// and one IPv6 address, a default route per family, a route with metric 50 and routes
/// in table 100 (see `UplinkNamespaces`).
@Suite(Privileged.enabled)
struct FaultInjectionTests {
    /// One lab: a host namespace with its uplink, the LAN, and a state directory.
    final class Lab: @unchecked Sendable {
        let namespaces: UplinkNamespaces
        let stateDirectory: String
        let before: String
        let bridged: String

        init(_ label: String) throws {
            namespaces = try UplinkNamespaces(label)
            stateDirectory = NSTemporaryDirectory() + "qnet-faults-\(getpid())-\(label)"
            try? FileManager.default.removeItem(atPath: stateDirectory)
            let host = namespaces.host
            let common = ["--netns", host.name, "--state-dir", stateDirectory]
            let before = try host.normalizedState()
            self.before = before
            let create = try QNetCommandsTests.qnet(common + ["bridge", "create", "br0", "--uplink", "eth0"])
            guard create.status == 0 else { throw TestSupportError("bridge create failed: \(create.stderr)") }
            bridged = try host.normalizedState()
            let delete = try QNetCommandsTests.qnet(common + ["bridge", "delete", "br0"])
            guard delete.status == 0, try host.normalizedState() == before else {
                throw TestSupportError("bridge delete failed or did not restore the uplink: \(delete.stderr)")
            }
        }

        deinit {
            namespaces.remove()
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }

        /// `qnet --netns HOST --state-dir DIR ARGS...`.
        func qnet(_ arguments: [String]) throws -> CommandResult {
            try QNetCommandsTests.qnet(["--netns", namespaces.host.name, "--state-dir", stateDirectory] + arguments)
        }

        /// The same with `signal` delivered at the `when`-th call of one of `syscalls` (`KillInjection`).
        func qnet(_ arguments: [String], signal: String, at when: Int, syscalls: [String]) throws -> KillInjection.Outcome {
            try KillInjection.run(try qnetExecutable(), ["--netns", namespaces.host.name, "--state-dir", stateDirectory] + arguments,
                                  signal: signal, at: when, of: syscalls)
        }

        var state: String { get throws { try namespaces.host.normalizedState() } }

        /// `state`, with MACs qnet picks at random (52:54:00:..., fe:...) masked when asked.
        func state(masking: Bool) throws -> String {
            let text = try state
            guard masking else { return text }
            return text.replacingOccurrences(of: #""(52:54:00|fe)(:[0-9a-f]{2}){3,5}""#, with: "\"random-mac\"", options: .regularExpression)
        }

        /// Files left in the journal directory (journals, temporary files).
        var journalFiles: [String] {
            (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory + "/run/journal")) ?? []
        }

        /// Ping the gateway (both families), retried for up to 3 s: a bridge port that just
        /// got carrier may take a moment (linkwatch) before it forwards.
        func gatewayAnswers() throws -> Bool {
            try waitUntil(timeout: 3, interval: 0.05) { try namespaces.gatewayAnswers() }
        }
    }

    /// A command to stop part-way, the two states it may leave, and how to get back to the
    /// state it starts from.
    struct Scenario {
        var arguments: [String]
        /// The namespace before (`start`) and after (`end`) an uninterrupted run.
        var start: String
        var end: String
        /// Brings the namespace from `end` back to `start`.
        var undo: [String]
        /// Masks MACs qnet picks at random (a plain bridge's, a TAP's), which differ per run.
        var masksRandomMACs = false

        static func create(_ lab: Lab) -> Scenario {
            Scenario(arguments: ["bridge", "create", "br0", "--uplink", "eth0"], start: lab.before, end: lab.bridged,
                     undo: ["bridge", "delete", "br0"])
        }

        static func delete(_ lab: Lab) -> Scenario {
            Scenario(arguments: ["bridge", "delete", "br0"], start: lab.bridged, end: lab.before,
                     undo: ["bridge", "create", "br0", "--uplink", "eth0"])
        }
    }

    /// Runs the scenario's command stopped by `signal` at every `syscalls` call in turn;
    /// records per point whether the state was right and the gateway answered.
    func campaign(_ lab: Lab, _ scenario: Scenario, signal: String, syscalls: [String] = ["sendto", "sendmsg"],
                  sourceLocation: SourceLocation = #_sourceLocation) throws -> FaultCounts {
        var counts = FaultCounts(label: "`qnet \(scenario.arguments.joined(separator: " "))`, SIG\(signal) at \(syscalls.joined(separator: ","))")
        let mask = scenario.masksRandomMACs
        // The namespace as the last point left it (read once per point, after recovery).
        var current = try lab.state(masking: mask)
        counts.points = try KillInjection.everyPoint({ point in
            if current != scenario.start {
                let reset = try lab.qnet(scenario.undo)
                try #require(reset.status == 0, "back to the start state: \(reset.stderr)", sourceLocation: sourceLocation)
            }
            return try lab.qnet(scenario.arguments, signal: signal, at: point, syscalls: syscalls)
        }, afterEach: { point, result in
            let context = "stopped by SIG\(signal) at call \(point) of \(syscalls.joined(separator: ","))"
            if let expected = KillInjection.exitStatus(afterSignal: signal) {
                // Deferred to a safe point, then rolled back (or finished) by qnet itself:
                // 130 after SIGINT, 143 after SIGTERM, 129 after SIGHUP; no journal left.
                #expect(result.status == expected, "\(context): exit \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
                #expect(result.stderr.contains("interrupted by SIG\(signal)"), "\(context): \(result.stderr)", sourceLocation: sourceLocation)
                #expect(lab.journalFiles.isEmpty, "\(context): journal left: \(lab.journalFiles)", sourceLocation: sourceLocation)
            } else {
                // (Foundation's Process reports a death by signal as the signal number.)
                #expect(result.status == 9, "\(context): \(result.stderr)", sourceLocation: sourceLocation)
            }
            // The next qnet command recovers what is left.
            let recover = try lab.qnet(["recover"])
            #expect(recover.status == 0, "\(context): recover: \(recover.stdout) \(recover.stderr)", sourceLocation: sourceLocation)
            if recover.stdout.hasPrefix("recovered:") { counts.recovered += 1 }
            #expect(!recover.stdout.contains("failed"), "\(context): \(recover.stdout)", sourceLocation: sourceLocation)
            // Polled for up to 3 s: after a rollback brings br0 up again, the kernel re-adds the
            // local routes of its IPv6 addresses from a workqueue (addrconf's DAD work, even for
            // nodad addresses), which under load runs after qnet has exited.
            _ = try waitUntil(timeout: 3, interval: 0.05) {
                current = try lab.state(masking: mask)
                return current == scenario.start || current == scenario.end
            }
            #expect(current == scenario.start || current == scenario.end,
                    "\(context): the namespace is neither as before nor as after:\n\(current)\nbefore:\n\(scenario.start)\nafter:\n\(scenario.end)",
                    sourceLocation: sourceLocation)
            #expect(lab.journalFiles.isEmpty, "\(context): left in the journal directory: \(lab.journalFiles)", sourceLocation: sourceLocation)
            if try !lab.gatewayAnswers() {
                counts.connectivityLost += 1
                Issue.record("\(context): the gateway does not answer", sourceLocation: sourceLocation)
            }
        }, completed: { result in
            #expect(result.status == 0, "uninterrupted run: \(result.stderr)", sourceLocation: sourceLocation)
            current = try lab.state(masking: mask)
        })
        print(counts)
        return counts
    }

    @Test func bridgeCreateWithUplinkKilledAtEverySend() throws {
        let lab = try Lab("fkc")
        let counts = try campaign(lab, .create(lab), signal: "KILL")
        #expect(counts.points >= 20)
        #expect(counts.recovered > 0)
    }

    @Test func bridgeDeleteKilledAtEverySend() throws {
        let lab = try Lab("fkd")
        let counts = try campaign(lab, .delete(lab), signal: "KILL")
        #expect(counts.points >= 15)
        #expect(counts.recovered > 0)
    }

    @Test func bridgeCreateAndDeleteInterruptedAtEverySend() throws {
        let lab = try Lab("fki")
        for signal in ["INT", "TERM"] {
            let create = try campaign(lab, .create(lab), signal: signal)
            let delete = try campaign(lab, .delete(lab), signal: signal)
            #expect(create.points >= 20 && delete.points >= 15)
            // qnet undid (or finished) it itself: nothing was left to recover.
            #expect(create.recovered == 0 && delete.recovered == 0)
        }
    }

    /// A lost SSH session: SIGHUP at every send of the uplink move leaves the host reachable.
    @Test func bridgeCreateHungUpAtEverySend() throws {
        let lab = try Lab("fkh")
        let counts = try campaign(lab, .create(lab), signal: "HUP")
        #expect(counts.points >= 20 && counts.recovered == 0)
    }

    /// Kill points at each write of the journal: its fsyncs, renames and unlinks.
    @Test func killedAtEveryJournalWrite() throws {
        let lab = try Lab("fkj")
        let syscalls = ["fsync", "rename", "renameat", "renameat2", "unlink", "unlinkat"]
        let create = try campaign(lab, .create(lab), signal: "KILL", syscalls: syscalls)
        let delete = try campaign(lab, .delete(lab), signal: "KILL", syscalls: syscalls)
        #expect(create.points >= 3 && delete.points >= 3)
    }

    /// A plain bridge with an address, and a persistent TAP attached to it: killed at every
    /// netlink send and every ioctl (TUNSETIFF, TUNSETPERSIST), nothing half-made is left.
    @Test func plainBridgeAndTAPCreateKilledAtEverySendAndIoctl() throws {
        let lab = try Lab("fkt")
        let bridgeArguments = ["bridge", "create", "br9", "--address", "10.9.0.1/24"]
        try #require(try lab.qnet(bridgeArguments).status == 0)
        let withBridge = try lab.state(masking: true)
        #expect(try lab.qnet(["bridge", "delete", "br9"]).status == 0)
        let bridge = try campaign(lab, Scenario(arguments: bridgeArguments, start: lab.before, end: withBridge,
                                                undo: ["bridge", "delete", "br9"], masksRandomMACs: true),
                                  signal: "KILL")
        #expect(bridge.points >= 3 && bridge.recovered > 0)

        if try lab.state(masking: true) != withBridge { try #require(try lab.qnet(bridgeArguments).status == 0) }
        let tapArguments = ["tap", "create", "tap0", "--bridge", "br9"]
        try #require(try lab.qnet(tapArguments).status == 0)
        let withTAP = try lab.state(masking: true)
        #expect(try lab.qnet(["tap", "delete", "tap0"]).status == 0)
        let tap = try campaign(lab, Scenario(arguments: tapArguments, start: withBridge, end: withTAP, undo: ["tap", "delete", "tap0"],
                                             masksRandomMACs: true),
                               signal: "KILL", syscalls: ["sendto", "sendmsg", "ioctl"])
        #expect(tap.points >= 3 && tap.recovered > 0)
    }

    /// A killed command is recovered by whatever qnet command takes the lock next, which
    /// says so in one line on stderr before doing its own work.
    @Test func theNextLockingCommandRecoversAndSaysSoInOneLine() throws {
        let lab = try Lab("fkn")
        // Killed after the bridge exists and eth0 is its port (call 12: moving routes).
        let killed = try lab.qnet(Scenario.create(lab).arguments, signal: "KILL", at: 12, syscalls: ["sendto", "sendmsg"])
        #expect(killed.injected && killed.result.status == 9)  // SIGKILL, as Foundation's Process reports it
        #expect(lab.journalFiles.count == 1)
        let next = try lab.qnet(["bridge", "create", "br1"])
        #expect(next.status == 0, "\(next.stderr)")
        let lines = next.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(next.stderr)")
        #expect(lines.first?.hasPrefix("qnet: recovered: rolled back an interrupted `qnet --netns \(lab.namespaces.host.name)") == true)
        #expect(lines.first?.contains("bridge create br0 --uplink eth0` (pid ") == true)
        #expect(lines.first?.hasSuffix("eth0 has 192.168.1.10/24, 192.168.1.11/24, 2001:db8::10/64, the default routes and 3 other routes again") == true,
                "\(next.stderr)")
        #expect(lab.journalFiles.isEmpty)
        #expect(try lab.qnet(["bridge", "delete", "br1"]).status == 0)
        #expect(try lab.state == lab.before)
        #expect(try lab.gatewayAnswers())
    }

    /// Two `bridge create --uplink eth0` at once: one wins, the other exits 1 naming the
    /// winner (the lock holder's pid and command while it waits, or the winner's bridge),
    /// and the host stays online.
    @Test func twoConcurrentUplinkMovesOneWinsTheHostStaysOnline() throws {
        let lab = try Lab("fkr")
        for round in 0..<6 {
            let group = DispatchGroup()
            nonisolated(unsafe) var results: [String: CommandResult] = [:]
            let lock = NSLock()
            for bridge in ["br0", "br1"] {
                group.enter()
                DispatchQueue.global().async {
                    let result = try? lab.qnet(["bridge", "create", bridge, "--uplink", "eth0"])
                    lock.lock()
                    results[bridge] = result
                    lock.unlock()
                    group.leave()
                }
            }
            group.wait()
            let statuses = results.mapValues(\.status)
            #expect(statuses.values.sorted() == [0, 1], "round \(round): \(results.mapValues { $0.stderr })")
            guard let winner = statuses.first(where: { $0.value == 0 })?.key,
                  let loser = statuses.first(where: { $0.value == 1 })?.key else { continue }
            let loserError = results[loser]?.stderr ?? ""
            #expect(loserError.contains("'eth0' already belongs to '\(winner)'") || loserError.contains("bridge create \(winner)"),
                    "round \(round): \(loserError)")
            #expect(try lab.gatewayAnswers(), "round \(round)")
            #expect(try lab.qnet(["bridge", "delete", winner]).status == 0)
            #expect(try lab.state == lab.before, "round \(round)")
        }
    }
}
