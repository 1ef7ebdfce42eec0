import Foundation
import QNetSystem
import QNetTestSupport
import QNetTypes
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

    /// `qnet recover` alone (no VM command after the kill, which would repair the VM itself)
    /// finds the bridge table's journal a `vm run` killed at each process start (nft, QEMU)
    /// left, says so, and undoes it: afterwards no filter journal is left, and rules are in
    /// the table only while that VM's QEMU runs (killed past its point of no return). Then
    /// `vm list` and `vm kill` clean the rest as usual. Witnesses: `nft list ruleset`, the
    /// journal folder, /proc.
    @Test func recoverAloneUndoesAFilterInstallKilledPartWay() throws {
        let fixture = try VMFixture("pfkrec")
        let qnet = try qnetExecutable()
        let arguments = try Self.runArguments(fixture)
        var recovered = 0, points = 0
        for syscalls in [["clone", "clone3", "vfork"], ["rename", "renameat", "renameat2"]] {
            points += try KillInjection.everyPoint({ n in
                try KillInjection.run(qnet, arguments, at: n, of: syscalls)
            }, afterEach: { n, _ in
                let point = "vm run killed at \(syscalls[0]) #\(n)"
                let recover = try VMInterruptedStartTests.qnet(fixture, ["recover"], stateDirectory: Self.stateDirectory)
                #expect(recover.status == 0, "\(point): recover: \(recover.stdout) \(recover.stderr)")
                if recover.stdout.contains("anti-spoofing rules of VM \(Self.name)") { recovered += 1 }
                #expect(!recover.stdout.contains("pending in another network namespace"), "\(point): \(recover.stdout)")
                #expect(Self.filterJournals(fixture).isEmpty, "\(point): journal left after recover: \(Self.filterJournals(fixture))")
                let rules = try Self.ruleset(fixture)
                if rules.contains("chain port-") {
                    #expect(!VMInterruptedStartTests.qemuPids(Self.name, stateDirectory: Self.stateDirectory).isEmpty,
                            "\(point): rules kept for a QEMU that is gone:\n\(rules)")
                }
                _ = try Self.checkAfterKill(fixture, point: point)
            }, completed: { result in
                #expect(result.status == 0, "vm run without a kill: \(result.stderr)")
                _ = try Self.checkAfterKill(fixture, point: "uninjected run")
            })
        }
        #expect(points > 0, "vm run started no process and wrote no file to kill it at")
        #expect(recovered > 0, "no kill point left a filter journal for recover")
        print("filtered vm run kill points (process starts, renames): \(points) tried, \(recovered) left a filter journal `qnet recover` undid")
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

/// Symlinks and foreign-owned files planted in the state qnet keeps outside the VM
/// directories: a network's runtime state.json (its dnsmasq pid is what `net stop`
/// signals), its definition, dnsmasq's files, DHCP reservations and leases, the runtime
/// folder's removal, the `apply --try` record and PCI binding records. Each is refused with
/// one line naming the path, and the link and its target are left as they are.
@Suite(.serialized) struct NetworkStateTreeTests {
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

    /// A file an attacker wants root to write or trust: content and mtime as planted.
    struct Target {
        let path: String
        let content: String
        init(_ label: String, content: String = "root only\n") throws {
            path = "\(FileManager.default.temporaryDirectory.path)/qnet-\(label)-\(getpid())"
            self.content = content
            try Data(content.utf8).write(to: URL(fileURLWithPath: path))
            var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        }
        func remove() { unlink(path) }
        /// Independent witness: stat and a plain read.
        func expectUntouched(sourceLocation: SourceLocation = #_sourceLocation) {
            var info = stat()
            #expect(stat(path, &info) == 0 && info.st_mtim.tv_sec == 1_000_000_000, "the target was written", sourceLocation: sourceLocation)
            #expect(FileManager.default.contents(atPath: path) == Data(content.utf8), "the target's content changed", sourceLocation: sourceLocation)
        }
    }

    static func isLink(_ path: String, to target: String) -> Bool {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == target
    }

    /// A nat network of this test process's state directory (not stored): its store,
    /// definition, addressing and runtime folder.
    static func natNetwork(_ label: String, subnet: String) throws
        -> (NetworkStore, NetworkDefinition, NetworkAddressing, String) {
        _ = VMTestState.directory
        let store = NetworkStore()
        let definition = NetworkDefinition(name: "\(label)\(getpid() % 10000)", mode: .nat, bridge: "qn-\(label.prefix(8))", subnet: subnet)
        return (store, definition, try AddressPlanner.resolve(definition, existing: [], otherNetworks: []), store.runtimePath(definition.name))
    }

