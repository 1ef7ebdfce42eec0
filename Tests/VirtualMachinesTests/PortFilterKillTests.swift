import Foundation
import QNetSystem
import QNetTestSupport
import Testing
@testable import VirtualMachines

/// `qnet vm run` of a filtered VM (`--nic bridge=br0,filter=on,ip=...`) and `qnet vm kill`
/// of it, each SIGKILLed at every state or journal write (rename, unlink) and every process
/// it starts (clone: nft, QEMU), so also between the TAP's creation and the filter's install
/// and in the middle of the removal. After each kill the next command (`vm list`) puts it
/// right: a VM it shows (running) has its rules in qnet's bridge table; once it is gone no
/// rule set, chain or journal of it is left. Witnesses: `nft list ruleset` in the namespace,
/// the journal folder, /proc.
@Suite(.serialized, Privileged.enabled)
struct PortFilterKillTests {
    static let name = "pfk"
    /// A state directory of this suite's own: every VM command repairs every dead VM of its
    /// state directory, so with the shared one another suite's `vm list` could repair this
    /// suite's killed VM while the test's own next command skips it (its lock busy), and the
    /// kill points would count other VMs' writes. Inside VMTestState's, removed with it.
    static let stateDirectory: String = {
        let path = VMTestState.directory + "/port-filter-kill"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o755)
        return path
    }()

    static func runArguments(_ fixture: VMFixture) throws -> [String] {
        ["--state-dir", stateDirectory, "--netns", fixture.ns.name, "vm", "run", name, "--memory", "128", "--kernel", try VMTestState.kernel,
         "--append", "console=ttyS0 panic=0", "--accel", "tcg", "--user", "nobody", "--nic", "bridge=br0,filter=on,ip=192.0.2.10"]
    }

    static func ruleset(_ fixture: VMFixture) throws -> String {
        try fixture.ns.exec("nft", ["list", "ruleset"]).stdout
    }

    /// Journals of the bridge table's scope of this fixture's namespace left in the state
    /// directory. The scope is `port-filters-DEV-INODE` of the namespace; other suites share
    /// the state directory and start filtered VMs in their own namespaces at the same time,
    /// so their journals (a different inode) are not this test's.
    static func filterJournals(_ fixture: VMFixture) -> [String] {
        var status = stat()
        guard stat("/run/netns/\(fixture.ns.name)", &status) == 0 else { return ["cannot stat /run/netns/\(fixture.ns.name)"] }
        let scope = "port-filters-\(status.st_dev)-\(status.st_ino)."
        return ((try? FileManager.default.contentsOfDirectory(atPath: "\(stateDirectory)/run/journal")) ?? [])
            .filter { $0.hasPrefix(scope) || $0.hasPrefix("." + scope) }
    }

    /// The next command, then the verdict: listed → filtered (its TAP's chain in the table);
    /// then ended, and nothing of its filter left. Returns whether it was listed, and whether
    /// a filter journal was recovered (said on stderr by the next command or the kill).
    static func checkAfterKill(_ fixture: VMFixture, point: String) throws -> (listed: Bool, recovered: Bool) {
        // The next command, as a user would run it (its stderr says what it recovered).
        let next = try VMInterruptedStartTests.qnet(fixture, ["vm", "list"], stateDirectory: stateDirectory)
        #expect(next.status == 0, "\(point): \(next.stderr)")
        var recovered = next.stderr.contains("recovered:") && next.stderr.contains("anti-spoofing rules of VM")
        let vms = try VMInterruptedStartTests.listed(fixture, stateDirectory: stateDirectory)
        if vms[name] == nil {
            // Repaired: the paused QEMU stopped, its rules removed and the journal with them.
            #expect(filterJournals(fixture).isEmpty, "\(point): journal left after the next command: \(filterJournals(fixture))")
        } else {
            // Adopted (killed after the guest was continued): the journal, if left, is
            // completed by the next filter change, below.
            let taps = try fixture.tapNames()
            let rules = try ruleset(fixture)
            #expect(!taps.isEmpty && taps.allSatisfy { rules.contains("chain port-\($0)") },
                    "\(point): VM \(name) runs with TAPs \(taps) but its rules are missing:\n\(rules)")
            let killed = try VMInterruptedStartTests.qnet(fixture, ["vm", "kill", name], stateDirectory: stateDirectory)
            #expect(killed.status == 0, "\(point): \(killed.stderr)")
            recovered = recovered || killed.stderr.contains("recovered:") && killed.stderr.contains("anti-spoofing rules of VM")
        }
        let gone = try waitUntil(timeout: 10, interval: 0.05) {
            try VMInterruptedStartTests.qemuPids(name, stateDirectory: stateDirectory).isEmpty && fixture.tapNames().isEmpty
        }
        #expect(gone, "\(point): QEMU \(VMInterruptedStartTests.qemuPids(name, stateDirectory: stateDirectory)) or TAPs left")
        let rules = try ruleset(fixture)
        #expect(!rules.contains("qnet-filter"), "\(point): orphaned rule set:\n\(rules)")
        #expect(filterJournals(fixture).isEmpty, "\(point): journal left: \(filterJournals(fixture))")
        return (vms[name] != nil, recovered)
    }

    static let killPoints: [[String]] = [["rename", "renameat", "renameat2"], ["unlink", "unlinkat"], ["clone", "clone3", "vfork"]]

    @Test func vmRunKilledAtEveryWriteAndSpawnLeavesNoUnfilteredVMAndNoOrphanedRules() throws {
        let fixture = try VMFixture("pfkrun")
        let qnet = try qnetExecutable()
        let arguments = try Self.runArguments(fixture)
        var tried = 0, listed = 0, recovered = 0
        for syscalls in Self.killPoints {
            let points = try KillInjection.everyPoint({ n in
                try KillInjection.run(qnet, arguments, at: n, of: syscalls)
            }, afterEach: { n, _ in
                let verdict = try Self.checkAfterKill(fixture, point: "vm run killed at \(syscalls[0]) #\(n)")
                if verdict.listed { listed += 1 }
                if verdict.recovered { recovered += 1 }
            }, completed: { result in
                #expect(result.status == 0, "vm run without a kill: \(result.stderr)")
                #expect(try Self.ruleset(fixture).contains("chain port-"), "the uninjected start has no rules")
                _ = try Self.checkAfterKill(fixture, point: "uninjected run")
            })
            tried += points
            #expect(points > 0, "vm run made no \(syscalls) call to kill it at")
        }
        print("filtered vm run kill points: \(tried) tried, \(listed) left a running (filtered) VM, \(recovered) left a filter journal the next command recovered")
        #expect(recovered > 0, "no kill point fell inside the journaled filter install")
    }

    /// A dead filtered VM of namespace A found by a command acting in namespace B (any VM
    /// command repairs every dead VM of the state directory): its rules go from A, B's stay.
    @Test func aDeadVMsRulesAreRemovedFromItsOwnNamespaceByACommandInAnother() throws {
        let own = try VMFixture("pfkown"), other = try VMFixture("pfkother")
        let started = try run(try qnetExecutable(), try Self.runArguments(own))
        try #require(started.status == 0, "\(started.stderr)")
        #expect(try Self.ruleset(own).contains("chain port-"))
        for pid in VMInterruptedStartTests.qemuPids(Self.name, stateDirectory: Self.stateDirectory) { kill(pid, SIGKILL) }
        let dead = try waitUntil(timeout: 10, interval: 0.05) { VMInterruptedStartTests.qemuPids(Self.name, stateDirectory: Self.stateDirectory).isEmpty }
        try #require(dead, "QEMU of \(Self.name) still runs")
        let listed = try VMInterruptedStartTests.listed(other, stateDirectory: Self.stateDirectory)
        #expect(listed[Self.name] == nil)
        let ownRules = try Self.ruleset(own), otherRules = try Self.ruleset(other)
        #expect(!ownRules.contains("qnet-filter"), "rules left in the VM's own namespace:\n\(ownRules)")
        #expect(!otherRules.contains("qnet-filter"), "\(otherRules)")
        #expect(Self.filterJournals(own).isEmpty && Self.filterJournals(other).isEmpty)
    }

    @Test func vmKillKilledAtEveryWriteAndSpawnLeavesNoOrphanedRules() throws {
        let fixture = try VMFixture("pfkkill")
        let qnet = try qnetExecutable()
        var tried = 0, recovered = 0
        for syscalls in Self.killPoints {
            let points = try KillInjection.everyPoint({ n in
                let started = try run(qnet, try Self.runArguments(fixture))
                try #require(started.status == 0, "\(started.stderr)")
                return try KillInjection.run(qnet, ["--state-dir", Self.stateDirectory, "--netns", fixture.ns.name, "vm", "kill", Self.name], at: n, of: syscalls)
            }, afterEach: { n, _ in
                if try Self.checkAfterKill(fixture, point: "vm kill killed at \(syscalls[0]) #\(n)").recovered { recovered += 1 }
            }, completed: { result in
                #expect(result.status == 0, "vm kill without a kill: \(result.stderr)")
                _ = try Self.checkAfterKill(fixture, point: "uninjected kill")
            })
            tried += points
        }
        #expect(tried > 0)
        print("filtered vm kill kill points: \(tried) tried, \(recovered) left a filter journal the next command recovered")
    }
}

