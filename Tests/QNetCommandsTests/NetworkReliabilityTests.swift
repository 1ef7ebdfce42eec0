import Foundation
import QNetTestSupport
import Testing

/// `net start` / `net stop` of a NAT network killed at every netlink send and every file
/// commit (journal, runtime state, configuration), run in parallel, and ip_forward left to
/// the admin — all checked with witnesses independent of qnet: `ip -j`, `nft -j list
/// tables` inside the namespace, /proc for dnsmasq and ip_forward.
@Suite(.serialized, Privileged.enabled)
struct NetworkReliabilityTests {
    /// A namespace and a state directory of its own, with NAT networks defined in it.
    final class Lab: @unchecked Sendable {
        let ns: TestNamespace
        let stateDirectory: String
        let environment: [String: String]

        init(_ label: String) throws {
            ns = try TestNamespace(label)
            stateDirectory = NSTemporaryDirectory() + "qnet-rel-\(getpid())-\(ns.name)"
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
            var environment = ProcessInfo.processInfo.environment
            environment["QNET_STATE_DIR"] = stateDirectory
            self.environment = environment
        }

        deinit {
            // Nothing may outlive the test: dnsmasq processes first, then the namespace.
            for pid in (try? dnsmasqProcesses()) ?? [] { kill(pid, SIGKILL) }
            ns.remove()
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }

        func qnet(_ arguments: [String]) throws -> CommandResult {
            try run(try qnetExecutable(), ["--netns", ns.name] + arguments, environment: environment)
        }

        /// `arguments` with `signal` delivered at the `n`-th call of one of `syscalls` (`KillInjection`).
        func qnetStopped(by signal: String = "KILL", at n: Int, of syscalls: [String], _ arguments: [String],
                         everyCallFrom: Bool = false) throws -> KillInjection.Outcome {
            try KillInjection.run(try qnetExecutable(), ["--state-dir", stateDirectory, "--netns", ns.name] + arguments,
                                  signal: signal, at: n, of: syscalls, everyCallFrom: everyCallFrom)
        }

        /// Files left in the journal directory.
        var journalFiles: [String] {
            (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory + "/run/journal")) ?? []
        }

