import Foundation
import QNetTestSupport
import Testing

/// `qnet apply` is one transaction: killed (SIGKILL, `KillInjection`) at each of its
/// netlink sends in turn while it creates br0 with eth0 as uplink, an address and a route,
/// and defines and starts a NAT network (bridge, gateway address, dnsmasq, nftables,
/// ip_forward), the next qnet command (`qnet recover`) puts the namespace back exactly as
/// before: `ip -j link`, `ip -j addr` and `ip -j route show table all` byte for byte
/// (`exactState`), no dnsmasq of the network, no nftables table, no network definition,
/// no journal.
@Suite(Privileged.enabled, .serialized)
struct ApplyKillTests {
    @Test func killAtEveryStepOfAnApplyIsRolledBackByTheNextCommand() throws {
        let lab = try ApplyTests.Lab("akill")
        try lab.write("bridges/br0.yaml", ApplyTests.seedBridge + "\n- to: 10.99.0.0/16\n  via: 192.168.100.254\n  metric: 20\n")
        try lab.write("networks/kl.yaml", "mode: nat\nbridge: qn-kl\nsubnet: 10.0.214.0/24\nautostart: true\n")
        let before = try lab.host.exactState()
        let forwarding = try lab.host.exec("cat", ["/proc/sys/net/ipv4/ip_forward"]).stdout
        let arguments = ["apply"] + lab.common
        var recovered = 0
        let points = try KillInjection.everyPoint({ point in
            try KillInjection.run(try qnetExecutable(), arguments, signal: "KILL", at: point, of: ["sendto", "sendmsg"])
        }, afterEach: { (point: Int, result: CommandResult) throws in
            let context = "killed at netlink send \(point)"
            #expect(result.status == 9, "\(context): \(result.stdout) \(result.stderr)")
            let recover = try lab.qnet(["recover"])
            #expect(recover.status == 0, "\(context): recover: \(recover.stdout) \(recover.stderr)")
            if recover.stdout.hasPrefix("recovered:") || recover.stderr.contains("recovered:") { recovered += 1 }
            let after = try lab.host.exactState()
            #expect(after == before, "\(context): not as before:\n\(after)\nbefore:\n\(before)")
            try expectNoNetworkLeft(lab, context)
        }, completed: { (result: CommandResult) throws in
            #expect(result.status == 0, "the full apply: \(result.stdout) \(result.stderr)")
            #expect(try lab.master("eth0") == "br0")
            #expect(try lab.addresses("qn-kl") == ["10.0.214.1/24"])
            #expect(Self.dnsmasqs(lab).count == 1, "the witness sees the network's dnsmasq")
        })
        #expect(points >= 10, "the apply was stopped at \(points) points")
        #expect(recovered >= 1, "some point left something to roll back")
        print("apply kill campaign: \(points) points, \(recovered) rolled back by the next command")
        _ = try lab.qnet(["net", "stop", "kl"])
        #expect(try lab.host.exec("cat", ["/proc/sys/net/ipv4/ip_forward"]).stdout == forwarding)
    }

    /// A VM started by apply is part of its transaction: killed at each QMP command
    /// (`sendmsg`: a kill before `cont` leaves QEMU paused) and each journal and state-file
    /// write (`rename`) of an apply that starts an autostart VM (QEMU under TCG,
    /// no NIC, idling in its firmware), the next command (`qnet recover`) leaves no QEMU of
    /// it, nothing `vm list` shows and no journal; a VM start that fails after another VM
    /// started takes that one back too (in-process rollback).
    @Test func killAtEveryWriteOfAnApplyStartingAVMLeavesNoVM() throws {
        let lab = try ApplyTests.Lab("akvm")
        try lab.write("vms/a.yaml", "memory: 64\naccel: tcg\nnics: []\nautostart: true\n")
        let before = try lab.host.exactState()
        let arguments = ["apply"] + lab.common
        var recovered = 0
        // QMP commands and netlink sends (sendmsg; a kill before `cont` leaves QEMU paused),
        // journal and state files (renamed into place): strace counts each call separately.
        let points = try applyVMKillCampaign(lab, arguments, before: before, at: [["sendmsg"], ["rename", "renameat", "renameat2"]],
                                             afterRecover: { (_: String, recover: CommandResult) throws in
            if recover.stdout.contains("VM a stopped") { recovered += 1 }
        }, completed: { (result: CommandResult) throws in
            #expect(result.status == 0, "the full apply: \(result.stdout) \(result.stderr)")
            #expect(try lab.qnet(["vm", "list"]).stdout.contains("a "), "the VM runs after a full apply")
        }, between: {
            _ = try lab.qnet(["vm", "kill", "a"])
        })
        #expect(points >= 3, "the apply was stopped at \(points) points")
        #expect(recovered >= 1, "some point left a running VM for recovery to stop")
        print("apply VM kill campaign: \(points) points, \(recovered) with a running VM stopped by the next command")

        // In-process: VM b cannot start (its kernel is missing), so VM a, started before it
        // in the same apply, is stopped again.
        try lab.write("vms/b.yaml", "memory: 64\naccel: tcg\nkernel: /nonexistent/vmlinuz\nnics: []\nautostart: true\n")
        let failed = try lab.qnet(["apply"])
        #expect(failed.status != 0 && failed.stderr.contains("/nonexistent/vmlinuz"), "\(failed.stdout) \(failed.stderr)")
        #expect(failed.stdout.contains("> start VM a"), "\(failed.stdout)")
        try expectNoVM(lab, "after a failed apply")
    }

