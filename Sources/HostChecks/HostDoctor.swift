import HostNetwork
import PCIDevices
import QNetSystem

/// What `qnet doctor` checks, and where it looks.
public struct DoctorOptions: Sendable {
    /// Where the host is read from (fixture trees in tests).
    public var root: HostRoot
    /// `--bridge BR`: also check this bridge (needs ``network``).
    public var bridge: String?
    /// `--user USER`: also check device access for the user who will run guests.
    public var user: UserIdentity?
    /// Decide the invoking user's access by computing it for this identity instead of
    /// asking the kernel for this process (tests acting as another user).
    public var invokingIdentity: UserIdentity?
    /// The rtnetlink view of the host, for `--bridge`; nil leaves the bridge checks out
    /// with a failure saying so.
    public var network: HostNetwork?
    /// Whether an interface is 802.11 (default: sysfs under ``root``).
    public var isWireless: @Sendable (String) -> Bool
    /// Runs iptables-save and nft.
    public var runCommand: CommandRunner
    /// Whether to boot the KVM test guest (from the per-boot cache when it is there).
    public var probeKVM: Bool
    /// The probe itself; defaults to ``KVMProbe/cached(qemu:timeout:cacheDirectory:bootIDPath:)``.
    public var kvmProbe: @Sendable (_ qemu: String) -> KVMProbeResult
    /// Called just before a probe that is not cached (it may take up to its timeout).
    public var willProbeKVM: (@Sendable () -> Void)?
    /// Bound for each helper program (qemu --version, iptables-save, nft, gzip).
    public var commandTimeout: Duration
    /// qnet's host-transaction journals (`/run/qnet/journal` under ``root``; the CLI passes
    /// its state directory's).
    public var journalDirectory: String
    /// `--passthrough`: also check what PCI device assignment (vfio-pci) needs.
    public var passthrough = false
    /// `--pci ADDR`: check these functions' IOMMU groups (implies ``passthrough``); with
    /// ``passthrough`` alone, every network function's.
    public var pciDevices: [PCIAddress] = []

    public init(root: HostRoot = .host, bridge: String? = nil, user: UserIdentity? = nil, network: HostNetwork? = nil) {
        self.root = root
        self.bridge = bridge
        self.user = user
        self.network = network
        let sys = root.sys
        isWireless = { HostNetwork.sysfsSaysWireless($0, sysfsRoot: sys) }
        runCommand = { executable, arguments in try Subprocess.run(Command(executable, arguments), timeout: .seconds(5)) }
        probeKVM = true
        kvmProbe = { qemu in KVMProbe.cached(qemu: qemu) }
        commandTimeout = .seconds(5)
        journalDirectory = root.run + "/qnet/journal"
    }
}

