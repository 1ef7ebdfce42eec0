import Glibc
import HostNetwork
import QNetSystem
import QNetTypes
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The BGP EVPN control plane of a vxlan network (`--control-plane evpn`): qnet writes FRR's
// configuration and runs FRR's zebra and bgpd itself, one instance per network namespace,
// in the namespace, with every file (configuration, pid files, vty and zserv sockets) in
// the network's runtime directory. zebra reads the VXLAN device (VNI, local VTEP, bridge)
// over netlink, and with `advertise-all-vni` bgpd announces the MACs the bridge learns on
// its ports (type-2 routes) and this VTEP (type-3); zebra installs what the peers announce
// as FDB entries of the VXLAN device (`extern_learn`) and as its flood list. Equivalent to
// Proxmox VE SDN's EVPN zone (which writes /etc/frr/frr.conf for the system's FRR).

/// A vxlan network's control plane as `qnet net show` reports it: FRR's BGP sessions and
/// EVPN routes, and the MACs zebra knows for the VNI.
public struct EVPNStatus: Codable, Equatable, Sendable {
    public struct Session: Codable, Equatable, Sendable {
        public var peer: String
        /// bgpd's session state: Idle, Connect, Active, OpenSent, OpenConfirm, Established.
        public var state: String
        /// EVPN routes received from and sent to this peer.
        public var routesReceived: Int?
        public var routesSent: Int?
    }

    public var asn: UInt32
    public var sessions: [Session]
    /// EVPN routes received from all peers.
    public var routesReceived: Int
    /// The VNI's MACs in zebra: learnt on this host's bridge ports, and from BGP (remote).
    public var localMACs: Int
    public var remoteMACs: Int
    /// Why FRR could not be asked (it is not running, vtysh failed); nil when it answered.
    public var error: String?
}

/// FRR's files for one network: all in one folder that the `frr` user owns, since zebra
/// and bgpd drop root for it before they read their configuration and make their sockets.
struct FRRPaths: Equatable {
    let directory: String

    var zebraConfig: String { "\(directory)/zebra.conf" }
    var bgpdConfig: String { "\(directory)/bgpd.conf" }
    /// zebra's API socket, which bgpd connects to (`-z`).
    var zservSocket: String { "\(directory)/zserv.api" }
    func config(_ daemon: FRRDaemon) -> String { "\(directory)/\(daemon.rawValue).conf" }
    func pidFile(_ daemon: FRRDaemon) -> String { "\(directory)/\(daemon.rawValue).pid" }
    func log(_ daemon: FRRDaemon) -> String { "\(directory)/\(daemon.rawValue).log" }
    /// The daemon's vty socket (`--vty_socket DIR` makes `DIR/DAEMON.vty`): vtysh talks to it;
    /// it appears once the daemon has read its configuration.
    func vtySocket(_ daemon: FRRDaemon) -> String { "\(directory)/\(daemon.rawValue).vty" }

    /// The network's FRR folder: `RUNTIME/frr`, or under /run/qnet-frr when the `frr` user
    /// could not reach the runtime directory (a private state directory, 0700).
    static func forNetwork(runtime: String) -> FRRPaths {
        FRRPaths(directory: DaemonDirectory.reachable(runtime: runtime, leaf: "frr", fallback: "/run/qnet-frr"))
    }
}

/// The FRR daemons qnet runs, in start order.
enum FRRDaemon: String, CaseIterable, Codable, Sendable {
    case zebra
    case bgpd
}

/// A folder under a network's runtime directory that a daemon running as another user
/// (dnsmasq as `nobody`, FRR as `frr`) must reach.
enum DaemonDirectory {
    /// `RUNTIME/LEAF` when others may pass through every folder on the way to it; otherwise
    /// `FALLBACK/NAME-HASH`, the hash (FNV-1a of the runtime path) telling state
    /// directories apart.
    static func reachable(runtime: String, leaf: String, fallback: String) -> String {
        if searchableByOthers(runtime) { return "\(runtime)/\(leaf)" }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, 64 bits
        for byte in runtime.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let name = runtime.split(separator: "/").last.map(String.init) ?? "network"
        return "\(fallback)/\(name)-\(String(hash, radix: 16))"
    }

