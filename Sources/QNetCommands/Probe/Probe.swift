import ArgumentParser
import GuestImage
import QEMU
import QNetTypes
import VirtualMachines

/// `qnet probe BRIDGE`: boot a throwaway micro-VM on the bridge and report what works.
struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Boot a throwaway micro-VM on a bridge and report, step by step, what works from inside a guest.",
        discussion: """
            Steps, each with its time: link up, address (a DHCP lease unless --address), gateway ping, each \
            --target ping, DNS resolution (--dns). With IPv6 (a network with an IPv6 prefix, --target6 or \
            --ipv6 on): slaac and dhcp6 addresses, gateway6 ping, each --target6 ping, dns6 (AAAA of --dns). Exit status 0 only if every step passed. The micro-VM \
            (Debian kernel + busybox initramfs) is built and cached by `qnet guest build`.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The bridge, or a named network (`qnet net list`), to probe.", transform: Parse.interfaceName)
    var bridge: String?

    @Option(name: .customLong("user-mode"), help: ArgumentHelp("Probe QEMU's user-mode networking instead: slirp or passt.", valueName: "backend"))
    var userMode: UserBackend?

    @Option(help: ArgumentHelp("A static guest address (default: ask DHCP).", valueName: "cidr"), transform: Parse.interfaceAddress)
    var address: IPPrefix?

    @Option(help: ArgumentHelp("Gateway to ping and route through (default: the lease's router).", valueName: "ip"), transform: Parse.ipAddress)
    var gateway: IPAddress?

    @Option(name: .customLong("target"), help: ArgumentHelp("An address to ping from the guest (repeatable).", valueName: "ip"), transform: Parse.ipAddress)
    var targets: [IPAddress] = []

    @Option(name: .customLong("target6"), help: ArgumentHelp("An IPv6 address to ping from the guest once it has an IPv6 address (repeatable; turns the IPv6 steps on).", valueName: "ip6"), transform: Parse.ipAddress)
    var targets6: [IPAddress] = []

    @Option(help: ArgumentHelp("IPv6 steps (SLAAC and DHCPv6 addresses, gateway6 and ping6, AAAA with --dns): on or off (default: on for a network with an IPv6 prefix).", valueName: "on|off"))
    var ipv6: Switch?

    @Option(help: ArgumentHelp("A name the guest resolves through its DNS server.", valueName: "name"))
    var dns: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds for the whole probe, boot included.", valueName: "seconds"), transform: Parse.seconds)
    var timeout: Double = 60

    @Option(help: "Accelerator: kvm, tcg or auto.")
    var accel: Acceleration = .auto

    @Option(help: ArgumentHelp("NIC model: virtio, e1000, e1000e or rtl8139.", valueName: "model"), transform: Parse.nicModel)
    var model: NICModel = .virtio

    @Option(help: ArgumentHelp("The user QEMU runs as (default: a uid of its own from the VM uid range, as for `qnet vm run`).", valueName: "user"))
    var user: String?

    @Flag(help: "Print JSON (schema in the README).")
    var json = false

    func validate() throws {
        if (bridge == nil) == (userMode == nil) { throw ValidationError("name a bridge or network to probe, or pass --user-mode slirp|passt") }
        if let address, !address.address.isIPv4 { throw ValidationError("invalid address '\(address)': the micro-VM takes an IPv4 address") }
        if let bad = targets6.first(where: \.isIPv4) { throw ValidationError("invalid --target6 '\(bad)': use an IPv6 address") }
        if ipv6 == .off && !targets6.isEmpty { throw ValidationError("--target6 needs the IPv6 steps; drop --ipv6 off") }
        if timeout < 5 || timeout > 600 { throw ValidationError("invalid timeout '\(formatted(timeout))': use 5 to 600 seconds") }
    }

    func run() throws {
        let host = try global.openHost()
        let manager = VMFactory.manager(host: host, global: global)
        let target = bridge ?? "user-mode"
        var request = ProbeRequest(bridge: target, address: address?.description, gateway: gateway?.description,
                                   targets: targets.map(\.description), dnsName: dns, timeout: timeout, accel: accel,
                                   user: user, model: model)
        request.userMode = userMode
        request.ipv6 = ipv6.map(\.isOn)
        request.targets6 = targets6.map(\.description)
        let prober = Prober(manager: manager, image: { try GuestImageBuilder().cached().image })
        let outcome = try prober.run(request, progress: { step in
            if !json { print(ProbeFormatting.line(step)) }
        }, started: {
            if !json { print("probing \(target) from a micro-VM (\(model.rawValue) NIC) ...") }
        })
        if json {
            print(try Output.json(outcome))
        } else {
            if let failure = outcome.failure { print("✘ \(failure)") }
            print(outcome.ok ? "✔ all steps passed in \(formatted(Double(outcome.totalMilliseconds) / 1000)) s"
                              : "✘ \(outcome.steps.filter { !$0.ok }.count) step(s) failed")
        }
        if !outcome.ok { throw ExitCode(1) }
    }
}

enum ProbeFormatting {
    static func line(_ step: ProbeStep) -> String {
        let mark = step.ok ? "✔" : (step.skipped ? "-" : "✘")
        let what = step.target.map { "\(step.name) \($0)" } ?? step.name
        let time = String(step.milliseconds) + " ms"
        return "  \(mark) \(what.padding(28)) \(time.padding(9)) \(step.summary)"
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

extension UserBackend: ExpressibleByArgument {}
