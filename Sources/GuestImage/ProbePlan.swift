import Glibc

/// What the micro-VM should do, as typed values; `kernelCommandLine()` turns it into the
/// `-append` string the guest's /init reads.
///
/// Kernel command line keys (all optional; the guest reads them from /proc/cmdline):
///
/// | key | value | default | meaning |
/// |---|---|---|---|
/// | `qnet.mode` | `probe` \| `serve` | `probe` | probe: run the steps, print `QNET done`, power off. serve: run the steps, print `QNET ready` once addressed, then stay up answering pings (and iperf3 if asked) until ACPI power-off or the lifetime ends |
/// | `qnet.iface` | interface name | first Ethernet interface | which NIC to configure |
/// | `qnet.addr` | `A.B.C.D/LEN` \| `dhcp` | `dhcp` | static address, or a DHCP lease (busybox udhcpc) |
/// | `qnet.gw` | `A.B.C.D` \| `none` | the lease's router (DHCP), none (static) | gateway: default route and a `gateway` ping step |
/// | `qnet.targets` | `IP[,IP...]` | none | one `ping` step per address |
/// | `qnet.dns` | host name | none | a `dns` step resolving the name |
/// | `qnet.dnsserver` | `A.B.C.D[:PORT]` | the lease's first DNS server | server for the `dns` step |
/// | `qnet.timeout` | seconds (1-600) | 10 | limit of each step (carrier, lease, each ping, DNS) |
/// | `qnet.hostname` | host name label | none | guest host name, also sent in DHCP (option 12) |
/// | `qnet.iperf` | `A.B.C.D[:PORT]` | none | an `iperf` step: iperf3 client to that server (port 5201) |
/// | `qnet.iperf.time` | seconds (1-600) | 5 | iperf3 `-t` |
/// | `qnet.iperf.reverse` | `0` \| `1` | 0 | iperf3 `-R` (server sends, guest receives) |
/// | `qnet.iperf.server` | port | none | serve mode: run `iperf3 -s -p PORT` before `QNET ready` |
/// | `qnet.acpi` | `poweroff` \| `ignore` | `poweroff` | serve mode: what the ACPI power button (QMP `system_powerdown`) does |
/// | `qnet.lifetime` | seconds | 0 (forever) | serve mode: power off after this long |
/// | `qnet.ipv6` | `0` \| `1` | 0 | IPv6 steps: `slaac` (the kernel's address from router advertisements), `dhcp6` (dhcpcd), `gateway6`, `ping6`, `dns6` (AAAA of `qnet.dns`) |
/// | `qnet.gw6` | IPv6 address \| `none` | the advertised default router (link-local) | the `gateway6` ping target; an address other than the advertised router also becomes the IPv6 default route |
/// | `qnet.targets6` | `IP6[,IP6...]` | none | one `ping6` step per address, after the IPv6 address steps |
/// | `qnet.mac` | MAC address | the NIC's | the guest sets this MAC on its interface first (a spoofing guest, for anti-spoofing tests; pass it in `extraKernelArguments`) |
/// | `qnet.addr6` | IPv6 address | none | after the `dhcp6` step the guest also takes this address (step `addr6`; /128, no duplicate address detection) and sends its `ping6` steps from it (a spoofing guest, for anti-spoofing tests; pass it in `extraKernelArguments`) |
/// | `qnet.run` | path in the image | none | after the other steps, /init sources this script (`GuestImageBuilder.extraFiles`), which reports its own steps; pass it in `extraKernelArguments` |
public struct ProbePlan: Equatable, Sendable {
    public enum Mode: String, Equatable, Sendable, CaseIterable { case probe, serve }

    public enum Addressing: Equatable, Sendable {
        /// A DHCP lease (busybox udhcpc).
        case dhcp
        /// A static IPv4 address with prefix length, e.g. `192.168.1.50/24`.
        case address(String)
    }

