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
// configuration and runs FRR's zebra and bgpd itself, one instance per network namespace
// shared by every evpn network there (multi-VNI), with every file (configuration, pid files,
// vty and zserv sockets) in the namespace's FRR folder; or, when an FRR qnet did not start
// already runs in the namespace (the system's), adds its lines to that one through vtysh. zebra reads the VXLAN device (VNI, local VTEP, bridge)
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
    /// Which FRR carries the network: `qnet` (qnet's zebra and bgpd of the namespace, shared
    /// by its evpn networks) or `system` (an FRR qnet did not start, configured through vtysh),
    /// and that FRR's vty folder.
    public var frr: String?
    public var vtyDirectory: String?
}

/// FRR's files for a namespace. qnet's part, the folder `directory` (root's, 0755, reached
/// through checked descriptors): the configuration files (0644: zebra and bgpd read them
/// after dropping root for `frr`) and the daemons' logs (opened by qnet as their stdout).
/// FRR's part, its subfolder `run` (the `frr` user's, 0750): the pid files, the vty sockets
/// and zebra's API socket, which the daemons make as `frr`. qnet never follows what is in
/// `run`: at a stop it unlinks only the files FRR makes there (`removeDaemonFolder`).
/// For the system's FRR, only `vtyDirectory` (its vty folder) is used.
struct FRRPaths: Equatable {
    let directory: String
    /// Where the daemons' vty sockets are (`--vty_socket`): vtysh's `--vty_socket`.
    let vtyDirectory: String

    /// qnet's own FRR with its files in `directory`.
    init(directory: String) {
        self.directory = directory
        vtyDirectory = "\(directory)/\(Self.runFolder)"
    }

    /// The system's FRR (or one qnet did not start) with its vty sockets in `vtyDirectory`.
    init(system vtyDirectory: String) {
        directory = vtyDirectory
        self.vtyDirectory = vtyDirectory
    }

    /// FRR's writable subfolder of `directory`, and the entries FRR makes there.
    static let runFolder = "run"
    static let runEntries = FRRDaemon.allCases.flatMap { ["\($0.rawValue).pid", "\($0.rawValue).vty"] } + [zservName]
    static let zservName = "zserv.api"
    static func configName(_ daemon: FRRDaemon) -> String { "\(daemon.rawValue).conf" }
    static func logName(_ daemon: FRRDaemon) -> String { "\(daemon.rawValue).log" }

    var bgpdConfig: String { config(.bgpd) }
    /// zebra's API socket, which bgpd connects to (`-z`).
    var zservSocket: String { "\(vtyDirectory)/\(Self.zservName)" }
    func config(_ daemon: FRRDaemon) -> String { "\(directory)/\(Self.configName(daemon))" }
    func pidFile(_ daemon: FRRDaemon) -> String { "\(vtyDirectory)/\(daemon.rawValue).pid" }
    func log(_ daemon: FRRDaemon) -> String { "\(directory)/\(Self.logName(daemon))" }
    /// The daemon's vty socket (`--vty_socket DIR` makes `DIR/DAEMON.vty`): vtysh talks to it;
    /// it appears once the daemon has read its configuration.
    func vtySocket(_ daemon: FRRDaemon) -> String { "\(vtyDirectory)/\(daemon.rawValue).vty" }

    /// The namespace's FRR folder: `RUNTIME/namespaces/KEY/frr` (KEY: `netns-COOKIE`, see
    /// `NetworkManager.namespaceKey`), or under /run/qnet-frr when the `frr` user could not reach the runtime
    /// directory (a private state directory, 0700).
    static func forNamespace(_ key: String) -> FRRPaths {
        FRRPaths(directory: DaemonDirectory.reachable(runtime: FRRPaths.namespaceFolder(key), leaf: "frr", fallback: "/run/qnet-frr"))
    }

