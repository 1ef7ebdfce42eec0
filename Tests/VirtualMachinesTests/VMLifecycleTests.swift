import Foundation
import HostNetwork
import Netlink
import QNetTestSupport
import Testing
@testable import VirtualMachines

/// A throwaway qnet state directory for VM tests (QNET_STATE_DIR), shared by the process
/// and removed when it exits (the guest image cached there is 13 MB).
enum VMTestState {
    static let prefix = "qnet-vmtests-"

    static let directory: String = {
        removeDirectoriesOfEndedRuns()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)\(getpid())").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o755)
        setenv("QNET_STATE_DIR", path, 1)
        atexit { VMTestState.checkForLeftoversAndRemove() }
        return path
    }()

    /// Leftover check, run at exit when every test is done: a VM or network still recorded as
    /// running means a test left QEMU or dnsmasq behind, and fails the run. Then the
    /// directory goes, whatever was found.
    static func checkForLeftoversAndRemove() {
        let files = FileManager.default
        let running = ["run/vms", "run/networks"].flatMap { folder in
            ((try? files.contentsOfDirectory(atPath: "\(directory)/\(folder)")) ?? []).compactMap { name -> String? in
                var isDirectory: ObjCBool = false
                let path = "\(directory)/\(folder)/\(name)"
                return files.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue ? "\(folder)/\(name)" : nil
            }
        }
        try? files.removeItem(atPath: directory)
        if !running.isEmpty {
            FileHandle.standardError.write(Data("VM tests left these running (state in \(directory)): \(running.joined(separator: ", "))\n".utf8))
            _exit(1)
        }
    }

    /// A run killed before its exit handler leaves its directory; the next run removes the
    /// directories of processes that no longer exist.
    static func removeDirectoriesOfEndedRuns() {
        let base = FileManager.default.temporaryDirectory.path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: "\(base)/\(name)")
        }
    }

    /// Debian's kernel: with no initrd it panics at once and then idles, which is all a
    /// lifecycle test needs (it also ignores the ACPI power button).
    static var kernel: String {
        get throws {
            let boot = (try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? []
            guard let name = boot.filter({ $0.hasPrefix("vmlinuz-") }).sorted().last else {
                throw TestSupportError("no /boot/vmlinuz-*; `make test` installs linux-image-amd64")
            }
            return "/boot/\(name)"
        }
    }
}

/// A bridge in a fresh namespace and a VM manager acting there.
struct VMFixture {
    let ns: TestNamespace
    let host: HostNetwork
    let manager: VMManager

    init(_ label: String) throws {
        _ = VMTestState.directory
        ns = try TestNamespace(label)
        host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br0", mtu: 1400)
        manager = VMManager(host: host, netns: ns.name, kvmRunsGuests: { _ in (false, "tests run under TCG") })
    }

    func definition(_ name: String, nics: [NICSpec] = [NICSpec(bridge: "br0")]) throws -> VMDefinition {
        VMDefinition(name: name, memory: 128, nics: nics, kernel: try VMTestState.kernel, append: "console=ttyS0 panic=0",
                     accel: .tcg, user: "nobody")
    }

    func tapNames() throws -> Set<String> {
        Set(try ns.json("link", "show", "type", "tun").compactMap { $0["ifname"] as? String })
    }
}

