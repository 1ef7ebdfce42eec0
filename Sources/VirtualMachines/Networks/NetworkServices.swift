import Glibc
import HostNetwork
import Netlink
import QNetSystem
import QNetTypes

/// The host services a nat or isolated network runs, in the network's namespace: dnsmasq
/// (DHCP and DNS on the bridge), qnet's nftables table, and the ip_forward sysctl.
/// Equivalent to libvirt's dnsmasq child, its `nft` rules and `sysctl net.ipv4.ip_forward=1`.
/// Needs CAP_NET_ADMIN (nft, sysctls) and CAP_NET_BIND_SERVICE/CAP_NET_RAW (dnsmasq).
struct NetworkServices {
    let namespace: NetworkNamespace?
    let store: NetworkStore

    static let ipForward = "/proc/sys/net/ipv4/ip_forward"
    /// The value nat networks set ip_forward to.
    static let ipForwardOn = "1"

    /// The network's dnsmasq.conf; its path on dnsmasq's command line tells the network's
    /// dnsmasq from any other.
    func dnsmasqConfigFile(_ network: String) -> String { "\(store.runtimePath(network))/\(Self.configFileName)" }

    /// dnsmasq's files in the network's runtime folder.
    static let configFileName = "dnsmasq.conf", logFileName = "dnsmasq.log", pidFileName = "dnsmasq.pid"
    static let leaseFileName = "dnsmasq.leases"

    // MARK: - dnsmasq