    /// qnet's own per-namespace folder (the FRR folder's parent, and where the lines qnet
    /// added to a system FRR are remembered).
    static func namespaceFolder(_ key: String) -> String { "\(QNetPaths.runtime)/namespaces/\(key)" }
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
    /// zebra.conf: only a hostname; zebra learns the VXLAN devices and the bridges from the kernel.
    static func zebra(namespace: String) -> String {
        """
        ! zebra for qnet's evpn networks in namespace \(namespace), written by qnet: changes are lost at the next `qnet net start`.
        hostname qnet-\(namespace)
        !

        """
    }

    /// The BGP router ID for a local VTEP address (for an IPv6 underlay, its last 32 bits: BGP
    /// router IDs are 32-bit).
    static func routerID(_ local: IPAddress) -> String { local.bytes.suffix(4).map(String.init).joined(separator: ".") }

    /// bgpd.conf: iBGP in `settings.asn` with every BGP peer (the union over the namespace's
    /// evpn networks), the l2vpn evpn address family only (no IPv4 unicast),
    /// `advertise-all-vni` (every VNI of the namespace). The router ID is the local VTEP's.
    static func bgpd(namespace: String, settings: EVPNSettings, local: IPAddress) -> String {
        var lines = [
            // The datacenter profile: 3 s keepalive / 9 s hold, no minimum advertisement interval.
            "frr defaults datacenter",
            "! bgpd for qnet's evpn networks in namespace \(namespace), written by qnet: changes are lost at the next `qnet net start`.",
            "hostname qnet-\(namespace)",
            "!",
            "router bgp \(settings.asn)",
            " bgp router-id \(routerID(local))",
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

    /// Starts zebra, then bgpd, for the namespace's evpn networks (`settings`: their ASN and
    /// the union of their BGP peers), each as the `frr` user with `-P 0` (no TCP vty), `-f` its
    /// configuration, `-i` its pid file, `--vty_socket` and `-z` (zserv) in the FRR folder's
    /// `run` subfolder, and returns once its vty socket exists (it has read its configuration).
    /// The folder, its configuration files and logs are opened through checked descriptors: a
    /// symlink or another user's entry planted there is refused, named, and left alone.
    /// `started` gets each daemon's identity as soon as it runs (the journal's record).
    /// Equivalent to
    /// `ip netns exec NS /usr/lib/frr/zebra -P 0 -f DIR/zebra.conf -i DIR/run/zebra.pid --vty_socket DIR/run -z DIR/run/zserv.api`
    /// and the same for bgpd. Needs root (FRR drops to `frr` keeping CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE).
    func startFRR(network: String, namespace key: String, settings: EVPNSettings, local: IPAddress, paths: FRRPaths,
                  started: (ProcessIdentity) throws -> Void) throws {
        guard let frr = UserIdentity.lookup("frr"),
              let zebra = Subprocess.which("zebra", searchPath: Self.frrSearchPath),
              let bgpd = Subprocess.which("bgpd", searchPath: Self.frrSearchPath) else { throw NetworkError.notInstalled(.frr) }
        guard let folder = try DirectoryDescriptor.openState(paths.directory, mode: 0o755) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open FRR folder", path: paths.directory)
        }
        let run = try Self.freshRunFolder(folder, frr: frr)
        try folder.writeStateFile(FRRPaths.configName(.zebra), Array(FRRConfig.zebra(namespace: key).utf8), mode: 0o644,
                                  kind: "FRR configuration")
        try writeBGPDConfig(paths, namespace: key, settings: settings, local: local)
        for (daemon, executable) in [(FRRDaemon.zebra, zebra), (.bgpd, bgpd)] {
            let output = try folder.openStateFile(FRRPaths.logName(daemon), flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644,
                                                  kind: "FRR log")
            defer { close(output) }
            let command = Command(executable, [
                "-P", "0", "-f", paths.config(daemon), "-i", paths.pidFile(daemon),
                "--vty_socket", paths.vtyDirectory, "-z", paths.zservSocket, "--log", "stdout",
            ], environment: ["PATH": Subprocess.defaultSearchPath])
            let start = { try Subprocess.startDetached(command, output: output) }
            let pid = try inNamespace(start)
            let identity = ProcessIdentity.of(pid) ?? ProcessIdentity(pid: pid, startTime: 0, executable: executable)
            try started(identity)
            let seconds = 10
            let deadline = monotonicSeconds() + Double(seconds)
            while (try? run.status("\(daemon.rawValue).vty")) == nil {
                if Subprocess.reapIfExited(pid) != nil || !identity.isRunning {
                    let log = (try? folder.readStateFile(FRRPaths.logName(daemon), kind: "FRR log")) ?? []
                    let text = String(decoding: log, as: UTF8.self).split(separator: "\n").suffix(2).joined(separator: " | ")
                    throw NetworkError.frrExited(network: network, daemon: daemon.rawValue, output: text)
                }
                if monotonicSeconds() > deadline {
                    throw NetworkError.frrTimeout(network: network, daemon: daemon.rawValue, seconds: seconds)
                }
                usleep(10_000)  // poll interval; bounded by the start deadline
            }
        }
    }

    /// The FRR folder's `run` subfolder, empty and given to `frr` (0750): what a previous run
    /// left there is removed first (`removeDaemonFolder`), and an entry FRR does not make
    /// (a planted symlink) fails the start, named and left alone.
    /// Equivalent to `install -d -o frr -g frr -m 0750 DIR/run`.
    static func freshRunFolder(_ folder: DirectoryDescriptor, frr: UserIdentity) throws -> DirectoryDescriptor {
        let left = folder.removeDaemonFolder(FRRPaths.runFolder, daemon: frr.uid, expected: FRRPaths.runEntries)
        if !left.isEmpty {
            throw SystemError(errno: .notPermitted, operation: "clear FRR's folder (entries qnet did not expect there; refused and left alone: "
                + left.joined(separator: ", ") + ")", path: "\(folder.path)/\(FRRPaths.runFolder)")
        }
        try folder.makeDirectory(FRRPaths.runFolder, mode: 0o750, expectedOwner: geteuid())
        let run = try folder.openDirectory(FRRPaths.runFolder, expectedOwner: geteuid())
        // On the descriptor: the folder just made, never a path that could have been swapped.
        guard fchown(run.fd, frr.uid, frr.gid) == 0 else { throw SystemError.lastError("chown", path: run.path) }
        return run
    }

    /// Writes the namespace's bgpd.conf (what a restarted bgpd would read; the running one is
    /// changed through vtysh), 0644 in qnet's FRR folder through a checked descriptor.
    func writeBGPDConfig(_ paths: FRRPaths, namespace key: String, settings: EVPNSettings, local: IPAddress) throws {
        guard let folder = try DirectoryDescriptor.openState(paths.directory, create: false) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open FRR folder", path: paths.directory)
        }
        try folder.writeStateFile(FRRPaths.configName(.bgpd), Array(FRRConfig.bgpd(namespace: key, settings: settings, local: local).utf8),
                                  mode: 0o644, kind: "FRR configuration")
    }

