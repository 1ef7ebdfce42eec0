import Glibc
import Yams
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import QNetSystem

/// What `net start` made, recorded so `net stop` removes exactly that.
public struct NetworkRuntimeState: Codable, Equatable, Sendable {
    public var name: String
    public var bridgeCreated: Bool
    public var dnsmasqPid: Int32?
    public var dnsmasqStartTime: UInt64?
    /// Where /proc/PID/exe of dnsmasq pointed: with the pid and start time, its identity.
    public var dnsmasqExecutable: String?
    public var firewall: Bool
    /// Sysctls changed by this start and their previous values (path → value).
    public var changedSysctls: [String: String]
    public var addressing: String?
    /// The network namespace the network runs in (nil: the host's). Firewall rules and
    /// sysctls are per namespace, so only networks of the same namespace share them.
    public var netns: String?
    /// evpn networks: the FRR folder and the zebra and bgpd this start ran.
    var frr: NetworkFRRRecord?
}

/// Named networks on disk: definitions in /var/lib/qnet/networks/NAME.yaml (kept across
/// reboots) and what `net start` made in /run/qnet/networks/NAME/ (gone at reboot, like
/// the bridges). Like libvirt's /etc/libvirt/qemu/networks and /run/libvirt/network.
/// Needs write access to those directories; touches no network device.
public struct NetworkStore: Sendable {
    public init() {}

    var definitionsDirectory: String { "\(QNetPaths.persistent)/networks" }
    var runtimeDirectory: String { "\(QNetPaths.runtime)/networks" }
    func definitionPath(_ name: String) -> String { "\(definitionsDirectory)/\(name).yaml" }
    func runtimePath(_ name: String) -> String { "\(runtimeDirectory)/\(name)" }

    // MARK: - definitions

    /// All stored definitions, by name.
    public func definitions() throws -> [NetworkDefinition] {
        try FileSystem.list(definitionsDirectory).filter { $0.hasSuffix(".yaml") }.map { file in
            try load(String(file.dropLast(5)))
        }
    }

    /// The stored definition; throws `NetworkError.noSuchNetwork` when there is none.
    public func load(_ name: String) throws -> NetworkDefinition {
        guard let definition = try definitionIfPresent(name) else { throw NetworkError.noSuchNetwork(name) }
        return definition
    }

    /// The stored definition, or nil when no network has this name (a file that does not
    /// decode still throws).
    public func definitionIfPresent(_ name: String) throws -> NetworkDefinition? {
        let text: String
        do { text = try FileSystem.readText(definitionPath(name)) } catch let error as SystemError where error.errno == .noSuchFileOrDirectory {
            return nil
        }
        do { return try DefinitionYAML.decode(NetworkDefinition.self, from: text, file: definitionPath(name)) } catch let error as DefinitionFileError {
            throw NetworkError.unreadableDefinition(error)
        }
    }

    public func contains(_ name: String) -> Bool { fileExists(definitionPath(name)) }

    func save(_ definition: NetworkDefinition) throws {
        try FileSystem.makeDirectories(definitionsDirectory)
        let text = try YAMLEncoder().encode(definition)
        try FileSystem.writeAtomically(definitionPath(definition.name), Array(text.utf8))
    }

    func removeDefinition(_ name: String) { unlink(definitionPath(name)) }

    // MARK: - runtime state

    /// Whether the network is up: started, and its dnsmasq (if it has one) still running.
    public func isActive(_ name: String) -> Bool {
        guard let state = runtimeState(name) else { return false }
        if let pid = state.dnsmasqPid, let start = state.dnsmasqStartTime,
           !ProcessIdentity(pid: pid, startTime: start, executable: state.dnsmasqExecutable).isRunning { return false }
        return true
    }

    /// The network's runtime state (its dnsmasq's identity, among others: what `net stop`
    /// signals), read relative to its checked directory (`DirectoryDescriptor.openState`),
    /// never through a symlink nor from a file qnet's user does not own.
    func runtimeState(_ name: String) -> NetworkRuntimeState? {
        guard let directory = try? DirectoryDescriptor.openState(runtimePath(name), create: false),
              let bytes = try? directory.readBytes("state.json", expectedOwner: geteuid()) else { return nil }
        return try? JSONDecoder().decode(NetworkRuntimeState.self, from: Data(bytes))
    }

    func saveRuntimeState(_ state: NetworkRuntimeState) throws {
        guard let directory = try DirectoryDescriptor.openState(runtimePath(state.name)) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open", path: runtimePath(state.name))
        }
        if let foreign = try directory.foreignEntry("state.json") {
            throw SystemError(errno: .notPermitted, operation: "write network state (\(foreign) is there; refused and left alone)",
                              path: "\(directory.path)/state.json")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try directory.writeAtomically("state.json", Array(try encoder.encode(state)))
    }

    func removeRuntimeState(_ name: String) {
        let hosts = DnsmasqPaths.hostsDirectory(runtime: runtimePath(name))
        if !hosts.hasPrefix(runtimePath(name) + "/") { FileSystem.removeTree(hosts) }  // the private-state fallback
        FileSystem.removeTree(runtimePath(name))
    }
}
