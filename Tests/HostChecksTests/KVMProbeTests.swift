import Foundation
@testable import HostChecks
import QNetTestSupport
import Testing
import QNetSystem

/// Children of this test process whose command line mentions `marker` (a probe
/// must leave none behind; other suites may be running probes of their own meanwhile).
func children(mentioning marker: String) -> [Int32] {
    let me = getpid()
    return (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { entry -> Int32? in
        guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8) else { return nil }
        // "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, Int32(fields[1]) == me else { return nil }
        let commandLine = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline"))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return commandLine.contains(marker) ? pid : nil
    } ?? []
}

@Suite(.serialized) struct KVMProbeTests {
    let qemu = "/usr/bin/qemu-system-x86_64"

    @Test func imageHasAValidMultibootHeader() {
        let image = KVMProbe.image()
        func u32(_ offset: Int) -> UInt32 { image[offset..<offset + 4].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) } }
        #expect(image.count == 0x4000)
        #expect(u32(0) == 0x1BAD_B002)
        #expect(u32(4) == 0x0001_0000)
        #expect(u32(0) &+ u32(4) &+ u32(8) == 0)
        #expect(u32(12) == 0x10_0000 && u32(16) == 0x10_0000 && u32(20) == 0x10_4000 && u32(24) == 0 && u32(28) == 0x10_0020)
        // The loop count sits in `mov rcx, imm32` at 0x87.
        #expect(u32(0x87) == KVMProbe.loopIterations)
        #expect(KVMProbe.image(loopIterations: 5)[0x87] == 5)
    }

    /// The probe itself can succeed: the same image under TCG reaches every stage and
    /// makes QEMU exit 67.
    @Test func tcgRunsTheTestGuestToCompletion() throws {
        let fixture = try Fixture()
        let result = KVMProbe.run(qemu: qemu, accelerator: "tcg", timeout: .seconds(20), temporaryBase: fixture.path)
        #expect(result.verdict == .runsGuests, "\(result)")
        #expect(result.stagesReached == "3PLE")
        #expect(result.canRunGuests)
        print("probe under TCG: \(result.seconds) s")
        #expect(children(mentioning: fixture.path).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.path) == ["bin"], "the probe's files were left behind")
    }

    /// A guest that gets to 64-bit mode and then crawls (what a nested PVM KVM does) is
    /// killed at the timeout and explained. The stand-in QEMU writes the stages such a guest
    /// reaches to the probe's debugcon file, then hangs; the machine's own KVM plays no part.
    @Test func slowGuestIsKilledAtTheTimeoutAndExplained() throws {
        let fixture = try Fixture()
        // The stage file is the path= of `-chardev file,id=stages,path=...`.
        try fixture.script("qemu", """
            for argument in "$@"; do
                case "$argument" in file,id=stages,path=*) printf 3PL > "${argument#file,id=stages,path=}" ;; esac
            done
            exec sleep 30.5151
            """)
        let result = KVMProbe.run(qemu: fixture.full("bin/qemu"), accelerator: "kvm", timeout: .seconds(1), temporaryBase: fixture.path)
        #expect(result.verdict == .stalled, "\(result)")
        #expect(!result.canRunGuests)
        #expect(result.stagesReached == "3PL")
        #expect(result.detail.contains("did not finish within 1 s and was killed: it reached 64-bit mode"), "\(result.detail)")
        // Killed at the timeout, not before it.
        #expect(result.seconds >= 1, "\(result.seconds) s")
        #expect(children(mentioning: "30.5151").isEmpty, "the killed stand-in was left behind")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.path) == ["bin"], "the probe's files were left behind")
    }

    @Test func failedQEMUIsReportedWithItsMessage() throws {
        let fixture = try Fixture()
        try fixture.script("qemu", "echo 'qemu-system-x86_64: warning: host does not support something' >&2\necho 'Could not access KVM kernel module: Permission denied' >&2\nexit 1")
        let result = KVMProbe.run(qemu: fixture.full("bin/qemu"), timeout: .seconds(5))
        #expect(result.verdict == .failed)
        #expect(result.detail == "QEMU exited with status 1 under KVM: Could not access KVM kernel module: Permission denied")
    }

    @Test func hungQEMUIsKilledAtTheTimeout() throws {
        let fixture = try Fixture()
        try fixture.script("qemu", "exec sleep 30.4242")
        let result = KVMProbe.run(qemu: fixture.full("bin/qemu"), timeout: .milliseconds(300))
        #expect(result.verdict == .stalled)
        #expect(result.detail.contains("never reached its first instruction"))
        #expect(children(mentioning: "30.4242").isEmpty, "the hung child was left behind")
    }

    @Test func stagesExplainAStall() {
        let slow = KVMProbe.interpret(.timedOut, stages: "3PL", seconds: 5, errors: "", accelerator: "kvm", timeout: .seconds(5))
        #expect(slow.detail.contains("reached 64-bit mode"))
        let paging = KVMProbe.interpret(.timedOut, stages: "3", seconds: 5, errors: "", accelerator: "kvm", timeout: .seconds(5))
        #expect(paging.detail.contains("never got through enabling paging"))
        let ok = KVMProbe.interpret(.exited(67), stages: "3PLE", seconds: 0.01, errors: "", accelerator: "kvm", timeout: .seconds(5))
        #expect(ok.verdict == .runsGuests)
        let signal = KVMProbe.interpret(.signaled(11), stages: "", seconds: 0.01, errors: "", accelerator: "kvm", timeout: .seconds(5))
        #expect(signal.verdict == .failed && signal.detail.contains("signal 11"))
    }

    /// The verdict cache planted as a symlink to a file claiming KVM runs guests (which
    /// would send `--accel auto` to a /dev/kvm that hangs them): not believed, the probe
    /// runs, and its verdict is not written through the link.
    @Test func aSymlinkedVerdictCacheIsNeitherBelievedNorWrittenThrough() throws {
        let fixture = try Fixture()
        try fixture.write("boot_id", "11111111-2222-3333-4444-555555555555\n")
        let qemu = fixture.full("bin/qemu"), cache = fixture.full("run/qnet"), bootID = fixture.full("boot_id")
        // A genuine "runs guests" verdict for this boot and QEMU, moved aside as the bait.
        try fixture.script("qemu", "exit 67")
        #expect(KVMProbe.cached(qemu: qemu, cacheDirectory: fixture.full("real"), bootIDPath: bootID).verdict == .runsGuests)
        let planted = fixture.full("planted.json")
        #expect(rename(fixture.full("real/kvm-probe.json"), planted) == 0)
        let bait = try String(contentsOfFile: planted, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        #expect(symlink(planted, cache + "/kvm-probe.json") == 0)

        try fixture.script("qemu", "exit 1")
        #expect(KVMProbe.cachedResult(qemu: qemu, cacheDirectory: cache, bootIDPath: bootID) == nil, "believed the planted verdict")
        let fresh = KVMProbe.cached(qemu: qemu, cacheDirectory: cache, bootIDPath: bootID)
        #expect(!fresh.fromCache && fresh.verdict == .failed)
        try fixture.script("qemu", "exit 67")
        #expect(!KVMProbe.cached(qemu: qemu, cacheDirectory: cache, bootIDPath: bootID).fromCache)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: cache + "/kvm-probe.json")) == planted)
        #expect(try String(contentsOfFile: planted, encoding: .utf8) == bait)
    }

    /// The verdict is kept per boot and per QEMU binary; failures are not kept.
    @Test func cacheIsKeyedByBootIDAndQEMU() throws {
        let fixture = try Fixture()
        try fixture.write("boot_id", "11111111-2222-3333-4444-555555555555\n")
        try fixture.script("qemu", "exit 67")
        let qemu = fixture.full("bin/qemu"), cache = fixture.full("run/qnet"), bootID = fixture.full("boot_id")
        #expect(KVMProbe.cachedResult(qemu: qemu, cacheDirectory: cache, bootIDPath: bootID) == nil)
        let first = KVMProbe.cached(qemu: qemu, cacheDirectory: cache, bootIDPath: bootID)
        #expect(first.verdict == .runsGuests && !first.fromCache)
        // Now QEMU would fail, but the cached verdict answers without running it.
        try fixture.script("qemu", "exit 1")
        let second = KVMProbe.cached(qemu: qemu, cacheDirectory: cache, bootIDPath: bootID)
        #expect(second.verdict == .runsGuests && second.fromCache)
        let mode = try #require(FileFacts(path: cache + "/kvm-probe.json")).mode
        #expect(mode == 0o644)
        // Another QEMU binary is probed afresh.
        try fixture.script("qemu2", "exit 67")
        #expect(!KVMProbe.cached(qemu: fixture.full("bin/qemu2"), cacheDirectory: cache, bootIDPath: bootID).fromCache)
        // A new boot invalidates it; the failure that follows is not cached.
        try fixture.write("boot_id", "66666666-2222-3333-4444-555555555555\n")
        let third = KVMProbe.cached(qemu: qemu, cacheDirectory: cache, bootIDPath: bootID)
        #expect(third.verdict == .failed && !third.fromCache)
        #expect(KVMProbe.cachedResult(qemu: qemu, cacheDirectory: cache, bootIDPath: bootID) == nil)
    }

    /// Users who cannot write /run/qnet keep the verdict in $XDG_RUNTIME_DIR/qnet.
    @Test func runtimeDirectoryFallbackForTheDefaultCache() throws {
        let saved = getenv("XDG_RUNTIME_DIR").map { String(cString: $0) }
        defer { if let saved { setenv("XDG_RUNTIME_DIR", saved, 1) } else { unsetenv("XDG_RUNTIME_DIR") } }
        setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1)
        #expect(KVMProbe.cacheDirectories("/run/qnet") == ["/run/qnet", "/run/user/1000/qnet"])
        #expect(KVMProbe.cacheDirectories("/elsewhere") == ["/elsewhere"])
        unsetenv("XDG_RUNTIME_DIR")
        #expect(KVMProbe.cacheDirectories("/run/qnet") == ["/run/qnet"])
    }
}