    /// An FRR daemon running in this network namespace that is not qnet's own instance
    /// (`own`): the system's FRR (or one another qnet state directory started). `vtyDirectory`
    /// is where its bgpd's vty socket is (`--vty_socket DIR`, `-N NAME` → /run/frr/NAME,
    /// else /run/frr); nil when only a zebra runs. nil when there is none.
    func foreignFRR(excluding own: FRRPaths) throws -> (daemon: String, pid: pid_t, vtyDirectory: String?)? {
        let here = try inNamespace { try NetworkNamespaceIdentity.current() }
        var found: (daemon: String, pid: pid_t, vtyDirectory: String?)?
        for name in FileSystem.list("/proc") {
            guard let pid = pid_t(name),
                  let command = try? FileSystem.readText("/proc/\(name)/comm"),
                  let daemon = FRRDaemon(rawValue: command.trimmingCharacters(in: .whitespacesAndNewlines)) else { continue }
            var info = stat()
            guard stat("/proc/\(name)/ns/net", &info) == 0, UInt64(info.st_ino) == here.inode, UInt64(info.st_dev) == here.device,
                  let bytes = try? FileSystem.readBytes("/proc/\(name)/cmdline", limit: 65536) else { continue }
            let arguments = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if arguments.contains(own.config(daemon)) { continue }
            if daemon == .bgpd { return (daemon.rawValue, pid, Self.vtyDirectory(arguments: arguments)) }
            found = (daemon.rawValue, pid, nil)
        }
        return found
    }

