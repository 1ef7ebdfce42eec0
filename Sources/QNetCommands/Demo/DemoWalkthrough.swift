import Glibc
import GuestImage
import HostNetwork
import Netlink
import QNetSystem
import QNetTypes
import VirtualMachines

/// `qnet demo`: the classic bridge recipe replayed safely inside network namespaces that
/// the demo creates and removes — a "LAN" with a router and a DHCP server, and a "host"
/// whose eth0 is moved into a bridge, a micro-VM that gets a lease and pings the router,
/// then everything undone. Each step prints the qnet command it runs and its output.
///
/// Every name a run makes carries its pid (namespaces `qnet-demo-PID-lan`/`-host`, VM
/// `demo-PID`, `/tmp/qnet-demo-PID`), so two demos at once never touch each other's
/// objects; leftovers of a demo that was killed (its pid gone) are removed by the next one.
final class DemoWalkthrough {
    let qnet: String
    let image: GuestImage
    let names: DemoNames
    var lan: NetworkNamespace { names.lan }
    var host: NetworkNamespace { names.host }
    var vmName: String { names.vm }
    var workDirectory: String { names.workDirectory }
    var say: (String) -> Void = { print($0) }
    /// Set from a signal handler; every wait checks it.
    nonisolated(unsafe) static var interrupted: sig_atomic_t = 0

    private var dnsmasq: Int32 = 0
    private let routerAddress = "192.168.1.254"

    init(qnet: String, image: GuestImage, names: DemoNames = DemoNames(run: getpid())) {
        self.qnet = qnet
        self.image = image
        self.names = names
    }

    struct Interrupted: Error, CustomStringConvertible { var description: String { "interrupted" } }
    struct StepFailed: Error, CustomStringConvertible { var description: String }

    /// Runs the walkthrough; cleans up whatever happens. Returns whether every check held.
    func run() -> Bool {
        let started = monotonicSeconds()
        Self.removeLeftoversOfDeadDemos(qnet: qnet)
        defer { cleanup(quiet: false) }
        do {
            try steps()
            say("\n✔ demo finished in \(formatSeconds(monotonicSeconds() - started, maximumDecimals: 1)) s; cleaning up")
            return true
        } catch {
            say("\n✘ demo stopped: \(error)")
            return false
        }
    }