    public enum Gateway: Equatable, Sendable {
        /// The lease's router with DHCP, none with a static address.
        case automatic
        /// No default route and no gateway step.
        case none
        /// This IPv4 address.
        case address(String)
    }

    public enum ACPIAction: String, Equatable, Sendable, CaseIterable {
        /// The power button powers the guest off (`qnet vm stop` works).
        case poweroff
        /// The power button is ignored (a guest that needs `quit` to stop).
        case ignore
    }

    /// An iperf3 client run in the guest.
    public struct IperfClient: Equatable, Sendable {
        public var host: String
        public var port: Int
        public var seconds: Int
        /// iperf3 `-R`: the server sends, the guest receives.
        public var reverse: Bool

        public init(host: String, port: Int = 5201, seconds: Int = 5, reverse: Bool = false) {
            self.host = host
            self.port = port
            self.seconds = seconds
            self.reverse = reverse
        }
    }

    public var mode: Mode
    public var interface: String?
    public var addressing: Addressing
    public var gateway: Gateway
    /// Addresses (IPv4 or IPv6) to ping, each one step.
    public var targets: [String]
    /// A name to resolve.
    public var dnsName: String?
    /// `A.B.C.D` or `A.B.C.D:PORT`.
    public var dnsServer: String?
    /// Seconds each step may take.
    public var stepTimeout: Int
    public var hostname: String?
    public var iperf: IperfClient?
    public var iperfServerPort: Int?
    public var acpi: ACPIAction
    /// Serve mode: seconds until the guest powers itself off (nil: never).
    public var lifetime: Int?
    /// More kernel parameters, appended verbatim after validation (no spaces inside one).
    public var extraKernelArguments: [String]
    /// IPv6 steps (`qnet.ipv6=1`): SLAAC and DHCPv6 addresses, the IPv6 gateway, `targets6`, AAAA of `dnsName`.
    public var ipv6: Bool = false
    /// The `gateway6` ping: the advertised router (automatic), none, or this IPv6 address.
    public var gateway6: Gateway = .automatic
    /// IPv6 addresses to ping once the guest has an IPv6 address, each one step.
    public var targets6: [String] = []

    public init(mode: Mode = .probe, interface: String? = nil, addressing: Addressing = .dhcp, gateway: Gateway = .automatic,
                targets: [String] = [], dnsName: String? = nil, dnsServer: String? = nil, stepTimeout: Int = 10,
                hostname: String? = nil, iperf: IperfClient? = nil, iperfServerPort: Int? = nil,
                acpi: ACPIAction = .poweroff, lifetime: Int? = nil, extraKernelArguments: [String] = []) {
        self.mode = mode
        self.interface = interface
        self.addressing = addressing
        self.gateway = gateway
        self.targets = targets
        self.dnsName = dnsName
        self.dnsServer = dnsServer
        self.stepTimeout = stepTimeout
        self.hostname = hostname
        self.iperf = iperf
        self.iperfServerPort = iperfServerPort
        self.acpi = acpi
        self.lifetime = lifetime
        self.extraKernelArguments = extraKernelArguments
    }

    /// Kernel parameters every micro-VM boot gets:
    /// - `console=ttyS0`: the serial port is the result channel;
    /// - `quiet`: kernel messages below level 4 stay off the console (results are level 2);
    /// - `printk.devkmsg=on`: no rate limit on the guest's result lines (see `GuestScripts`);
    ///   the `qnet.*` keys that follow are read by /init from /proc/cmdline;
    /// - `panic=-1`: reboot at once on a panic — with QEMU's `-no-reboot`, QEMU exits;
    /// - `i8042.noaux i8042.nomux i8042.nopnp`: skip PS/2 mouse probing, slow under TCG;
    /// - `8250.nr_uarts=1`: do not probe serial ports beyond ttyS0;
    /// - `cryptomgr.notests`: skip the crypto self-tests at boot;
    /// - `random.trust_cpu=on`: do not wait for entropy.
    public static let baseKernelArguments = [
        "console=ttyS0", "quiet", "printk.devkmsg=on", "panic=-1",
        "i8042.noaux", "i8042.nomux", "i8042.nopnp", "8250.nr_uarts=1", "cryptomgr.notests", "random.trust_cpu=on",
    ]