    /// Whether a user other than the owner can pass through every existing folder on the
    /// way to `path` (the others' x bit); folders not made yet count as searchable, since
    /// qnet makes them 0755.
    static func searchableByOthers(_ path: String) -> Bool {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            var info = stat()
            guard stat(prefix, &info) == 0 else { return true }
            if info.st_mode & S_IXOTH == 0 { return false }
        }
        return true
    }
}

/// FRR's configuration files for a network's EVPN control plane (pure; golden-tested).
enum FRRConfig {
    /// zebra.conf: only a hostname; zebra learns the VXLAN device and the bridge from the kernel.
    static func zebra(network: String) -> String {
        """
        ! zebra for qnet network \(network), written by qnet: changes are lost at the next `qnet net start`.
        hostname qnet-\(network)
        !

        """
    }

    /// bgpd.conf: iBGP in `settings.asn` with every BGP peer, the l2vpn evpn address family
    /// only (no IPv4 unicast), `advertise-all-vni`. The router ID is the local VTEP address
    /// (for an IPv6 underlay, its last 32 bits: BGP router IDs are 32-bit).
    static func bgpd(network: String, settings: EVPNSettings, local: IPAddress) -> String {
        let bytes = local.bytes
        let routerID = bytes.suffix(4).map(String.init).joined(separator: ".")
        var lines = [
            // The datacenter profile: 3 s keepalive / 9 s hold, no minimum advertisement interval.
            "frr defaults datacenter",
            "! bgpd for qnet network \(network), written by qnet: changes are lost at the next `qnet net start`.",
            "hostname qnet-\(network)",
            "!",
            "router bgp \(settings.asn)",
            " bgp router-id \(routerID)",
            " no bgp default ipv4-unicast",
        ]
        for peer in settings.bgpPeers {
            lines.append(" neighbor \(peer) remote-as internal")
            // A peer whose bgpd is not up yet is retried after 5 s (the default is 120 s).
            lines.append(" neighbor \(peer) timers connect 5")
        }
        lines.append(" !")
        lines.append(" address-family l2vpn evpn")
        for peer in settings.bgpPeers { lines.append("  neighbor \(peer) activate") }
        lines += ["  advertise-all-vni", " exit-address-family", "exit", "!", ""]
        return lines.joined(separator: "\n")
    }
}

extension NetworkServices {
    /// The folder FRR's daemons live in; `/usr/lib/frr` holds zebra and bgpd on Debian.
    static let frrSearchPath = "/usr/lib/frr:" + Subprocess.defaultSearchPath