        /// Pids of dnsmasq processes whose network namespace is this one (/proc/PID/ns/net).
        func dnsmasqProcesses() throws -> [pid_t] {
            let namespaceInode = try inode("/run/netns/\(ns.name)")
            return try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap { entry in
                guard let pid = pid_t(entry),
                      let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8),
                      comm.trimmingCharacters(in: .whitespacesAndNewlines) == "dnsmasq",
                      (try? inode("/proc/\(entry)/ns/net")) == namespaceInode else { return nil }
                return pid
            }
        }

        private func inode(_ path: String) throws -> UInt64 {
            var info = stat()
            guard stat(path, &info) == 0 else { throw TestSupportError("stat \(path): errno \(errno)") }
            return UInt64(info.st_ino)
        }

        /// What the witnesses see of qnet's networks in the namespace.
        func snapshot() throws -> Snapshot {
            let bridges = Set(try ns.json("link", "show", "type", "bridge").compactMap { $0["ifname"] as? String })
            let nft = try ns.exec("nft", ["-j", "list", "tables"])
            let tables = ((try? JSONSerialization.jsonObject(with: Data(nft.stdout.utf8)) as? [String: Any])?["nftables"]
                as? [[String: Any]] ?? []).compactMap { ($0["table"] as? [String: Any])?["name"] as? String }
            let forward = try ns.exec("cat", ["/proc/sys/net/ipv4/ip_forward"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            return Snapshot(bridges: bridges, dnsmasqCount: try dnsmasqProcesses().count, qnetTable: tables.contains("qnet"),
                            ipForward: forward)
        }

        func setIPForward(_ value: String) throws {
            #expect(try ns.exec("sysctl", ["-qw", "net.ipv4.ip_forward=\(value)"]).status == 0)
        }

        /// Temporary files of atomic writes (`.NAME.tmp-PID`) left in the state directory.
        func leftoverTemporaryFiles() throws -> [String] {
            let enumerator = FileManager.default.enumerator(atPath: stateDirectory)
            var found: [String] = []
            while let path = enumerator?.nextObject() as? String {
                if path.contains(".tmp-") { found.append(path) }
            }
            return found
        }
    }

    struct Snapshot: Equatable, CustomStringConvertible {
        var bridges: Set<String>
        var dnsmasqCount: Int
        var qnetTable: Bool
        var ipForward: String

        var description: String {
            "bridges \(bridges.sorted()), \(dnsmasqCount) dnsmasq, qnet table \(qnetTable), ip_forward \(ipForward)"
        }

        static func clean(ipForward: String) -> Snapshot { Snapshot(bridges: [], dnsmasqCount: 0, qnetTable: false, ipForward: ipForward) }
        static func started(_ bridges: Set<String>) -> Snapshot {
            Snapshot(bridges: bridges, dnsmasqCount: bridges.count, qnetTable: true, ipForward: "1")
        }
    }

    /// Netlink requests go out with sendto(2); every atomic file write (journal, runtime
    /// state, dnsmasq.conf) ends with a rename.
    static let series: [(name: String, syscalls: [String])] = [
        ("netlink send", ["sendto", "sendmsg"]), ("file commit", ["rename", "renameat", "renameat2"]),
    ]

    /// SIGKILL at every point of `net start`; the next `net start` recovers and starts the
    /// network fully, `net stop` then leaves nothing, ip_forward as before.
    @Test func netStartKilledAtEveryPointRecovers() throws {
        let lab = try Lab("kstart")
        #expect(try lab.qnet(["net", "create", "lab", "--mode", "nat"]).status == 0)
        let clean = Snapshot.clean(ipForward: "0")
        #expect(try lab.snapshot() == clean)
        var tried = 0, lost = 0, recovered = 0
        for (name, syscalls) in Self.series {
            tried += try KillInjection.everyPoint({ n in
                try lab.qnetStopped(at: n, of: syscalls, ["net", "start", "lab"])
            }, afterEach: { n, _ throws in
                let next = try lab.qnet(["net", "start", "lab"])
                if next.stderr.contains("recovered:") { recovered += 1 }
                let started = try lab.snapshot()
                let stop = try lab.qnet(["net", "stop", "lab"])
                let stopped = try lab.snapshot()
                let consistent = next.status == 0 && started == .started(["qn-lab"])
                    && stop.status == 0 && stopped == clean
                if !consistent { lost += 1 }
                #expect(consistent, "killed at \(name) \(n): start → \(next.status) \(next.stderr) [\(started)]; stop → \(stop.status) \(stop.stderr) [\(stopped)]")
            }, completed: { result throws in
                #expect(result.status == 0, "\(result.stderr)")
                #expect(try lab.qnet(["net", "stop", "lab"]).status == 0)
            })
        }
        let leftovers = try lab.leftoverTemporaryFiles()
        #expect(leftovers == [], "\(leftovers)")
        #expect(try lab.qnet(["net", "delete", "lab"]).status == 0)
        #expect(try lab.snapshot() == clean)
        print("reliability: net start killed at \(tried) points (netlink sends and file commits), \(recovered) recovered from a journal, \(lost) left the namespace inconsistent")
        #expect(tried > 10 && lost == 0)
    }

    /// SIGKILL at every point of `net stop`; the next `net stop` (or recovery) ends clean,
    /// ip_forward back to 0 every time.
    @Test func netStopKilledAtEveryPointEndsClean() throws {
        let lab = try Lab("kstop")
        #expect(try lab.qnet(["net", "create", "lab", "--mode", "nat"]).status == 0)
        let clean = Snapshot.clean(ipForward: "0")
        var tried = 0, lost = 0
        for (name, syscalls) in Self.series {
            #expect(try lab.qnet(["net", "start", "lab"]).status == 0)
            tried += try KillInjection.everyPoint({ n in
                try lab.qnetStopped(at: n, of: syscalls, ["net", "stop", "lab"])
            }, afterEach: { n, _ throws in
                let next = try lab.qnet(["net", "stop", "lab"])
                let after = try lab.snapshot()
                // Recovery may have finished the stop already: then the stop has nothing left.
                let consistent = (next.status == 0 || next.stderr.contains("not running")) && after == clean
                if !consistent { lost += 1 }
                #expect(consistent, "killed at \(name) \(n): stop → \(next.status) \(next.stderr) [\(after)]")
                #expect(try lab.qnet(["net", "start", "lab"]).status == 0)
            }, completed: { result throws in
                #expect(result.status == 0, "\(result.stderr)")
                #expect(try lab.snapshot() == clean)
            })
        }
        let leftovers = try lab.leftoverTemporaryFiles()
        #expect(leftovers == [], "\(leftovers)")
        #expect(try lab.qnet(["net", "delete", "lab"]).status == 0)
        #expect(try lab.qnet(["net", "show", "lab"]).status == 1)
        print("reliability: net stop killed at \(tried) points (netlink sends and file commits), \(lost) left the namespace inconsistent")
        #expect(tried > 5 && lost == 0)
    }

    /// SIGINT or SIGTERM at every netlink send of `net start` and `net stop` (Ctrl-C,
    /// `kill`; the two alternate from point to point, so each point is tried once): qnet
    /// itself rolls the start back (or, after its last safe point, finishes it; a stop is
    /// always finished), exits 130 / 143, and leaves no journal: the namespace is clean or
    /// fully started, never in between, with nothing to recover.
    @Test func netStartAndStopInterruptedAtEverySendExit130Or143Clean() throws {
        let lab = try Lab("sigs")
        #expect(try lab.qnet(["net", "create", "lab", "--mode", "nat"]).status == 0)
        let clean = Snapshot.clean(ipForward: "0"), started = Snapshot.started(["qn-lab"])
        var tried = 0, lost = 0
        var current = try lab.snapshot()
        for (command, before) in [("start", clean), ("stop", started)] {
            tried += try KillInjection.everyPoint({ n in
                if current != before { _ = try lab.qnet(["net", command == "start" ? "stop" : "start", "lab"]) }
                return try lab.qnetStopped(by: n % 2 == 1 ? "INT" : "TERM", at: n, of: ["sendto", "sendmsg"], ["net", command, "lab"])
            }, afterEach: { n, result throws in
                let signal = n % 2 == 1 ? "INT" : "TERM"
                current = try lab.snapshot()
                let consistent = result.status == KillInjection.exitStatus(afterSignal: signal)
                    && result.stderr.contains("interrupted by SIG\(signal)")
                    && (current == clean || current == started) && lab.journalFiles.isEmpty
                if !consistent { lost += 1 }
                #expect(consistent, "net \(command) SIG\(signal) at send \(n): exit \(result.status) \(result.stderr) [\(current)], journal \(lab.journalFiles)")
            }, completed: { result throws in
                #expect(result.status == 0, "\(result.stderr)")
                current = try lab.snapshot()
            })
        }
        // Ctrl-C at every send from the first on: a stop past its point of no return says
        // it is finishing (again for the second), ends clean, exits 130.
        if current != started { #expect(try lab.qnet(["net", "start", "lab"]).status == 0) }
        let repeated = try lab.qnetStopped(by: "INT", at: 1, of: ["sendto", "sendmsg"], ["net", "stop", "lab"], everyCallFrom: true)
        #expect(repeated.result.status == 130, "\(repeated.result.stderr)")
        #expect(repeated.result.stderr.contains("SIGINT: finishing `net stop lab` first"), "\(repeated.result.stderr)")
        #expect(repeated.result.stderr.contains("SIGINT again: finishing `net stop lab` first"), "\(repeated.result.stderr)")
        #expect(try lab.snapshot() == clean)
        #expect(try lab.qnet(["net", "delete", "lab"]).status == 0)
        print("reliability: net start/stop interrupted by SIGINT/SIGTERM at \(tried) points, \(lost) inconsistent or with a wrong exit status")
        #expect(tried > 10 && lost == 0)
    }

    /// An admin's ip_forward=1 (set before the network started) survives `net stop`, also a
    /// killed one; qnet's own 1 goes back to 0.
    @Test func adminIPForwardSurvivesNetStop() throws {
        let lab = try Lab("fwd")
        #expect(try lab.qnet(["net", "create", "lab", "--mode", "nat"]).status == 0)
        try lab.setIPForward("1")
        #expect(try lab.qnet(["net", "start", "lab"]).status == 0)
        #expect(try lab.qnet(["net", "stop", "lab"]).status == 0)
        #expect(try lab.snapshot() == .clean(ipForward: "1"))

        // qnet set it; the admin turns it off while the network runs: stop leaves it off.
        try lab.setIPForward("0")
        #expect(try lab.qnet(["net", "start", "lab"]).status == 0)
        #expect(try lab.snapshot().ipForward == "1")
        try lab.setIPForward("0")
        #expect(try lab.qnet(["net", "stop", "lab"]).status == 0)
        #expect(try lab.snapshot() == .clean(ipForward: "0"))
    }

    /// Twenty networks (as many as the planner gives, at least ten) started in parallel, then
    /// stopped in parallel: every command succeeds (the namespace lock serializes them) and
    /// the namespace is consistent after each phase.
    @Test func parallelStartsAndStopsOfDifferentNetworksStayConsistent() throws {
        let lab = try Lab("par")
        var names: [String] = []
        for index in 0..<20 {
            let create = try lab.qnet(["net", "create", "n\(index)", "--mode", "nat"])
            guard create.status == 0 else { break }
            names.append("n\(index)")
        }
        #expect(names.count >= 10)
        let starts = try parallel(names) { try lab.qnet(["net", "start", $0]) }
        #expect(starts.allSatisfy { $0.status == 0 }, "\(starts.filter { $0.status != 0 }.map(\.stderr))")
        // A network's bridge is qn-NAME unless --bridge says otherwise.
        #expect(try lab.snapshot() == .started(Set(names.map { "qn-\($0)" })))
        let stops = try parallel(names) { try lab.qnet(["net", "stop", $0]) }
        #expect(stops.allSatisfy { $0.status == 0 }, "\(stops.filter { $0.status != 0 }.map(\.stderr))")
        #expect(try lab.snapshot() == .clean(ipForward: "0"))
        print("reliability: \(names.count) net start and \(names.count) net stop in parallel: \(starts.filter { $0.status != 0 }.count + stops.filter { $0.status != 0 }.count) failed")
    }

    private func parallel(_ names: [String], _ body: @escaping @Sendable (String) throws -> CommandResult) throws -> [CommandResult] {
        nonisolated(unsafe) var results = [CommandResult?](repeating: nil, count: names.count)
        nonisolated(unsafe) var failure: Error?
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: names.count) { index in
            do {
                let result = try body(names[index])
                lock.withLock { results[index] = result }
            } catch {
                lock.withLock { failure = error }
            }
        }
        if let failure { throw failure }
        return results.compactMap { $0 }
    }
}