    /// The x86 kernel's command-line limit (COMMAND_LINE_SIZE, including the final NUL).
    public static let maximumCommandLineLength = 2047

    /// The `-append` string for this plan. Throws `GuestImageError.invalidPlan` naming the first bad value.
    public func kernelCommandLine() throws -> String {
        try validate()
        var words = Self.baseKernelArguments
        words.append("qnet.mode=\(mode.rawValue)")
        if let interface { words.append("qnet.iface=\(interface)") }
        switch addressing {
        case .dhcp: words.append("qnet.addr=dhcp")
        case .address(let cidr): words.append("qnet.addr=\(cidr)")
        }
        switch gateway {
        case .automatic: break
        case .none: words.append("qnet.gw=none")
        case .address(let address): words.append("qnet.gw=\(address)")
        }
        if !targets.isEmpty { words.append("qnet.targets=\(targets.joined(separator: ","))") }
        if let dnsName { words.append("qnet.dns=\(dnsName)") }
        if let dnsServer { words.append("qnet.dnsserver=\(dnsServer)") }
        words.append("qnet.timeout=\(stepTimeout)")
        if let hostname { words.append("qnet.hostname=\(hostname)") }
        if let iperf {
            words.append("qnet.iperf=\(iperf.host):\(iperf.port)")
            words.append("qnet.iperf.time=\(iperf.seconds)")
            if iperf.reverse { words.append("qnet.iperf.reverse=1") }
        }
        if let iperfServerPort { words.append("qnet.iperf.server=\(iperfServerPort)") }
        if ipv6 {
            words.append("qnet.ipv6=1")
            switch gateway6 {
            case .automatic: break
            case .none: words.append("qnet.gw6=none")
            case .address(let address): words.append("qnet.gw6=\(address)")
            }
            if !targets6.isEmpty { words.append("qnet.targets6=\(targets6.joined(separator: ","))") }
        }
        if mode == .serve {
            words.append("qnet.acpi=\(acpi.rawValue)")
            if let lifetime { words.append("qnet.lifetime=\(lifetime)") }
        }
        words += extraKernelArguments
        let line = words.joined(separator: " ")
        guard line.utf8.count <= Self.maximumCommandLineLength else {
            throw GuestImageError.invalidPlan(key: "kernel command line", value: "\(line.utf8.count) bytes",
                                              allowed: "at most \(Self.maximumCommandLineLength) bytes; use fewer targets")
        }
        return line
    }

