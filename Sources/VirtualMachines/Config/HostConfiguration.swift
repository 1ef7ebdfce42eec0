import Glibc
import QNetSystem
import Yams

extension QNetPaths {
    /// The declarative configuration `qnet apply` reads: /etc/qnet, or DIR/etc under
    /// `--state-dir DIR` / `$QNET_STATE_DIR`.
    public static var configuration: String { stateOverride.map { "\($0)/etc" } ?? "/etc/qnet" }
}

/// Everything declared under CONFIG_DIR: one YAML file per object in bridges/, taps/,
/// networks/ and vms/ (file name NAME.yaml; a `name:` inside must match it). Read strictly:
/// an unknown key, a wrong type or a bad value is refused with the file, line and key path.
public struct HostConfiguration: Equatable, Sendable {
    public var bridges: [BridgeConfig] = []
    public var taps: [TapConfig] = []
    public var networks: [NetworkConfig] = []
    public var vms: [VMConfig] = []

    public init(bridges: [BridgeConfig] = [], taps: [TapConfig] = [], networks: [NetworkConfig] = [], vms: [VMConfig] = []) {
        self.bridges = bridges
        self.taps = taps
        self.networks = networks
        self.vms = vms
    }

    public static let folders = ["bridges", "taps", "networks", "vms"]

    /// Reads every file under `directory` (a missing folder declares nothing).
    public static func load(directory: String = QNetPaths.configuration) throws -> HostConfiguration {
        var configuration = HostConfiguration()
        for entry in FileSystem.list(directory).sorted() where !entry.hasPrefix(".") {
            guard folders.contains(entry) else {
                throw DefinitionFileError(file: "\(directory)/\(entry)", problem: .unknownKey(path: entry, allowed: folders))
            }
        }
        configuration.bridges = try files(directory, "bridges").map { path, stem in
            try named(try DefinitionYAML.load(BridgeConfig.self, path: path), stem, path, \.name)
        }
        configuration.taps = try files(directory, "taps").map { path, stem in
            try named(try DefinitionYAML.load(TapConfig.self, path: path), stem, path, \.name)
        }
        configuration.networks = try files(directory, "networks").map { path, stem in
            let (root, autostart) = try withoutAutostart(path, defaultName: stem)
            let definition = try DefinitionYAML.decode(NetworkDefinition.self, from: root, file: path)
            return NetworkConfig(definition: try named(definition, stem, path, \.name), autostart: autostart)
        }
        configuration.vms = try files(directory, "vms").map { path, stem in
            let (root, autostart) = try withoutAutostart(path, defaultName: stem)
            var definition = try DefinitionYAML.decode(VMDefinition.self, from: root, file: path)
            definition = try named(definition, stem, path, \.name)
            do { try definition.validate() } catch let error as VMError {
                throw DefinitionFileError(file: path, problem: .notYAML(problem: "\(error)"))
            }
            return VMConfig(definition: definition, autostart: autostart)
        }
        try configuration.checkReferences(directory: directory)
        return configuration
    }

    /// Declared objects refer to each other by name: a TAP's bridge must be declared or
    /// exist (checked when applied); two objects of one kind may not share a name.
    func checkReferences(directory: String) throws {
        var seen = Set<String>()
        for name in bridges.map(\.name) + taps.map(\.name) {
            if !seen.insert(name).inserted {
                throw DefinitionFileError(file: directory, problem: .invalidValue(path: name, what: "interface name", value: name,
                                                                                  allowed: "a bridge and a TAP cannot both be named \(name)"))
            }
        }
    }

    private static func files(_ directory: String, _ folder: String) -> [(String, String)] {
        FileSystem.list("\(directory)/\(folder)").sorted().filter { $0.hasSuffix(".yaml") && !$0.hasPrefix(".") }.map {
            ("\(directory)/\(folder)/\($0)", String($0.dropLast(5)))
        }
    }

    /// The object's name: the file's stem when the file leaves it out; a different one is refused.
    private static func named<Value>(_ value: Value, _ stem: String, _ path: String, _ name: WritableKeyPath<Value, String>) throws -> Value {
        var value = value
        if value[keyPath: name].isEmpty { value[keyPath: name] = stem }
        guard value[keyPath: name] == stem else {
            throw DefinitionFileError(file: path, problem: .invalidValue(path: "name", what: "name", value: value[keyPath: name],
                                                                          allowed: "it must match the file name (\(stem).yaml)"))
        }
        return value
    }

    /// The file's tree without its `autostart` key (and with `name: STEM` when it has no
    /// name), and that key's value (false when absent).
    private static func withoutAutostart(_ path: String, defaultName: String) throws -> (Node, Bool) {
        let text: String
        do { text = try FileSystem.readText(path) } catch let error as SystemError {
            throw DefinitionFileError(file: path, problem: .unreadable(error.errno))
        }
        let root = try DefinitionYAML.compose(text, file: path)
        guard let mapping = root.mapping else { return (root, false) }
        var autostart = false
        var kept: [(Node, Node)] = []
        for (key, value) in mapping {
            guard key.string == "autostart" else { kept.append((key, value)); continue }
            guard let flag = value.bool else {
                throw DefinitionFileError(file: path, line: key.mark?.line,
                                          problem: .wrongType(path: "autostart", found: "'\(value.string ?? "?")'", expected: "true or false"))
            }
            autostart = flag
        }
        if !kept.contains(where: { $0.0.string == "name" }) { kept.append((Node("name"), Node(defaultName))) }
        return (.mapping(Node.Mapping(kept, mapping.tag, mapping.style, mapping.mark)), autostart)
    }
}

/// Writes configuration objects as YAML in the form `HostConfiguration.load` reads.
public enum ConfigurationText {
    public static func yaml(_ bridge: BridgeConfig) throws -> String { try YAMLEncoder().encode(bridge) }
    public static func yaml(_ tap: TapConfig) throws -> String { try YAMLEncoder().encode(tap) }

    public static func yaml(_ network: NetworkConfig) throws -> String {
        try YAMLEncoder().encode(network.definition) + "autostart: \(network.autostart)\n"
    }

    public static func yaml(_ vm: VMConfig) throws -> String {
        try YAMLEncoder().encode(vm.definition) + "autostart: \(vm.autostart)\n"
    }
}
