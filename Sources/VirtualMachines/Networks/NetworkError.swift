import QNetSystem
import QNetTypes

/// Why a named-network operation failed (`qnet net ...`, or a VM NIC naming a network);
/// one line each, naming the network or value and what to do. Problems with a definition's
/// own values are `NetworkConfigError`, carried by `badSetting`.
public enum NetworkError: UserFacingError, Equatable, Sendable {
    case noSuchNetwork(String)
    /// The stored definition file does not decode (the file, the line, the problem).
    case unreadableDefinition(DefinitionFileError)
    case nameTaken(String)
    /// Another network's definition already names this bridge.
    case bridgeTaken(bridge: String, network: String)
    /// A nat or isolated network makes its own bridge, and an interface with its name exists.
    case bridgeNameExists(bridge: String, mode: NetworkMode)
    /// One of the definition's values is refused (the network's name gives the context).
    case badSetting(network: String, NetworkConfigError)
    case notRunning(String)
    /// A VM's NIC names a network that is not running (bad input to `vm run`).
    case nicOnStoppedNetwork(String)
    /// Running VMs have NICs on it; `canForce`: `--force` would go ahead anyway.
    case inUse(network: String, vms: [String], canForce: Bool)
    /// Static leases on a bridge network, where qnet serves no DHCP.
    case noDHCP(network: String)
    case notInstalled(NetworkProgram)
    case dnsmasqExited(network: String, output: String)
    case dnsmasqTimeout(network: String, seconds: Int)
    /// Something else already answers `service` on the gateway's address.
    case servicePortTaken(service: String, address: IPAddress)
    /// `nft -f FILE` refused qnet's ruleset; `output` is what nft printed.
    case firewallRejected(path: String, output: String)
    /// The network has an IPv6 prefix and IPv6 is off in its namespace.
    case ipv6Unavailable(network: String, reason: String)
    /// Every address of the network's DHCP range is leased or reserved (a filtered NIC needs one).
    case noFreeAddress(network: String)
    /// zebra or bgpd of an evpn network exited at once (`output`: its last lines), or did
    /// not make its vty socket in time.
    case frrExited(network: String, daemon: String, output: String)
    case frrTimeout(network: String, daemon: String, seconds: Int)
    /// An FRR daemon qnet did not start for this network already runs in its namespace.
    case frrAlreadyRuns(network: String, daemon: String, pid: Int32)
    /// Another evpn network started in the namespace runs BGP in another AS (one bgpd per
    /// namespace carries one AS).
    case evpnASNDiffers(network: String, asn: UInt32, other: String, otherASN: UInt32)
    /// The FRR qnet configures (the system's, or its own) runs `router bgp` in another AS.
    case frrASNConflict(network: String, asn: UInt32, running: UInt32, system: Bool)
    /// The network is down but some of its pieces could not be removed.
    case stopIncomplete(network: String, problems: [NetworkStopProblem])