    /// Runs `body` with `NetworkStore.notice` collected.
    static func collectingNotices(_ body: () throws -> Void) rethrows -> [String] {
        let notices = Notices()
        let saved = NetworkStore.notice
        NetworkStore.notice = { notices.append($0) }
        defer { NetworkStore.notice = saved }
        try body()
        return notices.lines
    }

    @Test func aSymlinkedNetworkDefinitionIsNeitherReadWrittenNorRemoved() throws {
        _ = VMTestState.directory
        let store = NetworkStore()
        let name = "plantdef\(getpid() % 10000)"
        try FileManager.default.createDirectory(atPath: store.definitionsDirectory, withIntermediateDirectories: true)
        let target = try Target("netdef", content: "name: \(name)\nmode: bridge\nbridge: br-evil\n")
        defer { target.remove() }
        let link = store.definitionPath(name)
        #expect(symlink(target.path, link) == 0)
        defer { unlink(link) }

        let notices = try Self.collectingNotices {
            let read = try #require(throws: SystemError.self) { _ = try store.definitionIfPresent(name) }
            #expect(read.description.contains(link) && read.description.contains("symbolic link; refused and left alone"), "\(read)")
            #expect(store.contains(name), "a planted entry does not make the name free")
            #expect(try !store.definitions().contains { $0.name == name })
            let write = try #require(throws: SystemError.self) {
                try store.save(NetworkDefinition(name: name, mode: .nat, bridge: "qn-plant", subnet: "10.77.0.0/24"))
            }
            #expect(write.description.contains(link) && write.description.contains("symbolic link"), "\(write)")
            store.removeDefinition(name)
        }
        #expect(notices.contains { $0.contains(link) && $0.contains("symbolic link") && $0.contains("left alone") }, "\(notices)")
        #expect(Self.isLink(link, to: target.path), "the planted link was touched")
        target.expectUntouched()
    }

    @Test(Privileged.rootEnabled) func aForeignOwnedNetworkDefinitionIsNotTrusted() throws {
        _ = VMTestState.directory
        let store = NetworkStore()
        let name = "foreigndef\(getpid() % 10000)"
        try FileManager.default.createDirectory(atPath: store.definitionsDirectory, withIntermediateDirectories: true)
        let path = store.definitionPath(name)
        let content = "name: \(name)\nmode: bridge\nbridge: br-evil\n"
        try Data(content.utf8).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        #expect(chown(path, 65534, 65534) == 0)

        let read = try #require(throws: SystemError.self) { _ = try store.definitionIfPresent(name) }
        #expect(read.description.contains(path) && read.description.contains("owned by uid 65534"), "\(read)")
        #expect(throws: SystemError.self) { try store.save(NetworkDefinition(name: name, mode: .bridge, bridge: "br-x")) }
        _ = Self.collectingNotices { store.removeDefinition(name) }
        var info = stat()
        #expect(lstat(path, &info) == 0 && info.st_uid == 65534)
        #expect(FileManager.default.contents(atPath: path) == Data(content.utf8))
    }

    /// dnsmasq's configuration and log planted as symlinks in the network's runtime folder:
    /// `net start` fails naming the file before dnsmasq runs, and writes nothing through them.
    @Test func symlinksAtDnsmasqsFilesAreRefusedBeforeDnsmasqStarts() throws {
        let (store, definition, addressing, runtime) = try Self.natNetwork("plantdns", subnet: "10.78.0.0/24")
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runtime) }
        let services = NetworkServices(namespace: nil, store: store)

        for file in ["dnsmasq.conf", "dnsmasq.log"] {
            let target = try Target("dnsmasq-\(file)")
            defer { target.remove() }
            let link = "\(runtime)/\(file)"
            #expect(symlink(target.path, link) == 0)
            let error = try #require(throws: SystemError.self) { _ = try services.startDNSMasq(definition, addressing: addressing) }
            #expect(error.description.contains(link) && error.description.contains("symbolic link")
                    && error.description.contains("refused and left alone"), "\(error)")
            #expect(Self.isLink(link, to: target.path))
            target.expectUntouched()
            unlink(link)
        }
        // No dnsmasq ran with this configuration (witness: /proc).
        let running = try FileManager.default.contentsOfDirectory(atPath: "/proc").contains { pid in
            (FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")).map { String(decoding: $0, as: UTF8.self) }?
                .contains("\(runtime)/dnsmasq.conf") == true
        }
        #expect(!running)
    }

    /// dnsmasq's lease file planted as a symlink to a file claiming the range's first address
    /// for another MAC: a filtered NIC's reservation is chosen without trusting it, and the
    /// undo of a reservation leaves a planted one alone.
    @Test func aSymlinkedLeaseFileIsNotTrustedAndAPlantedReservationIsLeftAlone() throws {
        let (store, definition, addressing, runtime) = try Self.natNetwork("plantl", subnet: "10.79.0.0/24")
        defer { store.removeRuntimeState(definition.name); try? FileManager.default.removeItem(atPath: runtime) }
        try store.saveRuntimeState(NetworkRuntimeState(name: definition.name, bridgeCreated: false, firewall: false,
                                                       changedSysctls: [:], addressing: "10.79.0.0/24"))
        let target = try Target("leases", content: "0 52:54:00:00:00:99 \(addressing.dhcpStart) other *\n")
        defer { target.remove() }
        #expect(symlink(target.path, "\(runtime)/dnsmasq.leases") == 0)

        let mac = MACAddress("52:54:00:12:34:56")!
        let file = VMPortFilters.reservationFile(network: definition.name, vm: "leasevm", nic: 0, store: store)
        let address = try VMPortFilters.reserve(mac: mac, network: definition, file: file, store: store).ipv4
        #expect(address == addressing.dhcpStart, "the planted lease was trusted: \(address)")
        #expect(FileManager.default.contents(atPath: file) == Data("\(mac),\(address)\n".utf8))
        target.expectUntouched()

        // The reservation replaced by a symlink: removing it (a failed start's undo) leaves it.
        let other = try Target("reservation")
        defer { other.remove() }
        unlink(file)
        #expect(symlink(other.path, file) == 0)
        VMPortFilters.removeReservation(file)
        #expect(Self.isLink(file, to: other.path))
        other.expectUntouched()
        unlink(file)
    }

    /// A dual-stack network's reservations: `MAC,IPV4,[IPV6]`, or `MAC,[IPV6]` beside a static
    /// lease (dnsmasq.conf's dhcp-host has the IPv4 address); a second NIC never gets an
    /// address another reservation holds; and a NIC started again (its reservation gone, its
    /// old DHCPv6 lease still in dnsmasq's lease file) gets the same DHCPv6 address back.
    @Test func dualStackReservationsNameTheDHCPv6AddressOnceAndKeepItAcrossRuns() throws {
        var (store, definition, _, runtime) = try Self.natNetwork("res6", subnet: "10.79.3.0/24")
        definition.ipv6Prefix = "fd00:79:3::/64"
        let staticMAC = MACAddress("52:54:00:00:03:02")!
        definition.staticLeases = [StaticLease(mac: staticMAC.description, address: "10.79.3.5")]
        defer { store.removeRuntimeState(definition.name); try? FileManager.default.removeItem(atPath: runtime) }
        try store.saveRuntimeState(NetworkRuntimeState(name: definition.name, bridgeCreated: false, firewall: false,
                                                       changedSysctls: [:], addressing: "10.79.3.0/24"))
        let mac = MACAddress("52:54:00:00:03:01")!
        let file = VMPortFilters.reservationFile(network: definition.name, vm: "res6vm", nic: 0, store: store)
        let first = try VMPortFilters.reserve(mac: mac, network: definition, file: file, store: store)
        let v6 = try #require(first.ipv6)
        #expect(IPPrefix("fd00:79:3::/64")!.contains(v6) && v6.bytes[14] == 1, "in ::100-::1ff: \(v6)")
        #expect(FileManager.default.contents(atPath: file) == Data("\(mac),\(first.ipv4),[\(v6)]\n".utf8))

        // A static lease's NIC: only its DHCPv6 address in the file, never the first NIC's.
        let staticFile = VMPortFilters.reservationFile(network: definition.name, vm: "res6vm", nic: 1, store: store)
        let second = try VMPortFilters.reserve(mac: staticMAC, network: definition, file: staticFile, store: store)
        #expect(second.ipv4 == IPAddress("10.79.3.5") && second.ipv6 != nil && second.ipv6 != v6)
        #expect(FileManager.default.contents(atPath: staticFile) == Data("\(staticMAC),[\(second.ipv6!)]\n".utf8))

        // The first NIC again, its reservation gone and its lease left: the same address.
        unlink(file)
        try Data("0 1234 \(v6) guest 00:01:00:01:aa:bb:cc:dd:ee:ff\n".utf8).write(to: URL(fileURLWithPath: "\(runtime)/dnsmasq.leases"))
        #expect(try VMPortFilters.reserve(mac: mac, network: definition, file: file, store: store).ipv6 == v6)
        unlink(file)
        unlink(staticFile)
    }

    /// Which DHCPv6 address a MAC gets: one derived from it, kept when only a lease (its own
    /// from an earlier run) is there; past another NIC's reservation, the next address that is
    /// neither reserved nor leased; none when the range is full.
    @Test func theDHCPv6AddressOfAMACIsDerivedFromItAndNeverAnotherNICs() throws {
        let range = VMPortFilters.ipv6Range(from: IPAddress("fd00:77::100")!, to: IPAddress("fd00:77::1ff")!)
        #expect(range.count == 256 && range.first == IPAddress("fd00:77::100") && range.last == IPAddress("fd00:77::1ff"))
        let mac = MACAddress("52:54:00:12:34:56")!
        let own = try #require(VMPortFilters.dhcpv6Address(for: mac, in: range, reserved: [], taken: []))
        #expect(VMPortFilters.dhcpv6Address(for: mac, in: range, reserved: [], taken: [own]) == own)
        let index = try #require(range.firstIndex(of: own))
        let next = range[(index + 1) % range.count], afterNext = range[(index + 2) % range.count]
        #expect(VMPortFilters.dhcpv6Address(for: mac, in: range, reserved: [own], taken: [own, next]) == afterNext)
        #expect(VMPortFilters.dhcpv6Address(for: MACAddress("52:54:00:12:34:57")!, in: range, reserved: [], taken: []) != own)
        #expect(VMPortFilters.dhcpv6Address(for: mac, in: range, reserved: Set(range), taken: Set(range)) == nil)
    }

    /// `net stop`'s removal of the runtime folder (also a killed start's rollback): qnet's
    /// files go; a planted symlink (even one to a directory), the folders holding what was
    /// left, and every target stay, with one line naming them.
    @Test func removingARuntimeFolderLeavesPlantedEntriesAndTheirTargetsAlone() throws {
        _ = VMTestState.directory
        let store = NetworkStore()
        let name = "plantrm\(getpid() % 10000)"
        let runtime = store.runtimePath(name)
        defer { try? FileManager.default.removeItem(atPath: runtime) }
        try FileManager.default.createDirectory(atPath: "\(runtime)/sub", withIntermediateDirectories: true)
        try store.saveRuntimeState(NetworkRuntimeState(name: name, bridgeCreated: false, firewall: false, changedSysctls: [:]))
        let target = try Target("rmtarget")
        defer { target.remove() }
        let directory = "\(FileManager.default.temporaryDirectory.path)/qnet-rmdir-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data("precious".utf8).write(to: URL(fileURLWithPath: "\(directory)/keep"))
        #expect(symlink(target.path, "\(runtime)/dnsmasq.log") == 0)
        #expect(symlink(directory, "\(runtime)/sub/hosts") == 0)

        let notices = Self.collectingNotices { store.removeRuntimeState(name) }
        #expect(notices.contains { $0.contains("\(runtime)/dnsmasq.log") && $0.contains("\(runtime)/sub/hosts") && $0.contains("left alone") },
                "\(notices)")
        #expect(!FileManager.default.fileExists(atPath: "\(runtime)/state.json"), "qnet's own file stays")
        #expect(Self.isLink("\(runtime)/dnsmasq.log", to: target.path) && Self.isLink("\(runtime)/sub/hosts", to: directory))
        #expect(FileManager.default.contents(atPath: "\(directory)/keep") == Data("precious".utf8), "the linked directory was emptied")
        target.expectUntouched()
    }

    /// The `apply --try` record (whose processes the watchdog signals) and its confirmation
    /// planted as symlinks: not read, not written through, not removed.
    @Test func symlinkedApplyTryFilesAreNeitherTrustedNorWrittenThrough() throws {
        _ = VMTestState.directory
        try FileManager.default.createDirectory(atPath: QNetPaths.runtime, withIntermediateDirectories: true)
        let record = #"{"owner":{"pid":1,"startTime":1},"journal":"x","deadline":1e12,"command":"planted"}"#
        let target = try Target("applytry", content: record)
        defer { target.remove() }
        #expect(symlink(target.path, ApplyTrial.path) == 0)
        #expect(symlink(target.path, ApplyTrial.confirmationPath) == 0)
        defer { unlink(ApplyTrial.path); unlink(ApplyTrial.confirmationPath) }

        #expect(ApplyTrial.current() == nil, "read through the planted link")
        #expect(!ApplyTrial.isConfirmed, "a planted confirmation counts")
        let trial = ApplyTrial(owner: ProcessIdentity(pid: getpid(), startTime: 1, executable: nil), journal: "j", deadline: 1, command: "qnet apply --try")
        let error = try #require(throws: SystemError.self) { try trial.save() }
        #expect(error.description.contains(ApplyTrial.path) && error.description.contains("symbolic link"), "\(error)")
        #expect(throws: SystemError.self) { try ApplyTrial.confirm() }
        ApplyTrial.finish()
        #expect(Self.isLink(ApplyTrial.path, to: target.path) && Self.isLink(ApplyTrial.confirmationPath, to: target.path))
        target.expectUntouched()
    }
}