/// `qnet doctor`: every host readiness check, in a fixed order, each with what it found
/// and the fix. Reads only; changes nothing on the host (the KVM probe boots a throwaway
/// guest with no devices and writes its verdict to /run/qnet/kvm-probe.json).
public enum HostDoctor {
    /// Runs every check. Replaces the classic manual steps (`lsmod | grep tun`,
    /// `grep CONFIG_TUN /boot/config-$(uname -r)`, `ls -l /dev/net/tun`, `iptables -S FORWARD`,
    /// `sysctl net.bridge.bridge-nf-call-iptables`, `brctl showstp br0`, ...). Needs no
    /// capability; as root it can also read the firewall rules.
    public static func run(_ options: DoctorOptions) -> DoctorReport {
        let root = options.root
        var checks: [CheckResult] = []
        var configProblems: [String] = []
        let config = KernelConfig.load(root: root, problems: &configProblems)
        let processIdentity = options.invokingIdentity ?? UserIdentity.current()
        let askKernel = options.invokingIdentity == nil

        /// Access checks for the invoking user and `--user`, when the device is there.
        func accessChecks(idPrefix: String, title: String, path: String, facts: FileFacts?,
                          denied: (UserIdentity) -> (CheckStatus, String)) {
            guard let facts else { return }
            checks.append(DeviceChecks.access(id: idPrefix, title: title, path: path, facts: facts, who: processIdentity,
                                              askKernel: askKernel, denied: denied))
            if let user = options.user {
                checks.append(DeviceChecks.access(id: idPrefix + ".user", title: "\(title) for \(user.name)", path: path, facts: facts,
                                                  who: user, askKernel: false, denied: denied))
            }
        }

        // TUN
        let tunDevice = TUNChecks.device(root)
        checks.append(tunDevice)
        let tunDriver = TUNChecks.driver(root, config: config)
        checks.append(tunDriver)
        checks.append(TUNChecks.config(config, problems: configProblems, driverPresent: tunDriver.status == .ok))
        let tunPath = TUNChecks.expected(root).path
        if tunDevice.status == .ok, let facts = FileFacts(path: tunPath) {
            accessChecks(idPrefix: "tun.access", title: "TUN access", path: tunPath, facts: facts,
                         denied: TUNChecks.accessDenied(path: tunPath, facts: facts))
        }

        // Bridge driver and privilege
        checks.append(KernelChecks.bridgeDriver(root, config: config, problems: configProblems))
        checks.append(KernelChecks.netAdmin(root))

        // QEMU, KVM, vhost-net
        let (qemuCheck, qemu) = QEMUChecks.binary(root, timeout: options.commandTimeout)
        checks.append(qemuCheck)
        checks.append(QEMUChecks.image(root, timeout: options.commandTimeout))
        let (kvmDevice, kvmFacts) = QEMUChecks.kvmDevice(root)
        checks.append(kvmDevice)
        let kvmPath = QEMUChecks.kvmExpected(root).path
        if let kvmFacts {
            accessChecks(idPrefix: "kvm.access", title: "KVM access", path: kvmPath, facts: kvmFacts,
                         denied: QEMUChecks.kvmDenied(path: kvmPath, facts: kvmFacts))
        }
        let kvmUsable = kvmFacts != nil && checks.first { $0.id == "kvm.access" }?.status == .ok
        var probe: KVMProbeResult?
        var skipped: String?
        if !options.probeKVM {
            skipped = "probe turned off"
        } else if qemu == nil {
            skipped = "no QEMU to run it with"
        } else if kvmFacts == nil {
            skipped = "no usable \(kvmPath)"
        } else if !kvmUsable {
            skipped = "\(processIdentity.name) cannot open \(kvmPath)"
        } else if let qemu {
            if root == .host, KVMProbe.cachedResult(qemu: qemu) == nil { options.willProbeKVM?() }
            probe = options.kvmProbe(qemu)
        }
        checks.append(QEMUChecks.kvmRuns(probe, skipped: skipped))
        let (vhostDevice, vhostFacts) = QEMUChecks.vhostDevice(root, config: config)
        checks.append(vhostDevice)
        let vhostPath = QEMUChecks.vhostExpected(root).path
        if let vhostFacts {
            accessChecks(idPrefix: "vhost.access", title: "vhost-net access", path: vhostPath, facts: vhostFacts,
                         denied: QEMUChecks.vhostDenied(path: vhostPath, facts: vhostFacts))
        }

        // Forwarding traps
        checks.append(ForwardingChecks.bridgeNetfilter(root))
        checks.append(ForwardingChecks.firewallForward(root, bridge: options.bridge, runner: options.runCommand))
        checks.append(ForwardingChecks.ipForward(root))
        checks.append(IPv6Checks.enabled(root))
        checks.append(IPv6Checks.acceptRA(root))

        // The bridge, then the managers (which need its index)
        var bridgeChecks: [CheckResult] = []
        var bridgeLink: Link?
        if let bridge = options.bridge {
            if let network = options.network {
                (bridgeChecks, bridgeLink) = BridgeChecks.run(network: network, name: bridge, isWireless: options.isWireless)
            } else {
                bridgeChecks = [CheckResult(id: "bridge.exists", status: .fail, title: "Bridge \(bridge)",
                                            found: "cannot open a netlink socket to look at it", remedy: "run `sudo qnet doctor --bridge \(bridge)`")]
            }
        }
        var managed: [ManagerChecks.Interface] = []
        if let bridge = options.bridge {
            managed.append(ManagerChecks.Interface(name: bridge, kind: .bridge, index: bridgeLink?.isBridge == true ? bridgeLink?.index : nil))
        }
        managed.append(ManagerChecks.Interface(name: "vnet0", kind: .tun, index: nil))
        checks.append(ManagerChecks.networkManager(root, interfaces: managed))
        checks.append(ManagerChecks.networkd(root, interfaces: managed))
        checks.append(JournalChecks.pending(directory: options.journalDirectory))
        checks += bridgeChecks
        if options.passthrough || !options.pciDevices.isEmpty {
            checks += PassthroughChecks.run(root, devices: options.pciDevices, config: config)
        }
        return DoctorReport(checks: checks)
    }
}
