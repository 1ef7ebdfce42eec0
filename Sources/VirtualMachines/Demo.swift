import Glibc
import HostNetwork
import Netlink
import QNetSystem
import QNetTypes

/// `qnet demo`: the classic bridge recipe replayed safely inside network namespaces that
/// the demo creates and removes — a "LAN" with a router and a DHCP server, and a "host"
/// whose eth0 is moved into a bridge, a micro-VM that gets a lease and pings the router,
/// then everything undone. Each step prints the qnet command it runs and its output.
public final class Demo {
    public struct Guest: Sendable {
        public var kernel: String
        public var initramfs: String
        /// Builds the guest's kernel command line: DHCP, then ping `target`, then stay up.
        public var commandLine: @Sendable (_ target: String) -> String
        /// Whether a console line says the guest got its lease / pinged / finished.
        public var leaseLine: @Sendable (String) -> String?
        public var pingOK: @Sendable (String) -> Bool

        public init(kernel: String, initramfs: String, commandLine: @escaping @Sendable (String) -> String,
                    leaseLine: @escaping @Sendable (String) -> String?, pingOK: @escaping @Sendable (String) -> Bool) {
            self.kernel = kernel
            self.initramfs = initramfs
            self.commandLine = commandLine
            self.leaseLine = leaseLine
            self.pingOK = pingOK
        }
    }

    public let qnet: String
    public let lan = NetworkNamespace(name: "qnet-demo-lan")
    public let host = NetworkNamespace(name: "qnet-demo-host")
    public let workDirectory: String
    public var say: (String) -> Void = { print($0) }
    /// Set from a signal handler; every wait checks it.
    nonisolated(unsafe) public static var interrupted: sig_atomic_t = 0

    private var dnsmasq: Int32 = 0
    private let guest: Guest
    private let routerAddress = "192.168.1.254"

    public init(qnet: String, guest: Guest, workDirectory: String = "/tmp/qnet-demo") {
        self.qnet = qnet
        self.guest = guest
        self.workDirectory = workDirectory
    }

    struct Interrupted: Error, CustomStringConvertible { var description: String { "interrupted" } }
    struct StepFailed: Error, CustomStringConvertible { var description: String }