@Suite(.serialized, Privileged.enabled)
struct VMLifecycleTests {
    @Test func runAttachesTAPsAndHandsOnlyDescriptorsToAnUnprivilegedQEMU() throws {
        let fixture = try VMFixture("vmrun")
        let state = try fixture.manager.run(try fixture.definition("life1", nics: [NICSpec(bridge: "br0"), NICSpec(bridge: "br0", model: .e1000, mac: "52:54:00:aa:bb:cc")]))
        defer { try? fixture.manager.kill("life1") }

        #expect(state.nics.count == 2)
        for nic in state.nics {
            let link = try #require(try fixture.ns.link(nic.tap))
            #expect(link["master"] as? String == "br0")
            #expect(link["mtu"] as? Int == 1400)
            let info = (link["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any]
            #expect(info?["vnet_hdr"] as? Bool == true)
            #expect(info?["persist"] as? Bool == false)
        }
        #expect(state.nics[1].mac == "52:54:00:aa:bb:cc")
        #expect(state.nics[0].mac == GuestMAC.derived(vm: "life1", nicIndex: 0).description)

        // QEMU runs as nobody, was given fds (no ifname=, no script=) and is running.
        let status = try String(contentsOfFile: "/proc/\(state.pid)/status", encoding: .utf8)
        let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") } ?? ""
        #expect(uidLine.split(separator: "\t").dropFirst().allSatisfy { $0 == "65534" })
        #expect(state.arguments.contains { $0.hasPrefix("tap,id=net0,fd=3") })
        #expect(!state.arguments.contains { $0.contains("ifname=") || $0.contains("script=") })
        #expect(try fixture.manager.status("life1").runState == "running")
        #expect(try fixture.manager.list().contains { $0.name == "life1" && $0.runState == "running" })
    }

    @Test func killMinusNineRemovesTheTAPs() throws {
        let fixture = try VMFixture("vmkill")
        let state = try fixture.manager.run(try fixture.definition("kill1"))
        let tap = try #require(state.nics.first?.tap)
        #expect(try fixture.ns.link(tap) != nil)
        kill(state.pid, SIGKILL)
        // Polled with a generous deadline: how fast the kernel tears the TAP down is not
        // what this test checks.
        #expect(try waitUntil(timeout: 10) { try fixture.ns.link(tap) == nil })
        // The dead VM's state is noticed and cleaned by list (the process may take a moment
        // to finish exiting after its descriptors are closed).
        #expect(try waitUntil(timeout: 2) { try !fixture.manager.list().contains { $0.name == "kill1" } })
        #expect(!FileManager.default.fileExists(atPath: VMStore.directory(for: "kill1")))
    }

    @Test func stopFallsBackToQuitWhenTheGuestIgnoresACPI() throws {
        let fixture = try VMFixture("vmstop")
        let state = try fixture.manager.run(try fixture.definition("stop1"))
        let started = Date()
        let outcome = try fixture.manager.stop("stop1", timeout: 1.5)
        #expect(outcome == .quitAfterTimeout)
        #expect(Date().timeIntervalSince(started) >= 1.5)
        #expect(kill(state.pid, 0) != 0)
        #expect(try fixture.tapNames().isEmpty)
    }

    @Test func badInputLeavesNothingRunningAndNoTAP() throws {
        let fixture = try VMFixture("vmbad")
        let kernel = try VMTestState.kernel
        let before = try fixture.ns.linkNames()
        func expectFailure(_ definition: VMDefinition, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                try fixture.manager.run(definition)
                Issue.record("\(definition.name) started", sourceLocation: sourceLocation)
            } catch {
                #expect(String(describing: error).contains(text), "\(error)", sourceLocation: sourceLocation)
            }
            #expect((try? fixture.ns.linkNames()) == before, sourceLocation: sourceLocation)
        }
        expectFailure(VMDefinition(name: "b1", disks: ["/nonexistent/disk.img"], accel: .tcg, user: "nobody"), "disk '/nonexistent/disk.img' does not exist")
        expectFailure(VMDefinition(name: "b2", cdrom: "/nonexistent.iso", accel: .tcg, user: "nobody"), "ISO '/nonexistent.iso' does not exist")
        expectFailure(VMDefinition(name: "b3", kernel: "/nonexistent/vmlinuz", accel: .tcg, user: "nobody"), "kernel '/nonexistent/vmlinuz' does not exist")
        expectFailure(VMDefinition(name: "b4", cpus: 0, accel: .tcg), "invalid CPU count '0'")
        expectFailure(VMDefinition(name: "b5", nics: [NICSpec(bridge: "nobr0")], kernel: kernel, accel: .tcg, user: "nobody"), "no interface named 'nobr0'")
        expectFailure(VMDefinition(name: "bad name", accel: .tcg), "invalid VM name 'bad name'")
        expectFailure(VMDefinition(name: "b6", nics: [NICSpec(bridge: "br0")], kernel: kernel, accel: .tcg, user: "no-such-user-q"), "user 'no-such-user-q' does not exist")
        // QEMU rejecting its arguments: its stderr is shown and no TAP survives.
        expectFailure(VMDefinition(name: "b7", nics: [NICSpec(bridge: "br0")], kernel: kernel, accel: .tcg, user: "nobody",
                                   extraArguments: ["-bogus-option"]), "-bogus-option")

        // A MAC already used by a running VM, and a duplicate name.
        _ = try fixture.manager.run(try fixture.definition("dup1", nics: [NICSpec(bridge: "br0", mac: "52:54:00:00:00:01")]))
        defer { try? fixture.manager.kill("dup1") }
        let running = try fixture.ns.linkNames()
        do {
            try fixture.manager.run(try fixture.definition("dup2", nics: [NICSpec(bridge: "br0", mac: "52:54:00:00:00:01")]))
            Issue.record("a duplicate MAC was accepted")
        } catch let error as VMError {
            #expect(error == .macInUse(mac: "52:54:00:00:00:01", vm: "dup1"))
        }
        do {
            try fixture.manager.run(try fixture.definition("dup1"))
            Issue.record("a duplicate name was accepted")
        } catch let error as VMError {
            guard case .duplicateName("dup1", _) = error else { Issue.record("\(error)"); return }
        }
        #expect(try fixture.ns.linkNames() == running)
    }

    /// A kernel where QEMU's user cannot go (a 0700 directory, as `mktemp -d` makes) still
    /// boots: qnet opens it and QEMU reads it as /proc/self/fd/N.
    @Test func aKernelInAPrivateDirectoryIsHandedToQEMUAsADescriptor() throws {
        let fixture = try VMFixture("vmprivate")
        let directory = try PrivateDirectory()
        defer { withExtendedLifetime(directory) {} }
        let kernel = "\(directory.path)/vmlinuz"
        try FileManager.default.copyItem(atPath: try VMTestState.kernel, toPath: kernel)
        chmod(kernel, 0o644)
        let nobody = try #require(UserAccount.lookup("nobody"))
        #expect(!nobody.canAccess(kernel), "the test needs a kernel that nobody cannot reach by path")

        var definition = try fixture.definition("private1")
        definition.kernel = kernel
        let state = try fixture.manager.run(definition)
        defer { try? fixture.manager.kill("private1") }
        let position = try #require(state.arguments.firstIndex(of: "-kernel"))
        let passed = state.arguments[position + 1]
        #expect(passed.hasPrefix("/proc/self/fd/"), "\(passed)")
        // Witness: QEMU's own descriptor table holds the kernel file.
        let descriptor = String(passed.dropFirst("/proc/self/fd/".count))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(state.pid)/fd/\(descriptor)") == kernel)
        #expect(try fixture.manager.status("private1").runState == "running")

        // A kernel whose own mode shuts QEMU's user out as well: handed over as a sealed
        // in-memory copy (a memfd QEMU reopens through its own descriptor).
        chmod(kernel, 0o600)
        definition.name = "private2"
        let copied = try fixture.manager.run(definition)
        defer { try? fixture.manager.kill("private2") }
        let copiedPosition = try #require(copied.arguments.firstIndex(of: "-kernel"))
        let copiedDescriptor = String(copied.arguments[copiedPosition + 1].dropFirst("/proc/self/fd/".count))
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(copied.pid)/fd/\(copiedDescriptor)")
        #expect(target.hasPrefix("/memfd:qnet-kernel"), "\(target)")
        #expect(try fixture.manager.status("private2").runState == "running")
    }

    /// A network boot (`--boot n`, no kernel) shows the firmware in console.log: SeaBIOS's
    /// banner and iPXE's, mirrored on the serial port (QEMU's graphics=off).
    @Test(.timeLimit(.minutes(15)))
    func aNetworkBootShowsTheFirmwareInTheConsoleLog() throws {
        let fixture = try VMFixture("vmpxe")
        let state = try fixture.manager.run(VMDefinition(name: "pxe1", memory: 128, boot: "n", nics: [NICSpec(bridge: "br0")],
                                                         accel: .tcg, user: "nobody"))
        defer { try? fixture.manager.kill("pxe1") }
        #expect(state.arguments.contains("q35,graphics=off"))
        var console = ""
        let seen = try waitUntil(timeout: 60, interval: 0.2) {
            console = (try? String(contentsOfFile: state.consoleLog, encoding: .isoLatin1)) ?? ""
            return console.contains("SeaBIOS") && console.contains("iPXE")
        }
        #expect(seen, "console.log after 60 s: \(console.prefix(400))")
    }

    /// `qnet probe nosuch` fails on the name before any image is built or VM started.
    @Test func probeChecksItsTargetBeforeAskingForTheImage() throws {
        let fixture = try VMFixture("probenone")
        let asked = Flag()
        let prober = Prober(manager: fixture.manager, image: {
            asked.set()
            throw TestSupportError("the image was asked for")
        })
        #expect(throws: HostNetworkError.noSuchDevice("nosuch")) { try prober.run(ProbeRequest(bridge: "nosuch", accel: .tcg)) }
        #expect(throws: HostNetworkError.notABridge("lo", kind: nil)) { try prober.run(ProbeRequest(bridge: "lo", accel: .tcg)) }
        #expect(!asked.isSet)
        #expect(try fixture.tapNames().isEmpty)
    }

    @Test func nicSpecParsing() throws {
        #expect(try NICSpec.parse("bridge=br0") == NICSpec(bridge: "br0"))
        #expect(try NICSpec.parse("bridge=br1,model=e1000,mac=52:54:00:01:02:03") == NICSpec(bridge: "br1", model: .e1000, mac: "52:54:00:01:02:03"))
        #expect(try NICSpec.parse("bridge=br0,queues=4") == NICSpec(bridge: "br0", queues: 4))
        #expect(try NICSpec.parse("none") == nil)
        for bad in ["", "br0", "bridge=", "bridge=br0,model=ne2k", "bridge=br0,mac=01:00:5e:00:00:01", "bridge=br0,mac=zz",
                    "bridge=br0,queues=0", "bridge=br0,model=e1000,queues=2", "bridge=br0,colour=red", "bridge=a/b",
                    "bridge=sixteen-bytes-xx", "bridge=..", "bridge=tap%d", "bridge=eth0:1"] {
            #expect(throws: VMError.self, "\(bad)") { try NICSpec.parse(bad) }
        }
    }

    /// The TAP alias is written and read by one type: round trips, other aliases ignored.
    @Test func tapAliasRoundTripsAndRejectsOthers() {
        let alias = VMTapAlias(vm: "web-1.a", nicIndex: 3)
        #expect(alias.description == "qnet:vm=web-1.a/3")
        #expect(VMTapAlias(alias.description) == alias)
        for other in [nil, "", "qnet:vm=", "qnet:vm=web", "qnet:vm=web/", "qnet:vm=/0", "qnet:vm=web/-1", "qnet:vm=web/x",
                      "qnet:vm=bad name/0", "libvirt:vm=web/0", "uplink of br0"] {
            #expect(VMTapAlias(other) == nil, "\(String(describing: other))")
        }
    }

    @Test func derivedMACsAreStableLocalAndDistinct() throws {
        let first = GuestMAC.derived(vm: "web", nicIndex: 0)
        #expect(first == GuestMAC.derived(vm: "web", nicIndex: 0))
        #expect(first.bytes.prefix(3) == [0x52, 0x54, 0x00])
        #expect(first != GuestMAC.derived(vm: "web", nicIndex: 1))
        let taken = [first: "other"]
        let assigned = try GuestMAC.assign(vm: "web", nics: [NICSpec(bridge: "br0")], inUse: taken)
        #expect(assigned[0] != first && assigned[0].bytes.prefix(3) == [0x52, 0x54, 0x00])
    }
}

/// A directory only root can enter (0700, as `mktemp -d` makes), removed at deinit.
final class PrivateDirectory {
    let path: String
    init() throws {
        var template = Array("/tmp/qnet-private-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestSupportError("mkdtemp failed") }
        path = String(cString: made)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A flag set from a closure.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
