import Glibc
import GuestImage
import HostNetwork
import QEMU
import QNetSystem
import QNetTypes

/// What `qnet probe` checks from inside a throwaway micro-VM on a bridge.
public struct ProbeRequest: Sendable {
    /// The bridge, or a named network (`qnet net list`); a network's name wins over a
    /// bridge of the same name, as in `--nic network=`.
    public var bridge: String
    /// Probe QEMU's user-mode networking (slirp or passt) instead of a bridge.
    public var userMode: UserBackend?
    /// A static `A.B.C.D/LEN`, or nil for a DHCP lease.
    public var address: String?
    public var gateway: String?
    public var targets: [String]
    public var dnsName: String?
    /// Seconds for the whole probe, boot included.
    public var timeout: Double
    public var accel: Acceleration
    /// Who QEMU runs as; nil: as for `qnet vm run`, a uid of its own from the VM uid range.
    public var user: String?
    public var model: NICModel
    /// IPv6 steps: nil turns them on for a named network with an IPv6 prefix (and off
    /// elsewhere); `targets6` or `gateway6` turn them on too.
    public var ipv6: Bool?
    /// The `gateway6` ping target; nil: a network's ::1, else the advertised router.
    public var gateway6: String?
    /// IPv6 addresses to ping (`--target6`).
    public var targets6: [String] = []

    public init(bridge: String, address: String? = nil, gateway: String? = nil, targets: [String] = [], dnsName: String? = nil,
                timeout: Double = 60, accel: Acceleration = .auto, user: String? = nil, model: NICModel = .virtio) {
        self.bridge = bridge
        self.userMode = nil
        self.address = address
        self.gateway = gateway
        self.targets = targets
        self.dnsName = dnsName
        self.timeout = timeout
        self.accel = accel
        self.user = user
        self.model = model
    }

    /// The guest's instructions: probe mode, one step per requested check, each step
    /// limited so that the whole run fits the timeout.
    /// `networkIPv6` is the probed network's IPv6 addressing, if it has one.
    public func plan(networkIPv6: IPv6Addressing? = nil) -> ProbePlan {
        var plan = ProbePlan(mode: .probe,
                             addressing: address.map { .address($0) } ?? .dhcp,
                             gateway: gateway.map { .address($0) } ?? .automatic,
                             targets: targets, dnsName: dnsName,
                             stepTimeout: max(2, min(30, Int(timeout / 4))))
        plan.ipv6 = ipv6 ?? (networkIPv6 != nil || !targets6.isEmpty || gateway6 != nil)
        if plan.ipv6 {
            plan.targets6 = targets6
            if let gateway = gateway6 ?? networkIPv6?.gateway.description { plan.gateway6 = .address(gateway) }
        }
        return plan
    }
}

/// How a probe went: the guest's report plus what the host saw.
public struct ProbeOutcome: Codable, Sendable {
    public var schemaVersion = 1
    public var bridge: String
    public var vm: String
    public var accel: Acceleration
    /// Whether every requested step passed.
    public var ok: Bool
    /// Host-side time from `vm run` to the guest's first result line.
    public var bootMilliseconds: Int?
    public var totalMilliseconds: Int
    public var steps: [ProbeStep]
    /// Why the probe ended early (timeout, QEMU exited), if it did.
    public var failure: String?
}

/// Boots a micro-VM on a bridge, follows its serial console, and reports each step.
/// Equivalent to booting a rescue guest by hand and running `ip link`, `udhcpc`, `ping`
/// and `nslookup` in it. Needs what `qnet vm run` needs.
public final class Prober {
    public let manager: VMManager
    /// The micro-VM, asked for only once the target has been checked (building it takes seconds).
    private let image: () throws -> GuestImage

    public init(manager: VMManager, image: GuestImage) {
        self.manager = manager
        self.image = { image }
    }

    /// `image` is called after the probe's target has been validated, so a typo in a bridge
    /// name never costs an image build.
    public init(manager: VMManager, image: @escaping () throws -> GuestImage) {
        self.manager = manager
        self.image = image
    }