    /// Runs the walkthrough; cleans up whatever happens. Returns whether every check held.
    public func run() -> Bool {
        let started = monotonicSeconds()
        cleanup(quiet: true)
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
        try FileSystem.makeDirectories(workDirectory)
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
        try hostNetwork.addRoute(Route(destination: nil, gateway: IPAddress(routerAddress), outputIndex: UInt32(eth0.index), metric: 100))
        guard let dnsmasqPath = Subprocess.which("dnsmasq") else { throw StepFailed(description: "dnsmasq is not installed (apt-get install dnsmasq-base)") }
        let dnsmasqLog = try FileSystem.openForAppending("\(workDirectory)/dnsmasq.log")
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
        try qnetCommand(["doctor"], allowFailure: true, quiet: true)
        say("  /dev/net/tun ok · bridge ok · \(Subprocess.which("qemu-system-x86_64") ?? "qemu missing") · accel tcg (KVM here cannot run guests)")

        section("brctl addbr br0; brctl addif br0 eth0 — and move eth0's address and default route to br0")
        try qnetCommand(["bridge", "create", "br0", "--uplink", "eth0"])
        try shell("ip route", hostRoutes(hostNetwork))

        section("brctl show")
        try qnetCommand(["show"])

        section("dd if=/dev/zero of=disk.img bs=1M seek=1023 count=1")
        try qnetCommand(["disk", "create", "\(workDirectory)/disk.img", "1G"], allowFailure: true)

        section("qemu-kvm ... -net nic -net tap,script=/etc/qemu-ifup — as qnet vm run (TAP fd passed, QEMU unprivileged)")
        let console = "\(workDirectory)/guest-console.log"
        unlink(console)
        try qnetCommand(["vm", "run", "demo-guest", "--memory", "256", "--accel", "tcg", "--nic", "bridge=br0",
                         "--kernel", guest.kernel, "--initrd", guest.initramfs, "--append", guest.commandLine(routerAddress),
                         "--console", console, "--user", "nobody"])
        say("  waiting for the guest to boot, get a DHCP lease from the LAN and ping \(routerAddress) ...")
        var lease: String?
        var pinged = false
        let deadline = monotonicSeconds() + 90
        while monotonicSeconds() < deadline && !(lease != nil && pinged) {
            if Demo.interrupted != 0 { throw Interrupted() }
            // Split on bytes: the guest ends lines with "\r\n", which Swift treats as one
            // Character that a split on "\n" would not match.
            let lines = ((try? FileSystem.readBytes(console)) ?? []).split(separator: 10).map { String(decoding: $0, as: UTF8.self) }
            for line in lines {
                if lease == nil, let found = guest.leaseLine(line) { lease = found; say("  guest: lease \(found)") }
                if !pinged && guest.pingOK(line) { pinged = true; say("  guest: ping \(routerAddress) ok") }
            }
            usleep(100_000)  // poll interval; the loop ends at its 90 s deadline
        }
        guard lease != nil, pinged else {
            throw StepFailed(description: "the guest did not get a lease and ping the router in 90 s (console: \(console))")
        }

        section("brctl show — now with the VM's TAP")
        try qnetCommand(["show"])

        section("shut the VM down; its TAP disappears with QEMU")
        let tapNames = try hostNetwork.links().filter { $0.alias?.hasPrefix("qnet:vm=demo-guest") == true }.map(\.name)
        try qnetCommand(["vm", "stop", "demo-guest", "--timeout", "5"])
        let gone = tapNames.allSatisfy { (try? hostNetwork.linkIfPresent(named: $0)) == nil }
        say("  $ ls /sys/class/net  (in \(host.name))")
        say("  " + (try hostNetwork.links().map(\.name).joined(separator: " ")))
        say("  TAP \(tapNames.joined(separator: ", ")) " + (gone ? "is gone" : "is STILL THERE"))
        guard gone else { throw StepFailed(description: "the VM's TAP outlived QEMU") }

        section("brctl delbr br0 — eth0 gets its address and default route back")
        try qnetCommand(["bridge", "delete", "br0"])
        let addresses = try hostNetwork.addresses(family: .inet, index: eth0.index).map(\.prefix.description)
        let routes = try hostRoutes(hostNetwork)
        try shell("ip -4 addr show dev eth0", addresses.joined(separator: "\n"))
        try shell("ip route", routes)
        guard addresses.contains("192.168.1.10/24"), routes.contains("default via \(routerAddress) dev eth0 metric 100") else {
            throw StepFailed(description: "eth0's address or default route was not restored")
        }
    }

    private func hostRoutes(_ network: HostNetwork) throws -> String {
        let names = Dictionary(try network.links().map { (UInt32($0.index), $0.name) }, uniquingKeysWith: { a, _ in a })
        return try network.routes().map { $0.formatted(names: names) }.joined(separator: "\n")
    }

    private func section(_ title: String) { say("\n==> \(title)") }

    private func shell(_ command: String, _ output: String) throws {
        say("  $ \(command)")
        for line in output.split(separator: "\n") { say("    \(line)") }
    }

    /// Runs `qnet --netns HOST ARGS` as a child and prints it like a terminal session.
    private func qnetCommand(_ arguments: [String], allowFailure: Bool = false, quiet: Bool = false) throws {
        if Demo.interrupted != 0 { throw Interrupted() }
        if !quiet { say("  $ qnet \(arguments.joined(separator: " "))") }
        let result = try Subprocess.run(Command(qnet, ["--netns", host.name] + arguments), timeout: .seconds(300))
        if !quiet { for line in (result.standardOutput + result.standardError).split(separator: "\n") { say("    \(line)") } }
        if Demo.interrupted != 0 { throw Interrupted() }
        if !result.succeeded && !allowFailure {
            throw StepFailed(description: "`qnet \(arguments.joined(separator: " "))` ended with \(result.termination)")
        }
    }

    /// Removes everything the demo may have made: the VM, dnsmasq, both namespaces.
    public func cleanup(quiet: Bool) {
        if !quiet { say("==> cleanup: stopping the guest and dnsmasq, deleting namespaces \(lan.name) and \(host.name) and \(workDirectory)") }
        _ = try? Subprocess.run(Command(qnet, ["vm", "kill", "demo-guest"]))
        if dnsmasq > 0 { Subprocess.stop(dnsmasq); dnsmasq = 0 }
        for namespace in [host, lan] where namespace.exists { try? namespace.delete() }
        // The disk, leases and logs go too: the demo leaves nothing behind.
        FileSystem.removeTree(workDirectory)
    }
}