    /// Where an FRR daemon started with `arguments` makes its vty socket: `--vty_socket DIR`,
    /// else `/run/frr/NAME` for a pathspace (`-N NAME`, `--pathspace NAME`), else `/run/frr`.
    static func vtyDirectory(arguments: [String]) -> String {
        var pathspace: String?
        for (index, argument) in arguments.enumerated() {
            let next = index + 1 < arguments.count ? arguments[index + 1] : nil
            if argument == "--vty_socket", let next { return next }
            if argument.hasPrefix("--vty_socket=") { return String(argument.dropFirst("--vty_socket=".count)) }
            if argument == "-N" || argument == "--pathspace" { pathspace = next }
            else if argument.hasPrefix("--pathspace=") { pathspace = String(argument.dropFirst("--pathspace=".count)) }
            else if argument.hasPrefix("-N"), argument.count > 2 { pathspace = String(argument.dropFirst(2)) }
        }
        return pathspace.map { "/run/frr/\($0)" } ?? "/run/frr"
    }

    /// `vtysh --vty_socket DIR -c COMMAND`: FRR's answer (JSON for the `... json` commands).
    func vtysh(_ paths: FRRPaths, _ command: String) throws -> String {
        try vtysh(paths, commands: [command])
    }

    /// `vtysh --vty_socket DIR -c C1 -c C2 ...`: the commands run in one session (so
    /// `configure terminal`, `router bgp N` set the context of those after them); fails when
    /// one of them fails.
    func vtysh(_ paths: FRRPaths, commands: [String]) throws -> String {
        guard let vtysh = Subprocess.which("vtysh", searchPath: Self.frrSearchPath) else { throw NetworkError.notInstalled(.frr) }
        let result = try Subprocess.run(Command(vtysh, ["--vty_socket", paths.vtyDirectory] + commands.flatMap { ["-c", $0] },
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
            // Only this network's peers: the namespace's bgpd also has the other evpn networks' ones.
            for (peer, session) in summary.peers ?? [:] {
                guard let index = status.sessions.firstIndex(where: { $0.peer == peer }) else { continue }
                status.sessions[index] = EVPNStatus.Session(peer: peer, state: session.state ?? "unknown",
                                                            routesReceived: session.pfxRcd, routesSent: session.pfxSnt)
                status.routesReceived += session.pfxRcd ?? 0
            }
            // FRR 8.4 prints nothing at all (not `{}`) for a VNI without MACs.
            let macText = try vtysh(paths, "show evpn mac vni \(vni) json")
            let macs = macText.allSatisfy(\.isWhitespace) ? EVPNMACs(macs: nil)
                : try JSONDecoder().decode(EVPNMACs.self, from: Data(macText.utf8))
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

/// `net start` is about to start the namespace's FRR daemons in `directory`; `processes`
/// grows as each one runs. Undo: stop them (bgpd first) — the recorded processes while their
/// identity matches, and any zebra or bgpd whose command line names this folder's
/// configuration (a kill between spawn and record) — then remove the folder.
struct NetworkFRRRecord: JournalRecord, Equatable {
    static let kind = "network-frr"
    var directory: String
    var processes: [ProcessIdentity]
}

/// A running FRR's BGP configuration is about to change (`net start` of an evpn network
/// joining the namespace's FRR, `net peer add|remove` of an evpn network): `directory` is
/// its vty folder, `system` whether it is an FRR qnet did not start. Undo: bring it back to
/// the started evpn networks of the namespace (without `excluding`, the one whose start is
/// undone) as their stored definitions say — the definition is saved last, so it still
/// holds the peers from before.
struct NetworkFRRConfigRecord: JournalRecord, Equatable {
    static let kind = "network-frr-config"
    var directory: String
    var system: Bool
    var excluding: String?
}

extension NetworkManager {
    /// The key of this manager's namespace in qnet's per-namespace folders: `netns-COOKIE`
    /// (SO_NETNS_COOKIE, never reused while the host runs), else `netns-DEVICE-INODE`. Not its
    /// name: `--netns` enters the namespace, so a command knows no name for it, and runtime
    /// states of several namespaces share one state directory.
    func namespaceKey() throws -> String {
        let identity = try services.inNamespace { try NetworkNamespaceIdentity.current() }
        return identity.cookie.map { "netns-\($0)" } ?? "netns-\(identity.device)-\(identity.inode)"
    }

    /// Whether qnet's own bgpd of this namespace runs (found by its command line).
    static func ownFRRRuns(_ paths: FRRPaths) -> Bool {
        !processes(named: FRRDaemon.bgpd.rawValue, withArgument: paths.config(.bgpd)).isEmpty
    }

    /// The started evpn networks of this namespace (they share its FRR), without `excluding`.
    func evpnNetworksHere(excluding: String?) throws -> [NetworkDefinition] {
        let key = try namespaceKey()
        return try store.definitions().filter { definition in
            guard definition.name != excluding, definition.vxlan?.evpn != nil,
                  let state = store.runtimeState(definition.name) else { return false }
            return state.frrNamespace == key
        }
    }

    /// What the namespace's bgpd should carry for `networks`: their ASN and the union of their
    /// BGP peers (nil when there are none).
    func frrWanted(_ networks: [NetworkDefinition], local: IPAddress?) -> FRRWanted? {
        guard let asn = networks.first?.vxlan?.evpn?.asn else { return nil }
        var peers: [String] = []
        for network in networks {
            for peer in network.vxlan?.evpn?.bgpPeers ?? [] where !peers.contains(peer) { peers.append(peer) }
        }
        let local = local ?? networks.lazy.compactMap { try? self.resolveUnderlay($0.vxlan?.underlay ?? "").local }.first
        return FRRWanted(asn: asn, peers: peers, routerID: local.map(FRRConfig.routerID))
    }

    /// Where qnet remembers the lines it added to the system's FRR of this namespace.
    static let systemLinesFile = "system-frr.json"

    func ownedSystemLines() -> FRROwnedLines {
        guard let key = try? namespaceKey(), let folder = try? DirectoryDescriptor.openState(FRRPaths.namespaceFolder(key), create: false),
              let bytes = try? folder.readBytes(Self.systemLinesFile, expectedOwner: geteuid()) else { return .none }
        return (try? JSONDecoder().decode(FRROwnedLines.self, from: Data(bytes))) ?? .none
    }

    func saveOwnedSystemLines(_ lines: FRROwnedLines) throws {
        guard let folder = try DirectoryDescriptor.openState(FRRPaths.namespaceFolder(try namespaceKey())) else { return }
        if lines.isEmpty {
            if try folder.status(Self.systemLinesFile) != nil, try folder.foreignEntry(Self.systemLinesFile) == nil {
                try folder.remove(Self.systemLinesFile)
            }
            return
        }
        if let foreign = try folder.foreignEntry(Self.systemLinesFile) {
            throw SystemError(errno: .notPermitted, operation: "write FRR lines (\(foreign) is there; refused and left alone)",
                              path: "\(folder.path)/\(Self.systemLinesFile)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try folder.writeAtomically(Self.systemLinesFile, Array(try encoder.encode(lines)))
    }

    /// Brings a running FRR's BGP lines to `wanted` through vtysh, without restarting it (its
    /// sessions stay up). qnet's own FRR: every line is qnet's, and bgpd.conf is rewritten to
    /// match. The system's: only lines qnet added are removed, and they are remembered
    /// (journaled in a state file) before they are added. Equivalent to
    /// `vtysh -c 'configure terminal' -c 'router bgp ASN' -c 'neighbor ADDR remote-as internal' ...`.
    func applyFRRConfig(directory: String, system: Bool, wanted: FRRWanted?, network: String) throws {
        let paths = system ? FRRPaths(system: directory) : FRRPaths(directory: directory)
        let current = FRRRunningBGP(parsing: try services.vtysh(paths, "show running-config"))
        let owned = system ? ownedSystemLines()
            : FRROwnedLines(asn: current.asn, router: true, advertiseAllVNI: true, neighbors: current.neighbors.sorted())
        let plan: FRRConfigPlan
        do { plan = try FRRConfigPlan.make(current: current, owned: owned, wanted: wanted) } catch let conflict as FRRConfigPlan.ASNConflict {
            throw NetworkError.frrASNConflict(network: network, asn: conflict.wanted, running: conflict.running, system: system)
        }
        if system { try saveOwnedSystemLines(plan.during) }
        if !plan.commands.isEmpty { _ = try services.vtysh(paths, commands: plan.commands) }
        if system { try saveOwnedSystemLines(plan.after) }
        if !system, let wanted, let local = wanted.routerID.flatMap({ IPAddress($0) }) {
            try services.writeBGPDConfig(paths, namespace: try namespaceKey(), settings: EVPNSettings(asn: wanted.asn, bgpPeers: wanted.peers), local: local)
        }
    }

    /// Brings the FRR at `directory` to the namespace's started evpn networks without
    /// `excluding` (with `replacing` instead of its stored definition): the undo of a
    /// `NetworkFRRConfigRecord` and the stop of a network that shares it. qnet's own FRR is
    /// left alone when it does not run or no network is left (its daemons are stopped then).
    func reconcileFRR(directory: String, system: Bool, excluding: String?, replacing: NetworkDefinition? = nil) throws {
        var networks = try evpnNetworksHere(excluding: excluding).filter { $0.name != replacing?.name }
        if let replacing { networks.append(replacing) }
        if !system && (networks.isEmpty || !Self.ownFRRRuns(FRRPaths(directory: directory))) { return }
        // A system bgpd that is gone took qnet's lines with it (they lived only in it): nothing
        // is left to remove, and a stop must not wait forever for it to come back.
        if system && !fileExists(FRRPaths(system: directory).vtySocket(.bgpd)) {
            try saveOwnedSystemLines(.none)
            return
        }
        try applyFRRConfig(directory: directory, system: system, wanted: frrWanted(networks, local: nil), network: excluding ?? replacing?.name ?? "-")
    }

    /// Starts the network's control plane, journaled: joins qnet's FRR of the namespace when it
    /// runs (its configuration changed through vtysh), or the system's FRR when one runs here,
    /// or else starts qnet's zebra and bgpd (the record gets each daemon once it runs).
    func startFRRStep(_ definition: NetworkDefinition, settings: EVPNSettings, local: IPAddress, state: inout NetworkRuntimeState,
                      _ transaction: HostTransaction) throws {
        try transaction.step("start FRR")
        let others = try evpnNetworksHere(excluding: definition.name)
        if let other = others.first(where: { $0.vxlan?.evpn?.asn != settings.asn }), let asn = other.vxlan?.evpn?.asn {
            throw NetworkError.evpnASNDiffers(network: definition.name, asn: settings.asn, other: other.name, otherASN: asn)
        }
        let wanted = frrWanted(others + [definition], local: local)
        let key = try namespaceKey()
        let paths = FRRPaths.forNamespace(key)
        state.frrNamespace = key
        if Self.ownFRRRuns(paths) {
            try transaction.record(undo: NetworkFRRConfigRecord(directory: paths.directory, system: false, excluding: definition.name))
            try applyFRRConfig(directory: paths.directory, system: false, wanted: wanted, network: definition.name)
            state.frr = NetworkFRRRecord(directory: paths.directory, processes: [])
            return
        }
        if let foreign = try services.foreignFRR(excluding: paths) {
            guard let vty = foreign.vtyDirectory else {
                throw NetworkError.frrAlreadyRuns(network: definition.name, daemon: foreign.daemon, pid: foreign.pid)
            }
            try transaction.record(undo: NetworkFRRConfigRecord(directory: vty, system: true, excluding: definition.name))
            try applyFRRConfig(directory: vty, system: true, wanted: wanted, network: definition.name)
            state.frrSystem = vty
            return
        }
        var record = NetworkFRRRecord(directory: paths.directory, processes: [])
        let handle = try transaction.record(undo: record)
        try services.startFRR(network: definition.name, namespace: key,
                              settings: EVPNSettings(asn: settings.asn, bgpPeers: wanted?.peers ?? settings.bgpPeers),
                              local: local, paths: paths) { identity in
            record.processes.append(identity)
            try transaction.update(handle, to: record)
        }
        state.frr = record
    }

    /// The FRR part of a stop: with other evpn networks still started in the namespace, their
    /// FRR keeps running with this network's peers removed (unless they are another's too);
    /// the last one stops qnet's daemons, or removes every line qnet added to the system's FRR.
    func releaseFRR(network: String, own: NetworkFRRRecord?, system: String?) throws {
        if let system { try reconcileFRR(directory: system, system: true, excluding: network) }
        guard let own else { return }
        if try evpnNetworksHere(excluding: network).isEmpty {
            Self.stopFRR(own)
        } else {
            try reconcileFRR(directory: own.directory, system: false, excluding: network)
        }
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
        removeFolder(paths)
        return stopped
    }

    /// Removes qnet's FRR folder: FRR's `run` subfolder only as far as it holds what FRR makes
    /// there (`removeDaemonFolder`), then qnet's own files and the folder itself
    /// (`removeStateTree`). Whatever else is there is named in one warning and left alone.
    static func removeFolder(_ paths: FRRPaths) {
        do {
            guard let folder = try DirectoryDescriptor.openState(paths.directory, create: false) else { return }
            // Without an frr user (FRR removed since), only qnet's own entries are removed.
            let daemon = UserIdentity.lookup("frr")?.uid ?? geteuid()
            var left = folder.removeDaemonFolder(FRRPaths.runFolder, daemon: daemon, expected: FRRPaths.runEntries)
            for entry in try folder.names() where entry != FRRPaths.runFolder { left += folder.removeStateTree(entry) }
            if left.isEmpty {
                NetworkStore.removeStateTree(paths.directory)
            } else {
                NetworkStore.notice("warning: entries qnet did not make were left alone: \(left.joined(separator: ", "))")
            }
        } catch {
            NetworkStore.notice("warning: \(paths.directory) not removed: \(error)")
        }
    }

    /// The control plane's status for `net show` (nil for static vxlan networks or when stopped).
    func evpnStatus(_ definition: NetworkDefinition) -> EVPNStatus? {
        guard let settings = definition.vxlan, let evpn = settings.evpn, let state = store.runtimeState(definition.name),
              let directory = state.frrSystem ?? state.frr?.directory else { return nil }
        let paths = state.frrSystem == nil ? FRRPaths(directory: directory) : FRRPaths(system: directory)
        var status = services.evpnStatus(paths, settings: evpn, vni: settings.vni)
        status.frr = state.frrSystem == nil ? "qnet" : "system"
        status.vtyDirectory = paths.vtyDirectory
        return status
    }
}
