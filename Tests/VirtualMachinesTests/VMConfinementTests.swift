import Foundation
import GuestImage
import HostNetwork
import QNetSystem
import QNetTestSupport
import QNetTypes
import Testing
@testable import VirtualMachines

/// Runs `arguments` as uid and gid `uid` with no other groups (`setpriv`), as a
/// compromised QEMU of that uid would.
func runAs(_ uid: UInt32, _ arguments: [String]) throws -> CommandResult {
    try run("setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups"] + arguments)
}

/// The fields of /proc/PID/status, by name ("Uid", "Gid", "Groups", "Seccomp").
func processStatus(_ pid: Int32) throws -> [String: String] {
    let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 1)
        if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
    }
    return fields
}

/// The attacks of issue 10 against the VM state and QEMU's confinement, each made by the
/// attacker it names, and each now harmless (tier 3: real QEMU, real uids, real files).
@Suite(.serialized, Privileged.enabled)
struct VMConfinementTests {
    /// (c) Every VM's QEMU runs as its own uid from the range, under seccomp, and that uid
    /// can neither connect to another VM's QMP socket, read its files, look into its QEMU's
    /// descriptors, nor write its own VM's state.
    @Test func eachQEMUHasItsOwnUIDAndCannotReachAnotherVM() throws {
        let fixture = try VMFixture("vmuids")
        var first = try fixture.definition("uid-a"), second = try fixture.definition("uid-b")
        first.user = nil
        second.user = nil
        let a = try fixture.manager.run(first)
        defer { try? fixture.manager.kill("uid-a") }
        let b = try fixture.manager.run(second)
        defer { try? fixture.manager.kill("uid-b") }

        let uidA = try #require(a.uid), uidB = try #require(b.uid)
        #expect(uidA != uidB)
        let range = try VMUserRange.configured()
        for (state, uid) in [(a, uidA), (b, uidB)] {
            #expect(uid >= range.first && uid <= range.last)
            #expect(UserIdentity.lookup(String(uid)) == nil, "a VM uid is no account")
            // Witness: the kernel's view of QEMU's ids and seccomp mode (2: filter).
            let status = try processStatus(state.pid)
            #expect(status["Uid"]?.split(separator: "\t").allSatisfy { $0 == "\(uid)" } == true, "\(status["Uid"] ?? "")")
            #expect(status["Gid"]?.split(separator: "\t").allSatisfy { $0 == "\(uid)" } == true, "\(status["Gid"] ?? "")")
            #expect(status["Groups"] == "", "no supplementary groups: \(status["Groups"] ?? "")")
            #expect(status["Seccomp"] == "2", "QEMU's -sandbox is on")
            #expect(state.arguments.contains("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"))
            // The VM's directory and files are root's alone.
            var info = stat()
            #expect(lstat(state.directory, &info) == 0 && info.st_uid == 0 && info.st_mode & 0o777 == 0o700)
            for file in ["state.json", "qemu.log", "console.log", "qmp.sock"] {
                #expect(lstat("\(state.directory)/\(file)", &info) == 0 && info.st_uid == 0 && info.st_mode & 0o077 == 0,
                        "\(file): uid \(info.st_uid) mode \(String(info.st_mode & 0o777, radix: 8))")
            }
        }

