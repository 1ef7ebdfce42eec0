import Foundation
import QNetTestSupport
import Testing

/// `qnet vm` end to end, as separate processes: QEMU outlives the `vm run` that started it
/// and is another process's child by the time `vm stop` or `vm kill` runs (tier 3).
@Suite(.serialized, Privileged.enabled)
struct CLIVMTests {
    /// Debian's kernel with no initrd: it panics and idles, ignoring the power button.
    static func kernel() throws -> String {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? []
        guard let name = names.filter({ $0.hasPrefix("vmlinuz-") }).sorted().last else {
            throw TestSupportError("no /boot/vmlinuz-*; `make test` installs linux-image-amd64")
        }
        return "/boot/\(name)"
    }

    /// A namespace with bridge br0, a state directory, and one VM started on br0 by
    /// `qnet vm run` (so QEMU outlives the command); the VM is killed and all removed at deinit.
    final class RunningVM {
        let ns: TestNamespace
        let state: String
        let name: String
        var global: [String] { ["--netns", ns.name, "--state-dir", state] }

        init(_ name: String) throws {
            self.name = name
            ns = try TestNamespace(name)
            try ns.ip("link", "add", "br0", "type", "bridge")
            try ns.ip("link", "set", "br0", "up")
            state = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-cli-\(name)-\(getpid())").path
            let started = try qnet(global + ["vm", "run", name, "--memory", "128", "--accel", "tcg", "--nic", "bridge=br0",
                                             "--kernel", try CLIVMTests.kernel(), "--append", "console=ttyS0 panic=0", "--user", "nobody"])
            guard started.status == 0 else { throw TestSupportError("vm run \(name) failed: \(started.stderr)") }
        }

        deinit {
            _ = try? qnet(global + ["vm", "kill", name])
            try? FileManager.default.removeItem(atPath: state)
        }
    }

    /// `vm stop` returns only once QEMU has exited: right after it, the pid is gone from the
    /// process table and the VM's TAP from the namespace (QEMU's main thread turns zombie
    /// before its other threads have closed the TAPs, and keeps the pid until reaped).
    @Test(.timeLimit(.minutes(15)))
    func vmStopReturnsOnceQEMUIsGone() throws {
        let vm = try RunningVM("stop1")
        defer { withExtendedLifetime(vm) {} }
        let ns = vm.ns, global = vm.global
        let status = try qnet(global + ["vm", "status", "stop1", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        let pid = try #require(object?["pid"] as? Int32, "\(status.stdout)")
        #expect(try ns.json("link", "show", "type", "tun").count == 1)

        let stopped = try qnet(global + ["vm", "stop", "stop1", "--timeout", "1"])
        #expect(stopped.status == 0, "\(stopped.stderr)")
        let gone = kill(pid, 0) != 0 && errno == ESRCH
        let stateLetter = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: ")").last?.split(separator: " ").first
        #expect(gone, "QEMU (pid \(pid)) still exists after vm stop returned, state \(stateLetter.map(String.init) ?? "?")")
        #expect(try ns.json("link", "show", "type", "tun").isEmpty)
    }

    /// A running VM's bridge and TAP are not pulled from under it: `bridge delete` and
    /// `tap delete` exit 1 naming the VM and change nothing, unless --force.
    @Test(.timeLimit(.minutes(15)))
    func deletingARunningVMsBridgeOrTAPIsRefusedUnlessForced() throws {
        let vm = try RunningVM("busy1")
        defer { withExtendedLifetime(vm) {} }
        let ns = vm.ns, global = vm.global
        let tap = try #require(try ns.json("link", "show", "type", "tun").first?["ifname"] as? String)
        let before = try ns.stateSummary()

        for arguments in [["bridge", "delete", "br0"], ["tap", "delete", tap]] {
            let refused = try qnet(global + arguments)
            #expect(refused.status == 1, "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.split(separator: "\n").count == 1, "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.contains("'busy1'") && refused.stderr.contains(tap) && refused.stderr.contains("--force"),
                    "\(arguments): \(refused.stderr)")
        }
        #expect(try ns.stateSummary() == before)

        #expect(try qnet(global + ["tap", "delete", tap, "--force"]).status == 0)
        #expect(try ns.link(tap) == nil)
        #expect(try qnet(global + ["bridge", "delete", "br0", "--force"]).status == 0)
        #expect(try ns.link("br0") == nil)
    }
}