    /// The NIC a probe of `request` gets: user-mode, a named network's (which must be
    /// running), or a bridge's (which must exist and be a bridge). Throws before anything
    /// is built or started.
    public func nic(for request: ProbeRequest) throws -> NICSpec {
        if let backend = request.userMode { return NICSpec(user: UserNICSpec(backend: backend, model: request.model)) }
        let name = request.bridge
        // A name that is no network is a bridge; a network whose file is broken is an error.
        let networks = NetworkStore()
        if try networks.definitionIfPresent(name) != nil {
            guard networks.isActive(name) else { throw NetworkError.nicOnStoppedNetwork(name) }
            return NICSpec(network: name, model: request.model)
        }
        let link = try manager.host.link(named: name)
        guard link.isBridge else { throw HostNetworkError.notABridge(name, kind: link.kind) }
        return NICSpec(bridge: name, model: request.model)
    }

    /// Runs the probe; `progress` sees each step as the guest reports it, `started` is called
    /// once the target is checked and the micro-VM started. The VM is always removed
    /// before this returns.
    public func run(_ request: ProbeRequest, progress: (ProbeStep) -> Void = { _ in }, started onStart: () -> Void = {}) throws -> ProbeOutcome {
        let started = monotonicSeconds()
        let name = "probe-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        let nic = try nic(for: request)
        let networkIPv6 = try nic.network.flatMap { try NetworkStore().definitionIfPresent($0) }?.ipv6Prefix
            .flatMap(IPPrefix.init).map(IPv6Addressing.init(prefix:))
        let commandLine = try request.plan(networkIPv6: networkIPv6).kernelCommandLine()
        let image = try image()
        let definition = VMDefinition(
            name: name, memory: 256, cpus: 1, nics: [nic],
            kernel: image.kernel, initrd: image.initramfs, append: commandLine, accel: request.accel,
            user: request.user,
            // A guest panic then ends QEMU instead of rebooting it.
            extraArguments: ["-no-reboot"])
        let state = try manager.run(definition)
        defer { try? manager.kill(name) }
        onStart()

        var parser = ProbeLogParser()
        var report = ProbeReport()
        var offset = 0
        var firstLine: Int?
        var failure: String?
        let deadline = started + request.timeout
        while !report.isComplete {
            if let bytes = VMStore.readFile(state.consoleLog), bytes.count > offset {
                for event in parser.feed(Array(bytes[offset...])) {
                    if firstLine == nil { firstLine = Int((monotonicSeconds() - started) * 1000) }
                    report.apply(event)
                    if case let .step(step) = event { progress(step) }
                }
                offset = bytes.count
            }
            if report.isComplete { break }
            if !ProcessInfoReader.isAlive(state.pid, startTime: state.startTime) {
                failure = "the micro-VM's QEMU exited before the guest finished (see \(state.consoleLog))"
                break
            }
            if monotonicSeconds() > deadline {
                failure = "the guest did not finish within \(Int(request.timeout)) s"
                break
            }
            usleep(50_000)  // poll interval; the loop ends at the probe deadline
        }
        return ProbeOutcome(bridge: request.bridge, vm: name, accel: state.accel, ok: failure == nil && report.ok,
                            bootMilliseconds: firstLine, totalMilliseconds: Int((monotonicSeconds() - started) * 1000),
                            steps: report.steps, failure: failure)
    }
}

extension ProbeStep {
    /// What a person reads for this step. An address step names the address and, for a
    /// lease, the server that gave it and the router ("10.99.7.50/24 leased from 10.99.7.1,
    /// router 10.99.7.1"); other steps show the guest's own detail text.
    public var summary: String {
        if name == "slaac" || name == "dhcp6", ok, let address = fields["addr"] { return "\(address) (\(detail))" }
        guard name == "address", ok, let address = fields["addr"] else { return detail }
        guard fields["method"] == "dhcp" else { return "\(address) (\(detail))" }
        var text = "\(address) leased from \(fields["server"] ?? "?")"
        if let router = fields["router"], router != "-" { text += ", router \(router)" }
        return text
    }
}