        // A's uid against B: QMP (connecting as QEMU itself would, with a chardev), files, /proc.
        let connect = try runAs(uidA, ["timeout", "20", a.qemu, "-machine", "none", "-nodefaults", "-display", "none", "-S",
                                       "-chardev", "socket,id=c0,path=\(b.qmpSocket),server=off"])
        #expect(connect.status != 0 && connect.status != 124, "A's uid reached B's QMP socket")
        #expect(connect.stderr.contains("Permission denied"), "\(connect.stderr)")
        let read = try runAs(uidA, ["cat", "\(b.directory)/console.log"])
        #expect(read.status != 0 && read.stderr.contains("Permission denied"), "\(read.stderr)")
        let descriptors = try runAs(uidA, ["ls", "/proc/\(b.pid)/fd"])
        #expect(descriptors.status != 0 && descriptors.stderr.contains("Permission denied"), "\(descriptors.stderr)")
        // (a) QEMU's uid cannot rewrite its own VM's state.
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(a.directory)/state.json"))
        let rewrite = try runAs(uidA, ["sh", "-c", "echo '{}' > '\(a.directory)/state.json'"])
        #expect(rewrite.status != 0 && rewrite.stderr.contains("Permission denied"), "\(rewrite.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(a.directory)/state.json")) == before)
        // Root still drives both.
        #expect(try fixture.manager.status("uid-a").runState == "running")
        #expect(try fixture.manager.status("uid-b").runState == "running")
        // TAPs belong to their QEMU's uid (witness: ip -d).
        let tap = try #require(try fixture.ns.link(a.nics[0].tap))
        let data = (tap["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any]
        #expect("\(data?["user"] ?? "")" == "\(uidA)", "\(String(describing: data))")
    }

    /// Three `vm run`s at once without --user get three different uids of the range
    /// (`--uid-range`, allocated under the range's lock), and a fourth, with the range full,
    /// is refused naming the range.
    @Test func concurrentStartsGetDistinctUIDsAndAFullRangeIsRefused() throws {
        let fixture = try VMFixture("vmuidrace")
        let names = ["race1", "race2", "race3"]
        defer { for name in names { try? fixture.manager.kill(name) } }
        let first: UInt32 = 1_879_100_000
        let range = "\(first)-\(first + 2)"
        let qnet = try qnetExecutable(), kernel = try VMTestState.kernel, namespace = fixture.ns.name
        @Sendable func start(_ name: String) throws -> CommandResult {
            try run(qnet, ["--netns", namespace, "vm", "run", name, "--memory", "128", "--kernel", kernel,
                           "--append", "console=ttyS0 panic=0", "--accel", "tcg", "--nic", "bridge=br0", "--uid-range", range])
        }
        let results = Notices()
        DispatchQueue.concurrentPerform(iterations: names.count) { index in
            let result = try? start(names[index])
            results.append(result.map { "\($0.status) \($0.stderr)" } ?? "did not run")
        }
        #expect(results.lines.allSatisfy { $0.hasPrefix("0 ") }, "\(results.lines)")
        let uids = names.compactMap { VMStore.load($0)?.uid }
        #expect(uids.count == 3 && Set(uids).count == 3, "\(uids)")
        #expect(uids.allSatisfy { (first...first + 2).contains($0) }, "\(uids)")
        // Witness: each QEMU runs as the uid its state names.
        for name in names {
            guard let state = VMStore.load(name), let uid = state.uid else { continue }
            #expect(try processStatus(state.pid)["Uid"]?.split(separator: "\t").first == "\(uid)"[...])
        }
        let full = try start("race4")
        #expect(full.status == 1 && full.stderr.contains("no free uid for QEMU in the VM uid range \(range)"), "\(full.stderr)")
        #expect(VMStore.load("race4") == nil)
    }

    /// A state the QEMU user could once poison, as if it had been rewritten: its QEMU and
    /// passt entries name a victim process (pid, start time and executable copied from
    /// /proc) and files outside the VM. `vm list` and `vm kill` signal nothing and unlink
    /// nothing but qnet's own files.
    @Test func aPoisonedStateKillsAndUnlinksNothing() throws {
        let fixture = try VMFixture("vmpoison")
        let victim = Process()
        victim.executableURL = URL(fileURLWithPath: try locate("sleep"))
        victim.arguments = ["120"]
        try victim.run()
        // SIGKILL: the test process may block SIGTERM, and its children inherit the mask.
        defer { kill(victim.processIdentifier, SIGKILL); victim.waitUntilExit() }
        let identity = try #require(ProcessIdentity.of(victim.processIdentifier))
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-victim-\(getpid())").path
        try Data("keep".utf8).write(to: URL(fileURLWithPath: outside))
        defer { try? FileManager.default.removeItem(atPath: outside) }

        let directory = try VMStore.create("poison").path
        let inside = "\(directory)/passt/passt-0.sock"
        let state = VMState(
            name: "poison", pid: identity.pid, startTime: identity.startTime, executable: identity.executable, starter: nil,
            qemu: identity.executable ?? "/bin/sleep", arguments: [], qmpSocket: "\(directory)/qmp.sock",
            consoleLog: outside, qemuLog: outside, accel: .tcg, user: "nobody", uid: nil, netns: nil, startedAt: 0, nics: [],
            passt: [PasstProcess(pid: identity.pid, startTime: identity.startTime, socketPath: inside, pidFile: "\(directory)/passt/x.pid", logFile: outside),
                    PasstProcess(pid: identity.pid, startTime: identity.startTime, socketPath: outside, pidFile: outside, logFile: outside)],
            definition: VMDefinition(name: "poison"))
        try VMStore.save(state)

        #expect(try !fixture.manager.list().contains { $0.name == "poison" })
        #expect(throws: VMError.noSuchVM("poison")) { try fixture.manager.kill("poison") }
        #expect(identity.isRunning, "the victim process was signalled")
        #expect(FileManager.default.fileExists(atPath: outside), "a file outside the VM was unlinked")
        #expect(!FileManager.default.fileExists(atPath: directory), "qnet's own leftovers are removed")
    }

    /// (b) A symlink planted where qnet writes state.json's temporary file: the write is
    /// refused and nothing is written through it.
    @Test func aSymlinkAtTheTemporaryStateFileIsNotWrittenThrough() throws {
        _ = VMTestState.directory
        let directory = try VMStore.create("plant")
        defer { VMStore.remove("plant") }
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-plant-\(getpid())").path
        try Data("root only".utf8).write(to: URL(fileURLWithPath: target))
        defer { try? FileManager.default.removeItem(atPath: target) }
        chmod(target, 0o600)
        let planted = "\(directory.path)/\(DirectoryDescriptor.temporaryName(for: "state.json"))"
        #expect(symlink(target, planted) == 0)

        let state = VMState(name: "plant", pid: 1, startTime: 1, executable: nil, starter: nil, qemu: "q", arguments: [],
                            qmpSocket: "", consoleLog: "", qemuLog: "", accel: .tcg, user: "nobody", uid: nil, netns: nil,
                            startedAt: 0, nics: [], definition: VMDefinition(name: "plant"))
        #expect(throws: SystemError.self) { try VMStore.save(state) }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "root only")
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/state.json"))
    }

    /// (d) QNET_STATE_DIR/run/vms/NAME planted as a symlink to a directory, and a directory
    /// there owned by another user: `vm list` reports both and leaves them (and the target's
    /// files) alone.
    @Test func aPlantedSymlinkOrForeignDirectoryInTheStateTreeIsLeftAlone() throws {
        let fixture = try VMFixture("vmplant")
        _ = try VMStore.openVMs()
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-target-\(getpid())").path
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: target) }
        try Data("precious".utf8).write(to: URL(fileURLWithPath: "\(target)/state.json"))
        let link = VMStore.directory(for: "planted"), foreign = VMStore.directory(for: "foreign")
        #expect(symlink(target, link) == 0)
        defer { unlink(link) }
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: foreign) }
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(foreign)/state.json"))
        chown(foreign, 65534, 65534)

        let notices = Notices()
        let saved = VMStore.notice
        VMStore.notice = { notices.append($0) }
        defer { VMStore.notice = saved }
        #expect(try !fixture.manager.list().contains { ["planted", "foreign"].contains($0.name) })
        #expect(throws: VMError.noSuchVM("planted")) { try fixture.manager.kill("planted") }

        #expect(FileManager.default.fileExists(atPath: "\(target)/state.json"), "the symlink's target was emptied")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target, "the planted symlink was touched")
        #expect(FileManager.default.fileExists(atPath: "\(foreign)/state.json"), "the foreign directory was emptied")
        #expect(notices.lines.contains { $0.contains("/planted is a symbolic link") }, "\(notices.lines)")
        #expect(notices.lines.contains { $0.contains("/foreign is a directory owned by uid 65534") }, "\(notices.lines)")
    }

    /// A --state-dir in a shared place that another user made first is refused, naming
    /// the owner, before anything starts.
    @Test func aStateDirectoryOwnedByAnotherUserIsRefused() throws {
        let fixture = try VMFixture("vmshared")
        let shared = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-shared-\(getpid())").path
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: shared) }
        chown(shared, 65534, 65534)
        let result = try run(try qnetExecutable(), ["--netns", fixture.ns.name, "--state-dir", shared, "vm", "run", "shared1",
                                                    "--kernel", try VMTestState.kernel, "--accel", "tcg", "--nic", "bridge=br0"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("owned by uid 65534"), "\(result.stderr)")
        #expect(try fixture.tapNames().isEmpty)
    }

    /// passt's pid file lives in the folder the VM's uid owns: planted there as a FIFO, as a
    /// link to /dev/zero or to a file naming passt's pid, it is neither waited on, read
    /// without end nor followed; only a regular file is believed.
    @Test func aPlantedPasstPidFileIsNotFollowedOrWaitedOn() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-passtpid-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pidFile = "\(directory)/passt-0.pid", bait = "\(directory)/bait"
        try Data("4242\n".utf8).write(to: URL(fileURLWithPath: bait))
        let passt = PasstProcess(pid: 4242, startTime: 1, socketPath: "\(directory)/passt-0.sock", pidFile: pidFile, logFile: "\(directory)/log")

        #expect(mkfifo(pidFile, 0o600) == 0)
        #expect(passt.pidFileText() == nil, "a FIFO was read")
        unlink(pidFile)
        #expect(symlink("/dev/zero", pidFile) == 0)
        #expect(passt.pidFileText() == nil, "followed a link to /dev/zero")
        unlink(pidFile)
        #expect(symlink(bait, pidFile) == 0)
        #expect(passt.pidFileText() == nil, "followed a link to a file naming the pid")
        unlink(pidFile)
        try Data("4242\n".utf8).write(to: URL(fileURLWithPath: pidFile))
        #expect(passt.pidFileText() == "4242\n")
    }

    /// A --state-dir whose parent another user made (so they could swap the state
    /// directory for a link after qnet made it): `vm list` reports it, naming the owner,
    /// lists nothing from it and creates nothing there.
    @Test func aStateDirectoryInsideAnotherUsersDirectoryIsRefused() throws {
        let shared = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-parent-\(getpid())").path
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: shared) }
        #expect(chown(shared, 65534, 65534) == 0)
        let result = try run(try qnetExecutable(), ["--state-dir", "\(shared)/state", "vm", "list"])
        #expect(result.stderr.contains(shared) && result.stderr.contains("owned by uid 65534"), "\(result.stderr)")
        #expect(!result.stderr.contains("\n") || result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(shared)/state/run/vms"))
    }

    /// A VM's console.log and passt log planted as symlinks (to a root-only file): `vm
    /// console`, the probe and passt's error report do not read through them, passt's start
    /// does not append through them; a --console file the user named is read as given.
    @Test func aVMsLogsPlantedAsSymlinksAreNeitherReadNorAppendedThrough() throws {
        _ = VMTestState.directory
        let directory = try VMStore.create("plantlog")
        defer { VMStore.remove("plantlog") }
        let planted = try NetworkStateTreeTests.Target("logtarget")
        defer { planted.remove() }
        let target = planted.path
        let console = "\(directory.path)/console.log", passtLog = "\(directory.path)/passt-0.log"
        #expect(symlink(target, console) == 0 && symlink(target, passtLog) == 0)

        #expect(VMStore.readFile(console) == nil, "read through the planted console.log")
        #expect(VMStore.readText(passtLog).isEmpty, "read through the planted passt log")
        let error = try #require(throws: SystemError.self) { _ = try VMStore.openForAppending(passtLog, mode: 0o640) }
        #expect(error.description.contains(passtLog) && error.description.contains("symbolic link"), "\(error)")
        planted.expectUntouched()
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: console)) == target)
        #expect(VMStore.readFile(target) == Array(planted.content.utf8), "a path outside the state is the user's, read as given")
    }
}