    /// Starts zebra, then bgpd, for `definition` in the network's namespace, each as the
    /// `frr` user with `-P 0` (no TCP vty), `-f` its configuration, `-i` its pid file,
    /// `--vty_socket` and `-z` (zserv) in the network's FRR folder, and returns once its vty
    /// socket exists (it has read its configuration). `started` gets each daemon's identity
    /// as soon as it runs (the journal's record). Equivalent to
    /// `ip netns exec NS /usr/lib/frr/zebra -P 0 -f DIR/zebra.conf -i DIR/zebra.pid --vty_socket DIR -z DIR/zserv.api`
    /// and the same for bgpd. Needs root (FRR drops to `frr` keeping CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE).
    func startFRR(_ definition: NetworkDefinition, settings: EVPNSettings, local: IPAddress, paths: FRRPaths,
                  started: (ProcessIdentity) throws -> Void) throws {
        guard let frr = UserIdentity.lookup("frr"),
              let zebra = Subprocess.which("zebra", searchPath: Self.frrSearchPath),
              let bgpd = Subprocess.which("bgpd", searchPath: Self.frrSearchPath) else { throw NetworkError.notInstalled(.frr) }
        if let other = try foreignFRR() { throw NetworkError.frrAlreadyRuns(network: definition.name, daemon: other.daemon, pid: other.pid) }
        try FileSystem.makeDirectories(paths.directory)
        guard chown(paths.directory, frr.uid, frr.gid) == 0 else { throw SystemError.lastError("chown", path: paths.directory) }
        try FileSystem.writeAtomically(paths.zebraConfig, Array(FRRConfig.zebra(network: definition.name).utf8))
        try FileSystem.writeAtomically(paths.bgpdConfig, Array(FRRConfig.bgpd(network: definition.name, settings: settings, local: local).utf8))
        for (daemon, executable) in [(FRRDaemon.zebra, zebra), (.bgpd, bgpd)] {
            let output = try FileSystem.openForAppending(paths.log(daemon), mode: 0o644)
            defer { close(output) }
            let command = Command(executable, [
                "-P", "0", "-f", paths.config(daemon), "-i", paths.pidFile(daemon),
                "--vty_socket", paths.directory, "-z", paths.zservSocket, "--log", "stdout",
            ], environment: ["PATH": Subprocess.defaultSearchPath])
            let start = { try Subprocess.startDetached(command, output: output) }
            let pid = try inNamespace(start)
            let identity = ProcessIdentity.of(pid) ?? ProcessIdentity(pid: pid, startTime: 0, executable: executable)
            try started(identity)
            let seconds = 10
            let deadline = monotonicSeconds() + Double(seconds)
            while !fileExists(paths.vtySocket(daemon)) {
                if Subprocess.reapIfExited(pid) != nil || !identity.isRunning {
                    let text = ((try? FileSystem.readText(paths.log(daemon))) ?? "").split(separator: "\n").suffix(2).joined(separator: " | ")
                    throw NetworkError.frrExited(network: definition.name, daemon: daemon.rawValue, output: text)
                }
                if monotonicSeconds() > deadline {
                    throw NetworkError.frrTimeout(network: definition.name, daemon: daemon.rawValue, seconds: seconds)
                }
                usleep(10_000)  // poll interval; bounded by the start deadline
            }
        }
    }

    /// A zebra or bgpd already running in this network namespace (the system's FRR, or
    /// another evpn network's): two zebras in one namespace would both own its routes and
    /// FDB, and two bgpds cannot both listen on port 179. nil when there is none.
    func foreignFRR() throws -> (daemon: String, pid: pid_t)? {
        let here = try inNamespace { try NetworkNamespaceIdentity.current() }
        for name in FileSystem.list("/proc") {
            guard let pid = pid_t(name),
                  let command = try? FileSystem.readText("/proc/\(name)/comm"),
                  let daemon = FRRDaemon(rawValue: command.trimmingCharacters(in: .whitespacesAndNewlines)) else { continue }
            var info = stat()
            guard stat("/proc/\(name)/ns/net", &info) == 0, UInt64(info.st_ino) == here.inode, UInt64(info.st_dev) == here.device else { continue }
            return (daemon.rawValue, pid)
        }
        return nil
    }

    /// `vtysh --vty_socket DIR -c COMMAND`: FRR's answer (JSON for the `... json` commands).
    func vtysh(_ paths: FRRPaths, _ command: String) throws -> String {
        guard let vtysh = Subprocess.which("vtysh", searchPath: Self.frrSearchPath) else { throw NetworkError.notInstalled(.frr) }
        let result = try Subprocess.run(Command(vtysh, ["--vty_socket", paths.directory, "-c", command],
                                                environment: ["PATH": Subprocess.defaultSearchPath]), timeout: .seconds(10))
        guard result.succeeded else {
            throw NetworkError.frrExited(network: "-", daemon: "vtysh", output: (result.standardError + result.standardOutput)
                .split(separator: "\n").prefix(2).joined(separator: " | "))
        }
        return result.standardOutput
    }