    private func steps() throws {
        // A predictable name in /tmp: made here and checked (no symlink, root's, not writable by
        // others), so nothing another user planted at it is written through.
        guard let work = try DirectoryDescriptor.openState(workDirectory, mode: 0o755) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "create", path: workDirectory)
        }
        section("Set the scene: a LAN (router \(routerAddress), DHCP) and a host whose eth0 holds 192.168.1.10/24")
        try lan.create()
        try host.create()
        let lanNetwork = try HostNetwork(namespace: lan)
        let hostNetwork = try HostNetwork(namespace: host)
        try lanNetwork.createVeth("lan0", peer: "eth0", peerNamespace: host, up: true)
        try lanNetwork.setUp("lo")
        try lanNetwork.addAddress(IPPrefix("\(routerAddress)/24")!, to: "lan0")
        try hostNetwork.setUp("lo")
        try hostNetwork.setUp("eth0")
        try hostNetwork.addAddress(IPPrefix("192.168.1.10/24")!, to: "eth0")
        let eth0 = try hostNetwork.link(named: "eth0")
        try hostNetwork.addRoute(Route(destination: nil, gateway: IPAddress(routerAddress), outputIndex: eth0.index, metric: 100))
        guard let dnsmasqPath = Subprocess.which("dnsmasq") else { throw StepFailed(description: "dnsmasq is not installed (apt-get install dnsmasq-base)") }
        let dnsmasqLog = try work.openStateFile("dnsmasq.log", flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o640, kind: "dnsmasq log")
        defer { close(dnsmasqLog) }
        let dnsmasqCommand = Command(dnsmasqPath, [
            "--keep-in-foreground", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--interface=lan0", "--bind-interfaces", "--except-interface=lo",
            "--dhcp-range=192.168.1.100,192.168.1.150,255.255.255.0,5m", "--dhcp-option=option:router,\(routerAddress)",
            "--dhcp-leasefile=\(workDirectory)/dnsmasq.leases", "--pid-file=", "--log-dhcp",
        ], environment: ["PATH": Subprocess.defaultSearchPath])
        dnsmasq = try lan.withEntered { try Subprocess.startDetached(dnsmasqCommand, output: dnsmasqLog) }
        say("  LAN namespace \(lan.name): lan0 \(routerAddress)/24, dnsmasq (pid \(dnsmasq)) serving 192.168.1.100-150")
        say("  host namespace \(host.name): eth0 192.168.1.10/24, default via \(routerAddress) metric 100")

        section("Readiness")
        try doctor()

        section("brctl addbr br0; brctl addif br0 eth0 — and move eth0's address and default route to br0")
        try qnetCommand(["bridge", "create", "br0", "--uplink", "eth0"])
        show("routes in \(host.name) now", try hostRoutes(hostNetwork))

        section("brctl show")
        try qnetCommand(["show"])

        section("dd if=/dev/zero of=disk.img bs=1M seek=1023 count=1")
        try qnetCommand(["disk", "create", "\(workDirectory)/disk.img", "1G"], allowFailure: true)

        section("qemu-kvm ... -net nic -net tap,script=/etc/qemu-ifup — as qnet vm run (TAP fd passed, QEMU unprivileged)")
        let console = "\(workDirectory)/guest-console.log"
        unlink(console)
        let plan = ProbePlan(mode: .serve, addressing: .dhcp, gateway: .automatic, targets: [routerAddress], stepTimeout: 15,
                             hostname: vmName)
        try qnetCommand(["vm", "run", vmName, "--memory", "256", "--accel", "tcg", "--nic", "bridge=br0",
                         "--kernel", image.kernel, "--initrd", image.initramfs, "--append", try plan.kernelCommandLine(),
                         "--console", console, "--user", "nobody"])
        say("  waiting for the guest to boot, get a DHCP lease from the LAN and ping \(routerAddress) ...")
        var leased = false
        var pinged = false
        var parser = ProbeLogParser()
        var offset = 0
        let deadline = monotonicSeconds() + 90
        while monotonicSeconds() < deadline && !(leased && pinged) {
            if Self.interrupted != 0 { throw Interrupted() }
            let bytes = (try? FileSystem.readBytes(console)) ?? []
            if bytes.count > offset {
                for case let .step(step) in parser.feed(Array(bytes[offset...])) where step.ok {
                    if step.name == "address" && !leased { leased = true; say("  guest: \(step.summary) in \(step.milliseconds) ms") }
                    if step.name == "ping" && !pinged { pinged = true; say("  guest: ping \(routerAddress) ok") }
                }
                offset = bytes.count
            }
            usleep(100_000)  // poll interval; the loop ends at its 90 s deadline
        }
        guard leased, pinged else {
            throw StepFailed(description: "the guest did not get a lease and ping the router in 90 s (console: \(console))")
        }

        section("brctl show — now with the VM's TAP")
        try qnetCommand(["show"])

        section("shut the VM down; its TAP disappears with QEMU")
        let tapNames = try hostNetwork.links().filter { VMTapAlias($0.alias)?.vm == vmName }.map(\.name)
        try qnetCommand(["vm", "stop", vmName, "--timeout", "5"])
        let gone = tapNames.allSatisfy { (try? hostNetwork.linkIfPresent(named: $0)) == nil }
        show("links in \(host.name)", try hostNetwork.links().map(\.name).joined(separator: " "))
        say("  TAP \(tapNames.joined(separator: ", ")) " + (gone ? "is gone" : "is STILL THERE"))
        guard gone else { throw StepFailed(description: "the VM's TAP outlived QEMU") }

        section("brctl delbr br0 — eth0 gets its address and default route back")
        try qnetCommand(["bridge", "delete", "br0"])
        let addresses = try hostNetwork.addresses(family: .inet, index: eth0.index).map(\.prefix.description)
        let routes = try hostRoutes(hostNetwork)
        show("eth0's IPv4 addresses", addresses.joined(separator: "\n"))
        show("routes in \(host.name)", routes)
        guard addresses.contains("192.168.1.10/24"), routes.contains("default via \(routerAddress) dev eth0 metric 100") else {
            throw StepFailed(description: "eth0's address or default route was not restored")
        }
    }

    private func hostRoutes(_ network: HostNetwork) throws -> String {
        let names = Dictionary(try network.links().map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a })
        return try network.routes().map { $0.formatted(names: names) }.joined(separator: "\n")
    }

    private func section(_ title: String) { say("\n==> \(title)") }

    /// Prints what qnet itself read from the kernel over rtnetlink (routes in iproute2's
    /// format), labelled as such: the demo runs no `ip`.
    private func show(_ what: String, _ output: String) {
        say("  \(what) (qnet's own rtnetlink dump):")
        for line in output.split(separator: "\n") { say("    \(line)") }
    }

    /// `qnet doctor` in the host namespace: its verdict as it gave it — every check that is
    /// not OK (without the fix lines) and its summary line.
    private func doctor() throws {
        if Self.interrupted != 0 { throw Interrupted() }
        say("  $ qnet doctor    (checks that are not OK, and the summary)")
        let result = try Subprocess.run(Command(qnet, ["--netns", host.name, "doctor"]), timeout: .seconds(120))
        let lines = result.standardOutput.split(separator: "\n")
        let verdict = lines.filter { $0.hasPrefix("WARN") || $0.hasPrefix("FAIL") } + lines.suffix(1)
        for line in verdict { say("    \(line)") }
        if Self.interrupted != 0 { throw Interrupted() }
    }

    /// Runs `qnet --netns HOST ARGS` as a child and prints it like a terminal session.
    private func qnetCommand(_ arguments: [String], allowFailure: Bool = false, quiet: Bool = false) throws {
        if Self.interrupted != 0 { throw Interrupted() }
        if !quiet { say("  $ qnet \(arguments.joined(separator: " "))") }
        let result = try Subprocess.run(Command(qnet, ["--netns", host.name] + arguments), timeout: .seconds(300))
        if !quiet { for line in (result.standardOutput + result.standardError).split(separator: "\n") { say("    \(line)") } }
        if Self.interrupted != 0 { throw Interrupted() }
        if !result.succeeded && !allowFailure {
            throw StepFailed(description: "`qnet \(arguments.joined(separator: " "))` ended with \(result.termination)")
        }
    }

    /// Removes everything this run may have made: the VM, dnsmasq, both namespaces, the
    /// work directory.
    func cleanup(quiet: Bool) {
        if !quiet { say("==> cleanup: stopping the guest and dnsmasq, deleting namespaces \(lan.name) and \(host.name) and \(workDirectory)") }
        if dnsmasq > 0 { Subprocess.stop(dnsmasq); dnsmasq = 0 }
        names.remove(qnet: qnet)
    }

    /// What demos that were killed (SIGKILL, a crash) left: namespaces, VM and work
    /// directory named after a pid that no longer runs. A live demo's objects are left alone.
    static func removeLeftoversOfDeadDemos(qnet: String) {
        var pids = Set<Int32>()
        for directory in ["/run/netns", "/tmp"] {
            for name in FileSystem.list(directory) where name.hasPrefix(DemoNames.prefix) {
                if let pid = Int32(name.dropFirst(DemoNames.prefix.count).prefix { $0.isNumber }), pid > 0 { pids.insert(pid) }
            }
        }
        for pid in pids where pid != getpid() && ProcessIdentity.of(pid) == nil {
            DemoNames(run: pid).remove(qnet: qnet)
        }
    }
}