    /// Checks every value; throws `GuestImageError.invalidPlan` naming the first bad one.
    public func validate() throws {
        func bad(_ key: String, _ value: String, _ allowed: String) -> GuestImageError { .invalidPlan(key: key, value: value, allowed: allowed) }
        if let interface, !Self.isInterfaceName(interface) {
            throw bad("interface", interface, "use 1-15 characters without '/', ':', '=', ',' or whitespace")
        }
        if case .address(let cidr) = addressing {
            let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, Self.isIPv4(String(parts[0])), let length = Int(parts[1]), (0...32).contains(length),
                  parts[1].allSatisfy(\.isNumber) else {
                throw bad("address", cidr, "use IPv4ADDRESS/PREFIXLEN, e.g. 192.168.1.50/24, or DHCP")
            }
        }
        if case .address(let address) = gateway, !Self.isIPv4(address) {
            throw bad("gateway", address, "use an IPv4 address, e.g. 192.168.1.254")
        }
        for target in targets where !Self.isIPv4(target) && !Self.isIPv6(target) {
            throw bad("target", target, "use an IPv4 or IPv6 address, e.g. 192.168.1.254")
        }
        if case .address(let address) = gateway6, !Self.isIPv6(address) {
            throw bad("IPv6 gateway", address, "use an IPv6 address, e.g. fd12:3456:789a::1")
        }
        for target in targets6 where !Self.isIPv6(target) {
            throw bad("IPv6 target", target, "use an IPv6 address, e.g. fd12:3456:789a::1")
        }
        if !ipv6 && (!targets6.isEmpty || gateway6 != .automatic) {
            throw bad("IPv6 target", targets6.first ?? "gateway", "only with the IPv6 steps turned on")
        }
        if let dnsName, !Self.isHostName(dnsName) {
            throw bad("DNS name", dnsName, "use a host name of letters, digits, '-' and '.', at most 253 characters")
        }
        if let dnsServer, !Self.isEndpoint(dnsServer) {
            throw bad("DNS server", dnsServer, "use an IPv4 address with an optional :PORT, e.g. 192.168.1.254 or 10.0.2.2:5353")
        }
        guard (1...600).contains(stepTimeout) else { throw bad("timeout", String(stepTimeout), "use 1 to 600 seconds") }
        if let hostname, !Self.isHostName(hostname) || hostname.contains(".") || hostname.count > 63 {
            throw bad("hostname", hostname, "use one label of letters, digits and '-', at most 63 characters")
        }
        if let iperf {
            guard Self.isIPv4(iperf.host) else { throw bad("iperf3 server", iperf.host, "use an IPv4 address") }
            guard (1...65535).contains(iperf.port) else { throw bad("iperf3 port", String(iperf.port), "use 1 to 65535") }
            guard (1...600).contains(iperf.seconds) else { throw bad("iperf3 time", String(iperf.seconds), "use 1 to 600 seconds") }
        }
        if let iperfServerPort {
            guard (1...65535).contains(iperfServerPort) else { throw bad("iperf3 server port", String(iperfServerPort), "use 1 to 65535") }
            guard mode == .serve else { throw bad("iperf3 server port", String(iperfServerPort), "only in serve mode") }
        }
        if let lifetime, lifetime < 1 { throw bad("lifetime", String(lifetime), "use at least 1 second, or none for no limit") }
        for word in extraKernelArguments where word.isEmpty || word.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\"" }) {
            throw bad("kernel argument", word, "use one word without spaces or quotes")
        }
    }

    /// Seconds the guest may spend on its steps at most (boot excluded): a host deadline
    /// is this plus the boot allowance.
    public var worstCaseStepSeconds: Int {
        var total = stepTimeout  // carrier
        total += addressing == .dhcp ? stepTimeout + 5 : 1
        if gateway != .none { total += stepTimeout }
        total += targets.count * stepTimeout
        if dnsName != nil { total += stepTimeout + 1 }
        if let iperf { total += iperf.seconds + stepTimeout + 5 }
        if iperfServerPort != nil { total += stepTimeout }
        if ipv6 {
            total += stepTimeout + (stepTimeout + 2)  // slaac, dhcp6
            if gateway6 != .none { total += stepTimeout }
            total += targets6.count * stepTimeout
            if dnsName != nil { total += stepTimeout + 1 }
        }
        return total
    }

    static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return !text.isEmpty && text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) && inet_pton(AF_INET, text, &address) == 1
    }

    static func isIPv6(_ text: String) -> Bool {
        var address = in6_addr()
        return text.contains(":") && inet_pton(AF_INET6, text, &address) == 1
    }

    static func isEndpoint(_ text: String) -> Bool {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, isIPv4(String(parts[0])) else { return false }
        if parts.count == 2 {
            guard parts[1].allSatisfy(\.isNumber), let port = Int(parts[1]), (1...65535).contains(port) else { return false }
        }
        return true
    }

    static func isHostName(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    static func isInterfaceName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 15 && text != "." && text != ".."
            && !text.contains(where: { $0 == "/" || $0 == ":" || $0 == "=" || $0 == "," || $0.isWhitespace || !$0.isASCII })
    }
}