    /// The control plane's state from FRR itself: `show bgp l2vpn evpn summary json` (sessions
    /// and routes per peer) and `show evpn mac vni N json` (zebra's local and remote MACs).
    func evpnStatus(_ paths: FRRPaths, settings: EVPNSettings, vni: UInt32) -> EVPNStatus {
        var status = EVPNStatus(asn: settings.asn, sessions: settings.bgpPeers.map { EVPNStatus.Session(peer: $0, state: "unknown") },
                                routesReceived: 0, localMACs: 0, remoteMACs: 0, error: nil)
        do {
            let summary = try JSONDecoder().decode(BGPSummary.self, from: Data(try vtysh(paths, "show bgp l2vpn evpn summary json").utf8))
            for (peer, session) in summary.peers ?? [:] {
                let entry = EVPNStatus.Session(peer: peer, state: session.state ?? "unknown", routesReceived: session.pfxRcd, routesSent: session.pfxSnt)
                if let index = status.sessions.firstIndex(where: { $0.peer == peer }) { status.sessions[index] = entry } else { status.sessions.append(entry) }
                status.routesReceived += session.pfxRcd ?? 0
            }
            let macs = try JSONDecoder().decode(EVPNMACs.self, from: Data(try vtysh(paths, "show evpn mac vni \(vni) json").utf8))
            for mac in (macs.macs ?? [:]).values {
                if mac.type == "local" { status.localMACs += 1 } else if mac.type == "remote" { status.remoteMACs += 1 }
            }
        } catch {
            status.error = String(describing: error)
        }
        return status
    }

    /// The parts of `show bgp l2vpn evpn summary json` qnet reads.
    private struct BGPSummary: Decodable {
        struct Peer: Decodable {
            var state: String?
            var pfxRcd: Int?
            var pfxSnt: Int?
        }
        var peers: [String: Peer]?
    }

    /// The parts of `show evpn mac vni N json` qnet reads.
    private struct EVPNMACs: Decodable {
        struct MAC: Decodable { var type: String? }
        var macs: [String: MAC]?
    }
}

/// `net start` is about to start the network's FRR daemons in `directory`; `processes` grows
/// as each one runs. Undo: stop them (bgpd first) — the recorded processes while their
/// identity matches, and any zebra or bgpd whose command line names this folder's
/// configuration (a kill between spawn and record) — then remove the folder.
struct NetworkFRRRecord: JournalRecord, Equatable {
    static let kind = "network-frr"
    var directory: String
    var processes: [ProcessIdentity]
}

extension NetworkManager {
    /// Starts the network's FRR, journaled (the record gets each daemon once it runs).
    func startFRRStep(_ definition: NetworkDefinition, settings: EVPNSettings, local: IPAddress, state: inout NetworkRuntimeState,
                      _ transaction: HostTransaction) throws {
        try transaction.step("start FRR")
        let paths = FRRPaths.forNetwork(runtime: store.runtimePath(definition.name))
        var record = NetworkFRRRecord(directory: paths.directory, processes: [])
        let handle = try transaction.record(undo: record)
        try services.startFRR(definition, settings: settings, local: local, paths: paths) { identity in
            record.processes.append(identity)
            try transaction.update(handle, to: record)
        }
        state.frr = record
    }

    /// Stops what `record` names and removes its folder; true when a daemon was stopped.
    @discardableResult
    static func stopFRR(_ record: NetworkFRRRecord) -> Bool {
        var stopped = false
        for identity in record.processes.reversed() where identity.isRunning { stopped = Subprocess.stop(identity).stopped || stopped }
        let paths = FRRPaths(directory: record.directory)
        for daemon in FRRDaemon.allCases.reversed() {
            for identity in processes(named: daemon.rawValue, withArgument: paths.config(daemon)) {
                stopped = Subprocess.stop(identity).stopped || stopped
            }
        }
        FileSystem.removeTree(record.directory)
        return stopped
    }

    /// The control plane's status for `net show` (nil for static vxlan networks or when stopped).
    func evpnStatus(_ definition: NetworkDefinition) -> EVPNStatus? {
        guard let settings = definition.vxlan, let evpn = settings.evpn else { return nil }
        guard let frr = store.runtimeState(definition.name)?.frr else { return nil }
        return services.evpnStatus(FRRPaths(directory: frr.directory), settings: evpn, vni: settings.vni)
    }
}