    /// Bad input (exit status 2), as opposed to an operation the host refused (1).
    public var isUsageError: Bool {
        switch self {
        case .nameTaken, .bridgeTaken, .bridgeNameExists, .noDHCP, .nicOnStoppedNetwork, .evpnASNDiffers, .frrASNConflict: true
        case .badSetting(_, let error): error.isUsageError
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .noSuchNetwork(name):
            "no network named '\(printable(name))' (see `qnet net list`)"
        case let .unreadableDefinition(error):
            "network definition \(error)"
        case let .nameTaken(name):
            "a network named '\(name)' exists; delete it first or pick another name"
        case let .bridgeTaken(bridge, network):
            "bridge '\(bridge)' is already used by network '\(network)'; pick another bridge"
        case let .bridgeNameExists(bridge, mode):
            "an interface named '\(bridge)' exists; \(mode.rawValue) networks make their own bridge, so pick another --bridge"
        case let .badSetting(network, error):
            "network '\(network)': \(error.description)"
        case let .notRunning(name):
            "network '\(name)' is not running"
        case let .nicOnStoppedNetwork(name):
            "invalid NIC network '\(printable(name))': it is not running; start it with `qnet net start \(name)`"
        case let .inUse(network, vms, canForce):
            "network '\(network)' is used by running VMs: \(vms.joined(separator: ", ")); stop them first"
                + (canForce ? " or pass --force" : "")
        case let .noDHCP(network):
            "network '\(network)' is a bridge network: static leases need a nat or isolated network (qnet serves no DHCP on bridge networks)"
        case let .notInstalled(program):
            "\(program.rawValue) is not installed; \(program.neededFor): apt-get install \(program.package)"
        case let .dnsmasqExited(network, output):
            "dnsmasq for network '\(network)' exited at once" + (output.isEmpty ? "" : ": " + output)
        case let .dnsmasqTimeout(network, seconds):
            "dnsmasq for network '\(network)' did not start within \(seconds) s"
        case let .servicePortTaken(service, address):
            "\(service) on \(address) is already taken by another program (a system dnsmasq or resolver?); stop it or bind it elsewhere"
        case let .firewallRejected(path, output):
            "nft -f \(path) failed" + (output.isEmpty ? "" : ": " + output)
        case let .ipv6Unavailable(network, reason):
            "network '\(network)' has an IPv6 prefix, but IPv6 is off here (\(reason)); turn it on "
                + "(sysctl -w net.ipv6.conf.all.disable_ipv6=0) or recreate the network with --ipv6 none"
        case let .noFreeAddress(network):
            "network '\(network)' has no free address left in its DHCP range for another filtered NIC; widen dhcp_start/dhcp_end or stop a VM"
        case let .frrExited(network, daemon, output):
            "\(daemon) for network '\(network)' failed" + (output.isEmpty ? "" : ": " + output)
        case let .frrTimeout(network, daemon, seconds):
            "\(daemon) for network '\(network)' did not open its vty socket within \(seconds) s"
        case let .frrAlreadyRuns(network, daemon, pid):
            "\(daemon) (pid \(pid)) already runs in this network namespace without a bgpd; network '\(network)' needs "
                + "the system's FRR to run bgpd too (qnet then adds its lines through vtysh), or no FRR here (qnet starts its own)"
        case let .evpnASNDiffers(network, asn, other, otherASN):
            "network '\(network)': ASN \(asn) differs from \(otherASN) of evpn network '\(other)', started in this namespace; "
                + "its evpn networks share one bgpd: give them one ASN"
        case let .frrASNConflict(network, asn, running, system):
            "network '\(network)': \(system ? "the system's" : "qnet's") bgpd in this namespace runs router bgp \(running), not ASN \(asn); "
                + "create the network with --asn \(running)"
        case let .stopIncomplete(network, problems):
            "network '\(network)' stopped with problems: " + problems.map(\.description).joined(separator: "; ")
        }
    }
}

/// The programs named networks run.
public enum NetworkProgram: String, Sendable, CaseIterable {
    case dnsmasq
    case nft
    case frr

    /// The Debian package that provides it.
    public var package: String {
        switch self {
        case .dnsmasq: "dnsmasq-base"
        case .nft: "nftables"
        case .frr: "frr"
        }
    }

    var neededFor: String {
        switch self {
        case .dnsmasq: "nat and isolated networks need it for DHCP and DNS"
        case .nft: "nat and isolated networks need nftables"
        case .frr: "vxlan networks with --control-plane evpn need its zebra and bgpd"
        }
    }
}

/// One piece `net stop` could not remove, and why.
public struct NetworkStopProblem: Equatable, Sendable, CustomStringConvertible {
    public enum Step: Equatable, Sendable {
        case firewall
        case bridge(String)
        case sysctl(path: String)
        case frr
    }

    public var step: Step
    /// The failing step's own one-line error.
    public var error: String

    public init(_ step: Step, _ error: any Error) {
        self.step = step
        self.error = String(describing: error)
    }

    public var description: String {
        switch step {
        case .firewall: "firewall: \(error)"
        case let .bridge(name): "bridge \(name): \(error)"
        case let .sysctl(path): "\(path): \(error)"
        case .frr: "FRR: \(error)"
        }
    }
}