/// A network's runtime state.json planted as a symlink (its dnsmasq pid is what `net stop`
/// signals): not read through, not written through, left as it is.
@Suite struct NetworkStateTreeTests {
    @Test func aSymlinkedNetworkStateIsNeitherReadNorWrittenThrough() throws {
        _ = VMTestState.directory
        let store = NetworkStore()
        let name = "planted\(getpid() % 10000)"
        let directory = store.runtimePath(name)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let json = #"{"name":"\#(name)","bridgeCreated":false,"firewall":false,"changedSysctls":{},"dnsmasqPid":1,"dnsmasqStartTime":1}"#
        let target = "\(FileManager.default.temporaryDirectory.path)/qnet-netstate-\(getpid())"
        try Data(json.utf8).write(to: URL(fileURLWithPath: target))
        defer { unlink(target) }
        #expect(symlink(target, "\(directory)/state.json") == 0)

        #expect(store.runtimeState(name) == nil, "read through the planted link")
        let state = try JSONDecoder().decode(NetworkRuntimeState.self, from: Data(json.utf8))
        let error = try #require(throws: SystemError.self) { try store.saveRuntimeState(state) }
        #expect(error.description.contains("\(directory)/state.json") && error.description.contains("symbolic link"), "\(error)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == json)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/state.json")) == target)
    }
}
