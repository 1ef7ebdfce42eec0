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
    /// evpn networks on qnet's own FRR: the namespace's FRR folder, and the zebra and bgpd
    /// this start ran (none when it joined the namespace's running instance).
    var frr: NetworkFRRRecord?
    /// evpn networks on the system's FRR: its vty folder (qnet's lines went in through vtysh).
    var frrSystem: String?
    /// evpn networks: the key of the namespace whose FRR they share (`namespaceKey()`).
    var frrNamespace: String?
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

    /// Where refused entries are reported (stderr by default; tests collect them).
    nonisolated(unsafe) public static var notice: (String) -> Void = { writeStandardError("qnet: \($0)\n") }

    // MARK: - definitions
    //
    // Every file is reached through checked directory descriptors
    // (`DirectoryDescriptor.openState`: no symlink on the way, every level qnet's user's):
    // a definition planted as a symlink or owned by another user is never read, written
    // through or removed; it is reported and left alone.

    /// The definitions folder, or nil when there is none yet (and `create` is false).
    func openDefinitions(create: Bool = false) throws -> DirectoryDescriptor? {
        try DirectoryDescriptor.openState(definitionsDirectory, create: create)
    }

    /// All stored definitions, by name. A file there that is not qnet's (a symlink, another
    /// user's file) is reported and skipped.
    public func definitions() throws -> [NetworkDefinition] {
        guard let directory = try openDefinitions() else { return [] }
        return try directory.names().filter { $0.hasSuffix(".yaml") && !$0.hasPrefix(".") }.sorted().compactMap { file in
            if let foreign = try directory.foreignEntry(file) {
                Self.notice("warning: network definition \(directory.path)/\(file) is \(foreign): refused and left alone")
                return nil
            }
            return try load(String(file.dropLast(5)))
        }
    }

    /// The stored definition; throws `NetworkError.noSuchNetwork` when there is none.
    public func load(_ name: String) throws -> NetworkDefinition {
        guard let definition = try definitionIfPresent(name) else { throw NetworkError.noSuchNetwork(name) }
        return definition
    }

    /// The stored definition, or nil when no network has this name (a file that does not
    /// decode, or one that is not qnet's, still throws).
    public func definitionIfPresent(_ name: String) throws -> NetworkDefinition? {
        guard let directory = try openDefinitions(),
              let bytes = try directory.readStateFile("\(name).yaml", kind: "network definition") else { return nil }
        do {
            return try DefinitionYAML.decode(NetworkDefinition.self, from: String(decoding: bytes, as: UTF8.self), file: definitionPath(name))
        } catch let error as DefinitionFileError {
            throw NetworkError.unreadableDefinition(error)
        }
    }

    /// Whether anything is stored under this name (a planted entry too: the name is not free).
    public func contains(_ name: String) -> Bool {
        guard let directory = try? openDefinitions() else { return false }
        return (try? directory.status("\(name).yaml")) != nil
    }

    func save(_ definition: NetworkDefinition) throws {
        guard let directory = try openDefinitions(create: true) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open", path: definitionsDirectory)
        }
        let text = try YAMLEncoder().encode(definition)
        try directory.writeStateFile("\(definition.name).yaml", Array(text.utf8), mode: 0o644, kind: "network definition")
    }

    func removeDefinition(_ name: String) {
        do {
            try openDefinitions()?.removeStateFile("\(name).yaml", kind: "network definition")
        } catch {
            Self.notice("warning: \(error)")
        }
    }

    // MARK: - runtime state

    /// Whether the network is up: started, and its dnsmasq (if it has one) still running.
    public func isActive(_ name: String) -> Bool {
        guard let state = runtimeState(name) else { return false }
        if let pid = state.dnsmasqPid, let start = state.dnsmasqStartTime,
           !ProcessIdentity(pid: pid, startTime: start, executable: state.dnsmasqExecutable).isRunning { return false }
        return true
    }

    /// The network's runtime folder (`RUNTIME/networks/NAME`), checked level by level
    /// (`DirectoryDescriptor.openState`); nil when it is missing and `create` is false.
    func openRuntime(_ name: String, create: Bool = false) throws -> DirectoryDescriptor? {
        try DirectoryDescriptor.openState(runtimePath(name), create: create)
    }

    /// The network's runtime state (its dnsmasq's identity, among others: what `net stop`
    /// signals), read relative to its checked directory, never through a symlink nor from a
    /// file qnet's user does not own.
    func runtimeState(_ name: String) -> NetworkRuntimeState? {
        guard let directory = try? openRuntime(name),
              let bytes = try? directory.readStateFile("state.json", kind: "network state") else { return nil }
        return try? JSONDecoder().decode(NetworkRuntimeState.self, from: Data(bytes))
    }

    func saveRuntimeState(_ state: NetworkRuntimeState) throws {
        guard let directory = try openRuntime(state.name, create: true) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open", path: runtimePath(state.name))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try directory.writeStateFile("state.json", Array(try encoder.encode(state)), mode: 0o644, kind: "network state")
    }

    /// Removes what `net start` made under the runtime folder (and the dhcp-hosts folder
    /// outside it, for a private state directory): only qnet's own directories and files,
    /// never through a symlink; anything else is reported and left alone.
    func removeRuntimeState(_ name: String) {
        // dnsmasq writes its pid file as root, then gives it to the user it drops to
        // (nobody): a regular file of that name is dnsmasq's, and unlinking it from root's
        // folder touches nothing else. Every other entry must be qnet's.
        if let runtime = try? openRuntime(name), let info = try? runtime.status(NetworkServices.pidFileName),
           info.st_mode & S_IFMT == S_IFREG {
            try? runtime.remove(NetworkServices.pidFileName)
        }
        let hosts = DnsmasqPaths.hostsDirectory(runtime: runtimePath(name))
        if !hosts.hasPrefix(runtimePath(name) + "/") { Self.removeStateTree(hosts) }  // the private-state fallback
        Self.removeStateTree(runtimePath(name))
    }

    /// `rm -r PATH` through `DirectoryDescriptor.removeStateTree`, reporting what was left.
    static func removeStateTree(_ path: String) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let parent = String(path[..<slash]), leaf = String(path[path.index(after: slash)...])
        do {
            guard let directory = try DirectoryDescriptor.openState(parent, create: false) else { return }
            let left = directory.removeStateTree(leaf)
            if !left.isEmpty { notice("warning: entries qnet did not make were left alone: \(left.joined(separator: ", "))") }
        } catch {
            notice("warning: \(path) not removed: \(error)")
        }
    }
}
