import Foundation
import QNetSystem
import QNetTestSupport
import Testing

/// `qnet vm run` killed at every netlink send and every state-file write, and five starts
/// of one name at once: afterwards each QEMU is tracked (`vm list` shows it, `vm stop`
/// ends it) or gone with its TAPs. Witnesses: /proc (QEMUs whose -pidfile is in the VM's
/// directory) and `ip -j link` (TAPs).
@Suite(.serialized, Privileged.enabled)
struct VMInterruptedStartTests {
    /// `qnet --netns NS vm run NAME` of the idling kernel on br0.
    static func runArguments(_ fixture: VMFixture, _ name: String) throws -> [String] {
        ["--netns", fixture.ns.name, "vm", "run", name, "--memory", "128", "--kernel", try VMTestState.kernel,
         "--append", "console=ttyS0 panic=0", "--accel", "tcg", "--user", "nobody", "--nic", "bridge=br0"]
    }

    static func qnet(_ fixture: VMFixture, _ arguments: [String], stateDirectory: String? = nil) throws -> CommandResult {
        try run(try qnetExecutable(), (stateDirectory.map { ["--state-dir", $0] } ?? []) + ["--netns", fixture.ns.name] + arguments)
    }

    /// QEMUs started for VM `name` of this test run: processes of a qemu-system binary
    /// holding a descriptor on its directory's QMP socket or console log, or carrying the
    /// directory in their environment (how qnet itself finds one it did not record).
    static func qemuPids(_ name: String, stateDirectory: String = VMTestState.directory) -> [Int32] {
        let directory = "\(stateDirectory)/run/vms/\(name)"
        let files = FileManager.default
        return ((try? files.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry),
                  let exe = try? files.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"), exe.contains("qemu-system") else { return nil }
            let environment = files.contents(atPath: "/proc/\(pid)/environ") ?? Data()
            if environment.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "QNET_VM_DIRECTORY=\(directory)" }) {
                return pid
            }
            let descriptors = (try? files.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            return descriptors.contains { ((try? files.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) ?? "").hasPrefix(directory + "/") }
                ? pid : nil
        }
    }

    /// The VMs `qnet vm list --json` shows, by name.
    static func listed(_ fixture: VMFixture, stateDirectory: String? = nil) throws -> [String: Int32] {
        let result = try qnet(fixture, ["vm", "list", "--json"], stateDirectory: stateDirectory)
        guard result.status == 0 else { throw TestSupportError("vm list failed: \(result.stderr)") }
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let vms = report?["vms"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: vms.compactMap { vm in
            (vm["name"] as? String).map { ($0, Int32(vm["pid"] as? Int ?? 0)) }
        })
    }

    /// After a kill: the next command either shows the VM (its QEMU is the one process and
    /// `vm stop` ends it with its TAP) or no QEMU and no TAP of it remain. Returns whether it
    /// was adopted; records an issue (an orphan) otherwise.
    /// `stop`: how the listed VM is ended (`vm stop` proves an adopted VM can be stopped;
    /// `vm kill` is quicker where that is not the point).
    static func checkTrackedOrGone(_ fixture: VMFixture, _ name: String, point: String,
                                   stop verb: String = "stop") throws -> (adopted: Bool, orphan: Bool) {
        let vms = try listed(fixture)
        if let pid = vms[name] {
            let pids = qemuPids(name)
            #expect(pids == [pid], "\(point): vm list shows pid \(pid), running QEMUs of \(name): \(pids)")
            let stop = try qnet(fixture, verb == "stop" ? ["vm", "stop", name, "--timeout", "1"] : ["vm", verb, name])
            #expect(stop.status == 0, "\(point): vm \(verb) of the listed VM: \(stop.stderr)")
        }
        let gone = try waitUntil(timeout: 10, interval: 0.05) { try qemuPids(name).isEmpty && fixture.tapNames().isEmpty }
        let leftTAPs = (try? fixture.tapNames()) ?? []
        #expect(gone, "\(point): left QEMU \(qemuPids(name)) and TAPs \(leftTAPs) untracked")
        #expect(!FileManager.default.fileExists(atPath: "\(VMTestState.directory)/run/vms/\(name)"), "\(point): state left after stop")
        return (vms[name] != nil, !gone)
    }

    @Test func killedAtEveryNetlinkSendAndStateWriteLeavesNoUntrackedQEMU() throws {
        let fixture = try VMFixture("vmkillpts")
        let qnet = try qnetExecutable()
        let arguments = try Self.runArguments(fixture, "kp")
        var tried = 0, adopted = 0, orphans = 0
        // Netlink sends (bridge lookup, TAPs, attach checks) are sendto, QMP commands
        // (capabilities, cont) sendmsg; state files (starting record, state.json right after
        // the spawn and after cont) are renamed into place. strace counts each syscall
        // separately, so each gets its own pass: every call of each is one kill point.
        for syscalls in [["sendto"], ["sendmsg"], ["rename", "renameat", "renameat2"]] {
            let points = try KillInjection.everyPoint({ n in
                try KillInjection.run(qnet, arguments, at: n, of: syscalls)
            }, afterEach: { n, _ in
                let verdict = try Self.checkTrackedOrGone(fixture, "kp", point: "kill at \(syscalls[0]) #\(n)")
                if verdict.adopted { adopted += 1 }
                if verdict.orphan { orphans += 1 }
            }, completed: { result in
                // Past the last call: an ordinary start, which must have succeeded.
                #expect(result.status == 0, "vm run without a kill: \(result.stderr)")
                _ = try Self.checkTrackedOrGone(fixture, "kp", point: "uninjected run", stop: "kill")
            })
            tried += points
            #expect(points > 0, "vm run made no \(syscalls) call to kill it at")
        }
        print("vm run kill points: \(tried) tried, \(adopted) adopted by the next command, \(tried - adopted - orphans) cleaned up, \(orphans) orphans")
        #expect(orphans == 0)
    }

    /// Ctrl-C and `kill` during `vm run` (SIGINT at every netlink send, SIGTERM at every
    /// state-file write): qnet undoes the start itself (QEMU, TAPs and directory gone) or,
    /// once QEMU runs, finishes it (the VM is listed), and exits 130 / 143; the next
    /// command has nothing to recover.
    @Test func interruptedAtEverySendAndStateWriteUndoesOrFinishesAndExits130Or143() throws {
        let fixture = try VMFixture("vmsig")
        let qnet = try qnetExecutable()
        let arguments = try Self.runArguments(fixture, "sg")
        var tried = 0, finished = 0, wrong = 0
        for (signal, syscalls) in [("INT", ["sendto"]), ("TERM", ["rename", "renameat", "renameat2"])] {
            let status = try #require(KillInjection.exitStatus(afterSignal: signal))
            tried += try KillInjection.everyPoint({ n in
                try KillInjection.run(qnet, arguments, signal: signal, at: n, of: syscalls)
            }, afterEach: { n, result in
                let point = "SIG\(signal) at \(syscalls[0]) #\(n)"
                let list = try Self.qnet(fixture, ["vm", "list"])
                let right = result.status == status && result.stderr.contains("interrupted by SIG\(signal)")
                    && !list.stderr.contains("recovered")
                #expect(right, "\(point): exit \(result.status): \(result.stderr); vm list: \(list.stderr)")
                if !right { wrong += 1 }
                let verdict = try Self.checkTrackedOrGone(fixture, "sg", point: point, stop: "kill")
                if verdict.adopted { finished += 1 }
                if verdict.orphan { wrong += 1 }
            }, completed: { result in
                #expect(result.status == 0, "vm run without a signal: \(result.stderr)")
                _ = try Self.checkTrackedOrGone(fixture, "sg", point: "uninterrupted run", stop: "kill")
            })
        }
        print("vm run interrupted by SIGINT/SIGTERM at \(tried) points: \(finished) finished (VM running), \(tried - finished - wrong) undone, \(wrong) wrong")
        #expect(tried >= 5 && finished > 0 && wrong == 0)
    }

    /// A VM with a passt NIC killed at every state-file write: the passt daemon started for
    /// it is stopped by the next command (found by its recorded identity, or by its socket
    /// path in the VM's directory when the kill came before the record) and its socket goes.
    @Test func killedAfterPasstStartedLeavesNoPasst() throws {
        try #require(Subprocess.which("passt") != nil, "passt is not installed (it is in the Makefile's TEST_PACKAGES)")
        let fixture = try VMFixture("vmpasst")
        // passt needs an interface with a default route to forward through.
        try fixture.ns.ip("link", "add", "up0", "type", "veth", "peer", "name", "up1")
        try fixture.ns.ip("addr", "add", "10.77.0.1/24", "dev", "up0")
        try fixture.ns.ip("link", "set", "up1", "up")
        try fixture.ns.ip("link", "set", "up0", "up")
        try fixture.ns.ip("route", "add", "default", "via", "10.77.0.254", "dev", "up0")
        let qnet = try qnetExecutable()
        var arguments = try Self.runArguments(fixture, "ps")
        arguments[arguments.count - 1] = "user,backend=passt"
        let directory = "\(VMTestState.directory)/run/vms/ps"
        func passts() -> [Int32] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
                guard let pid = Int32(entry), let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
                return String(decoding: line, as: UTF8.self).contains("\(directory)/passt/passt-") ? pid : nil
            }
        }
        var tried = 0, left = 0
        tried = try KillInjection.everyPoint({ n in
            try KillInjection.run(qnet, arguments, at: n, of: ["rename", "renameat", "renameat2"])
        }, afterEach: { n, _ in
            let hadPasst = !passts().isEmpty
            _ = try Self.checkTrackedOrGone(fixture, "ps", point: "kill at rename #\(n) (passt running: \(hadPasst))", stop: "kill")
            let gone = try waitUntil(timeout: 5, interval: 0.05) { passts().isEmpty }
            if !gone { left += 1 }
            #expect(gone, "kill at rename #\(n): passt \(passts()) left running")
            #expect(!FileManager.default.fileExists(atPath: "\(directory)/passt-0.sock"))
        }, completed: { result in
            #expect(result.status == 0, "vm run without a kill: \(result.stderr)")
            _ = try Self.checkTrackedOrGone(fixture, "ps", point: "uninjected run", stop: "kill")
            #expect(try waitUntil(timeout: 5, interval: 0.05) { passts().isEmpty })
        })
        print("vm run with passt killed at \(tried) state-file writes: \(left) left a passt running")
        #expect(tried >= 3 && left == 0)
    }

    @Test func fiveStartsOfOneNameGiveOneVMAndFourClearErrors() throws {
        let fixture = try VMFixture("vmfive")
        let qnet = try qnetExecutable()
        let arguments = try Self.runArguments(fixture, "five")
        nonisolated(unsafe) var results: [CommandResult?] = Array(repeating: nil, count: 5)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 5) { index in
            let result = try? run(qnet, arguments)
            lock.lock(); results[index] = result; lock.unlock()
        }
        let finished = results.compactMap { $0 }
        #expect(finished.count == 5)
        #expect(finished.filter { $0.status == 0 }.count == 1, "\(finished.map(\.stderr))")
        for failure in finished where failure.status != 0 {
            #expect(failure.status == 1)
            let message = failure.stderr
            #expect(message.contains("VM five is being started by pid") || message.contains("a VM named 'five' is already running"), "\(message)")
            #expect(!message.contains("No such file or directory"), "\(message)")
        }
        let vms = try Self.listed(fixture)
        #expect(vms.keys.filter { $0 == "five" }.count == 1)
        #expect(Self.qemuPids("five") == vms["five"].map { [$0] }, "QEMUs of five: \(Self.qemuPids("five"))")
        #expect(try fixture.tapNames().count == 1)
        let stop = try Self.qnet(fixture, ["vm", "kill", "five"])
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(try waitUntil(timeout: 10, interval: 0.05) { try Self.qemuPids("five").isEmpty && fixture.tapNames().isEmpty })
    }
}