/// Lines collected from a notice callback.
final class Notices: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [String] = []
    func append(_ line: String) { lock.lock(); collected.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return collected }
}

/// The micro-VM booted the way an admin keeps a private guest: kernel, initrd and a disk
/// in a 0700 directory under /root, each 0600 root, no --user (tier 4).
@Suite(.serialized, Privileged.enabled)
struct VMConfinementGuestTests {
    @Test(.timeLimit(.minutes(15)))
    func aGuestBootsFromRootOnlyFilesAsItsOwnUIDUnderTheSandbox() throws {
        let fixture = try VMFixture("vmconfined")
        try fixture.host.addAddress(IPPrefix("10.26.0.1/24")!, to: "br0")
        let image = try GuestFixture.image.get()
        let directory = "/root/qnet-confined-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o700)
        let kernel = "\(directory)/vmlinuz", initrd = "\(directory)/initrd", disk = "\(directory)/disk.raw"
        try FileManager.default.copyItem(atPath: image.kernel, toPath: kernel)
        try FileManager.default.copyItem(atPath: image.initramfs, toPath: initrd)
        #expect(FileManager.default.createFile(atPath: disk, contents: Data(count: 1 << 20)))
        for file in [kernel, initrd, disk] { chmod(file, 0o600) }

        var definition = try GuestFixture.definition("confined", plan: ProbePlan(mode: .serve, addressing: .address("10.26.0.9/24"), gateway: .none))
        definition.kernel = kernel
        definition.initrd = initrd
        definition.disks = [disk]
        definition.user = nil
        let state = try fixture.manager.run(definition)
        defer { try? fixture.manager.kill("confined") }

        let report = GuestFixture.follow(state, timeout: 120) { $0.ready != nil }
        #expect(report.ready?.address == "10.26.0.9/24", "the guest did not come up: \(report)")
        #expect(try fixture.ns.exec("ping", ["-c", "1", "-W", "5", "10.26.0.9"]).status == 0, "host → guest")

        let uid = try #require(state.uid)
        #expect(try processStatus(state.pid)["Seccomp"] == "2")
        // QEMU could not have opened any of them by path; it holds them as descriptors.
        for file in [kernel, initrd, directory] {
            #expect(try runAs(uid, ["cat", file]).status != 0, "\(file) is readable by QEMU's uid by path")
        }
        let targets = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(state.pid)/fd").compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(state.pid)/fd/\($0)")
        }
        #expect(targets.contains(disk), "\(targets)")
        #expect(targets.contains { $0.hasPrefix("/memfd:qnet-kernel") } && targets.contains { $0.hasPrefix("/memfd:qnet-initrd") }, "\(targets)")
        #expect(targets.contains("\(state.directory)/console.log"), "\(targets)")
    }
}