    /// Writes the network's dnsmasq.conf and starts dnsmasq; returns once it has bound its
    /// sockets (it writes its pid file then). Returns its identity (pid, /proc start time,
    /// executable).
    func startDNSMasq(_ definition: NetworkDefinition, addressing: NetworkAddressing) throws -> ProcessIdentity {
        guard let dnsmasq = Subprocess.which("dnsmasq") else { throw NetworkError.notInstalled(.dnsmasq) }
        let directory = store.runtimePath(definition.name)
        // The runtime folder and every file in it through checked descriptors: a symlink or
        // another user's file planted there is refused, named, and left alone.
        guard let runtime = try store.openRuntime(definition.name, create: true) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open", path: directory)
        }
        let paths = DnsmasqPaths(leaseFile: "\(directory)/\(Self.leaseFileName)", pidFile: "\(directory)/\(Self.pidFileName)",
                                 configFile: dnsmasqConfigFile(definition.name),
                                 hostsDirectory: DnsmasqPaths.hostsDirectory(runtime: directory))
        // 0755: dnsmasq reads the reservations there after dropping root.
        _ = try DirectoryDescriptor.openState(paths.hostsDirectory!, mode: 0o755)
        let config = DnsmasqConfig.render(definition: definition, addressing: addressing, paths: paths,
                                          upstreamServers: Resolver.nameservers(), namespace: namespace?.name)
        try runtime.writeStateFile(Self.configFileName, Array(config.utf8), mode: 0o644, kind: "dnsmasq configuration")
        let output = try runtime.openStateFile(Self.logFileName, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644, kind: "dnsmasq log")
        defer { close(output) }
        let command = Command(dnsmasq, ["--keep-in-foreground", "--conf-file=\(paths.configFile)"],
                              environment: ["PATH": Subprocess.defaultSearchPath])
        let start = { try Subprocess.startDetached(command, output: output) }
        let pid = try namespace.map { try $0.withEntered(start) } ?? start()
        let identity = ProcessIdentity.of(pid) ?? ProcessIdentity(pid: pid, startTime: 0, executable: dnsmasq)
        let startTime = identity.startTime
        let seconds = 10
        let deadline = monotonicSeconds() + Double(seconds)
        while monotonicSeconds() < deadline {
            if Subprocess.reapIfExited(pid) != nil || !ProcessInfoReader.isAlive(pid, startTime: startTime) {
                let text = String(decoding: (try? runtime.readStateFile(Self.logFileName, kind: "dnsmasq log")) ?? [], as: UTF8.self)
                let output = text.split(separator: "\n").suffix(2).joined(separator: " | ")
                throw NetworkError.dnsmasqExited(network: definition.name, output: output)
            }
            if (try? runtime.status(Self.pidFileName)) != nil { return identity }
            usleep(10_000)  // poll interval; bounded by the start deadline
        }
        Subprocess.stop(identity)
        throw NetworkError.dnsmasqTimeout(network: definition.name, seconds: seconds)
    }

    /// Something else answering DNS on the gateway address would make dnsmasq fail (or
    /// worse, serve guests): detect it before starting.
    func checkServicePortsFree(_ gateway: IPAddress) throws {
        for (type, port, name) in [(SOCK_DGRAM, 53, "DNS (udp 53)"), (SOCK_STREAM, 53, "DNS (tcp 53)")] {
            let inUse = try inNamespace { () -> Bool in
                let fd = socket(AF_INET, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                guard fd >= 0 else { return false }
                defer { close(fd) }
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = UInt16(port).bigEndian
                let bytes = gateway.bytes
                address.sin_addr.s_addr = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
                let result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                return result != 0 && errno == EADDRINUSE
            }
            if inUse { throw NetworkError.servicePortTaken(service: name, address: gateway) }
        }
    }

    // MARK: - firewall and sysctls

    /// Regenerates qnet's whole nftables table from `networks` (the running nat/isolated
    /// networks of this namespace) and applies it atomically; with none left, removes the
    /// table. Equivalent to `nft -f -`.
    ///
    /// The script reaches nft through a pipe on its standard input: no file is written, so
    /// a kill leaves none behind. It is written whole before nft starts, into a pipe's
    /// default capacity (64 KiB, pipe(7)); the write end is non-blocking, so a larger
    /// script is an error, not a hang.
    func applyFirewall(_ networks: [(NetworkDefinition, NetworkAddressing)]) throws {
        try runNFT(networks.isEmpty ? FirewallRuleset.removal() : FirewallRuleset.render(networks: networks))
    }

    /// Runs one nft script in the network's namespace (one transaction); also the VMs'
    /// anti-spoofing rules (`PortFilterRuleset`). Equivalent to `nft -f -`.
    func runNFT(_ script: String) throws {
        guard let nft = Subprocess.which("nft") else { throw NetworkError.notInstalled(.nft) }
        let bytes = Array(script.utf8)
        let pipe = try Subprocess.makePipe()
        defer { close(pipe.read) }
        _ = fcntl(pipe.write, F_SETFL, O_NONBLOCK)
        let written = write(pipe.write, bytes, bytes.count)
        close(pipe.write)
        guard written == bytes.count else { throw SystemError.lastError("write", path: "nft's standard input") }
        let input = pipe.read
        let command = Command(nft, ["-f", "/dev/stdin"], environment: ["PATH": Subprocess.defaultSearchPath],
                              descriptors: [0: input])
        let result = try inNamespace { try Subprocess.run(command) }
        guard result.succeeded else {
            let output = result.standardError + result.standardOutput
            throw NetworkError.firewallRejected(path: "-", output: output.split(separator: "\n").prefix(3).joined(separator: " | "))
        }
    }

    /// `nft ARGUMENTS` in the network's namespace, for reading (`nft list ...`): its output.
    func nftList(_ arguments: [String]) throws -> String {
        guard let nft = Subprocess.which("nft") else { throw NetworkError.notInstalled(.nft) }
        let command = Command(nft, arguments, environment: ["PATH": Subprocess.defaultSearchPath])
        let result = try inNamespace { try Subprocess.run(command) }
        guard result.succeeded else {
            throw NetworkError.firewallRejected(path: "nft \(arguments.joined(separator: " "))", output: result.standardError)
        }
        return result.standardOutput
    }

    /// Equivalent to `sysctl -n` (read in the network's namespace).
    func readSysctl(_ path: String) throws -> String {
        try inNamespace {
            String(try FileSystem.readText(path).filter { !$0.isWhitespace })
        }
    }

    /// Equivalent to `sysctl -w` (written in the network's namespace).
    func writeSysctl(_ path: String, _ value: String) throws {
        try inNamespace {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SystemError.lastError("open", path: path) }
            defer { close(fd) }
            let bytes = Array((value + "\n").utf8)
            guard write(fd, bytes, bytes.count) == bytes.count else { throw SystemError.lastError("write", path: path) }
        }
    }

    func inNamespace<T>(_ body: () throws -> T) throws -> T {
        guard let namespace else { return try body() }
        do { return try namespace.withEntered(body) } catch let error as NamespaceError { throw HostNetworkError.namespace(error) }
    }
}

/// The host's upstream DNS servers, from /etc/resolv.conf.
enum Resolver {
    static func nameservers(_ path: String = "/etc/resolv.conf") -> [String] {
        ((try? FileSystem.readText(path)) ?? "").split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver" else { return nil }
            return String(words[1])
        }
    }
}