    /// A filtered VM started by apply (`bridge=brf, filter=on, ip=`, on a bridge the same
    /// apply creates) has its rules installed under the bridge table's journal, as `vm run`
    /// does. Killed at each process start (nft, QEMU) and each journal and state-file write,
    /// `qnet recover` alone leaves no rule set (`nft list tables`), no journal, and then no
    /// QEMU, nothing `vm list` shows and the namespace as before.
    @Test func killAtEveryWriteAndSpawnOfAnApplyStartingAFilteredVMLeavesNoRules() throws {
        let lab = try ApplyTests.Lab("akpf")
        try lab.write("bridges/brf.yaml", "addresses: [192.0.2.1/24]\n")
        try lab.write("vms/a.yaml", "memory: 64\naccel: tcg\nnics:\n  - bridge: brf\n    filter: true\n    ip: [192.0.2.10]\nautostart: true\n")
        let before = try lab.host.exactState()
        let arguments = ["apply"] + lab.common
        var filterRecovered = 0
        let points = try applyVMKillCampaign(lab, arguments, before: before, at: [["clone", "clone3", "vfork"], ["rename", "renameat", "renameat2"]],
                                             afterRecover: { (context: String, recover: CommandResult) throws in
            if (recover.stdout + recover.stderr).contains("anti-spoofing rules of VM a") { filterRecovered += 1 }
            // What recover alone did, before `vm list` (in expectNoVM) could repair anything.
            let tables = try lab.host.exec("nft", ["list", "tables"]).stdout
            #expect(!tables.contains("qnet-filter"), "\(context): rules left after recover: \(tables)")
            #expect(lab.journals.isEmpty, "\(context): journal left after recover: \(lab.journals)")
        }, completed: { (result: CommandResult) throws in
            #expect(result.status == 0, "the full apply: \(result.stdout) \(result.stderr)")
            #expect(try lab.host.exec("nft", ["list", "table", "bridge", "qnet-filter"]).stdout.contains("192.0.2.10"),
                    "the VM runs with its rules after a full apply")
        }, between: {
            _ = try lab.qnet(["vm", "kill", "a"])
            try lab.host.ip("link", "del", "brf")  // the full apply's bridge: the next campaign starts as before
        })
        #expect(points >= 3, "the apply was stopped at \(points) points")
        #expect(filterRecovered >= 1, "no kill point fell inside the journaled filter install")
        print("apply filtered-VM kill campaign: \(points) points, \(filterRecovered) with the VM's rules removed by recover")
    }

    /// Kills `qnet apply` (SIGKILL) at each call of each list of `syscalls` in turn; after each
    /// kill `qnet recover` must succeed, `afterRecover` sees what it did (before anything else
    /// runs), and then no VM a is left and the namespace is as `before`. `completed` checks the
    /// full apply of each list, `between` undoes it. Returns the points tried.
    func applyVMKillCampaign(_ lab: ApplyTests.Lab, _ arguments: [String], before: String, at syscallLists: [[String]],
                             afterRecover: (String, CommandResult) throws -> Void, completed: (CommandResult) throws -> Void,
                             between: () throws -> Void) throws -> Int {
        var points = 0
        for syscalls in syscallLists {
            points += try KillInjection.everyPoint({ point in
                try KillInjection.run(try qnetExecutable(), arguments, signal: "KILL", at: point, of: syscalls)
            }, afterEach: { (point: Int, _: CommandResult) throws in
                let context = "killed at \(syscalls[0]) \(point)"
                let recover = try lab.qnet(["recover"])
                #expect(recover.status == 0, "\(context): recover: \(recover.stdout) \(recover.stderr)")
                try afterRecover(context, recover)
                try expectNoVM(lab, context)
                #expect(try lab.host.exactState() == before, "\(context)")
            }, completed: completed)
            try between()
        }
        return points
    }

    /// No QEMU of VM a (found by the VM directory in its environment), nothing listed, no journal.
    func expectNoVM(_ lab: ApplyTests.Lab, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let marker = "QNET_VM_DIRECTORY=\(lab.stateDirectory)/run/vms/a"
        let qemus = { ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { entry in
            guard Int32(entry) != nil, let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { return false }
            return environment.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == marker }
        } }
        #expect(try waitUntil(timeout: 10, interval: 0.05) { qemus().isEmpty }, "\(context): QEMU of VM a left: \(qemus())", sourceLocation: sourceLocation)
        let list = try lab.qnet(["vm", "list"])
        #expect(list.stdout.contains("no VMs running"), "\(context): \(list.stdout) \(list.stderr)", sourceLocation: sourceLocation)
        #expect(lab.journals.isEmpty, "\(context): journal left: \(lab.journals)", sourceLocation: sourceLocation)
    }

    /// A try that starts a network, whose qnet is SIGKILLed while it waits: the watchdog
    /// rolls the whole transaction back at the deadline, the network's dnsmasq, nftables
    /// table and definition included, and ip -j prints what it printed before.
    @Test func killedTryWithANetworkIsRolledBackWhole() throws {
        let lab = try ApplyTests.Lab("aktn")
        try lab.write("bridges/br0.yaml", ApplyTests.seedBridge)
        try lab.write("networks/kl.yaml", "mode: nat\nbridge: qn-kl\nsubnet: 10.0.214.0/24\nautostart: true\n")
        let before = try lab.host.exactState()
        let process = try lab.start(["--try", "--timeout", "3"])
        let trialFile = lab.stateDirectory + "/run/apply-try.json"
        #expect(try waitUntil(timeout: 30, interval: 0.05) { FileManager.default.fileExists(atPath: trialFile) && !lab.watchdogs.isEmpty })
        #expect(try lab.addresses("qn-kl") == ["10.0.214.1/24"], "the network was started")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(try waitUntil(timeout: 30, interval: 0.1) { lab.journals.isEmpty && lab.watchdogs.isEmpty }, "rolled back by the watchdog")
        try expectNoNetworkLeft(lab, "after the watchdog's rollback")
        let after = try lab.host.exactState()
        #expect(after == before, "after:\n\(after)\nbefore:\n\(before)")
    }

    /// Processes whose command line has a --conf-file under the lab's state directory (/proc).
    static func dnsmasqs(_ lab: ApplyTests.Lab) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { entry in
            guard Int32(entry) != nil, let line = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
            return line.split(separator: 0).contains { String(decoding: $0, as: UTF8.self).hasPrefix("--conf-file=\(lab.stateDirectory)/") }
        }
    }

    /// Nothing of the network outlives the rollback: its dnsmasq, qnet's nftables table, its
    /// definition and runtime state, ip_forward, and every journal.
    func expectNoNetworkLeft(_ lab: ApplyTests.Lab, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dnsmasqs = Self.dnsmasqs(lab)
        #expect(dnsmasqs.isEmpty, "\(context): a dnsmasq of the network still runs: \(dnsmasqs)", sourceLocation: sourceLocation)
        let tables = try lab.host.exec("nft", ["list", "tables"]).stdout
        #expect(!tables.contains("qnet"), "\(context): nftables: \(tables)", sourceLocation: sourceLocation)
        let list = try lab.qnet(["net", "list", "--json"])
        #expect(!list.stdout.contains("\"kl\""), "\(context): the network is still defined: \(list.stdout)", sourceLocation: sourceLocation)
        #expect(lab.journals.isEmpty, "\(context): journal left: \(lab.journals)", sourceLocation: sourceLocation)
    }
}