/// The names one demo run gives what it makes, all carrying the run's pid.
struct DemoNames {
    static let prefix = "qnet-demo-"
    let lan: NetworkNamespace
    let host: NetworkNamespace
    /// The micro-VM (`qnet vm run NAME`).
    let vm: String
    let workDirectory: String
    /// The work directory's name in `workParent`.
    let workName: String
    static let workParent = "/tmp"

    init(run: Int32) {
        lan = NetworkNamespace(name: "\(Self.prefix)\(run)-lan")
        host = NetworkNamespace(name: "\(Self.prefix)\(run)-host")
        vm = "demo-\(run)"
        workName = "\(Self.prefix)\(run)"
        workDirectory = "\(Self.workParent)/\(workName)"
    }

    /// Removes the VM, a dnsmasq left serving the LAN (found by its lease file in the work
    /// directory), both namespaces and the work directory; whatever is missing is skipped.
    func remove(qnet: String) {
        _ = try? Subprocess.run(Command(qnet, ["vm", "kill", vm]))
        let leaseOption = Array("--dhcp-leasefile=\(workDirectory)/".utf8)
        for entry in FileSystem.list("/proc") {
            guard let pid = Int32(entry), let command = try? FileSystem.readBytes("/proc/\(pid)/cmdline"),
                  command.split(separator: 0).contains(where: { $0.starts(with: leaseOption) }) else { continue }
            Subprocess.stop(pid)
        }
        for namespace in [host, lan] where namespace.exists { try? namespace.delete() }
        // The disk, leases and logs go too: the demo leaves nothing behind. Only what is
        // qnet's: a symlink or another user's entry planted at the name is left alone.
        (try? DirectoryDescriptor(opening: Self.workParent, followSymlinks: true))?.removeStateTree(workName)
    }
}
