import HostNetwork
import QNetTypes

/// The hot commands in their plain forms, run without ArgumentParser: in the static binary
/// the parser alone costs about 2.4 ms of CPU (its argument sets are built by reflection,
/// and each first protocol-conformance lookup scans every conformance record), several
/// times the commands' own work (see BENCHMARKS.md):
/// - QEMU's `script=` / `downscript=` hook, `qemu-ifup TAP` (one argument), run each time
///   a NIC comes up or goes away, and `qnet ifup TAP` / `qnet ifdown TAP`;
/// - `qnet [--netns NS] [--state-dir DIR] tap create NAME [--bridge BR]`, the per-NIC step
///   of scripts that make TAPs for QEMU;
/// - `qnet [--netns NS] [--state-dir DIR] show [BRIDGE]`, the bridge table, run by people
///   and monitoring scripts.
/// Any other form (another option, `--name=value`, --help, a value the parser would refuse)
/// goes to the parser, which handles and reports it as usual.
enum FastPath {
    /// Runs the command when `arguments` (global options already behind the subcommand, as
    /// `Entry` puts them) are one of the plain forms above with valid values, with the same
    /// effect, output and errors as the parsed command; returns false (having done nothing)
    /// for any other arguments.
    static func run(_ arguments: [String]) throws -> Bool {
        if arguments.first == "show" { return try show(arguments) }
        if arguments.count == 2 { return try hook(arguments) }
        if arguments.count >= 3, arguments[0] == "tap", arguments[1] == "create" { return try tapCreate(arguments) }
        return false
    }

    /// `[show]` or `[show, BRIDGE]`, followed by any of `--netns NS`, `--state-dir DIR`, each
    /// at most once (`qnet show br0`, the bridge table; not --json, --stats or --graph).
    private static func show(_ arguments: [String]) throws -> Bool {
        var rest = arguments.dropFirst()
        var bridge: String?
        if let first = rest.first, !first.hasPrefix("-") {
            guard InterfaceName.problem(with: first) == nil else { return false }
            bridge = first
            rest = rest.dropFirst()
        }
        guard let values = options(rest, allowed: ["--netns", "--state-dir"]) else { return false }
        let host = try GlobalOptions.openHost(netns: values["--netns"], stateDirectory: values["--state-dir"], sysfs: false)
        try Show.show(host: host, bridge: bridge, json: false)
        return true
    }

    /// The values of `--flag value` pairs, by flag: a handful, searched in order. (A
    /// `[String: String]` here was the command's first String-keyed dictionary, and creating
    /// its storage looked up String's Hashable conformance, which in the static binary
    /// scans every conformance record: 0.45 M of `tap create`'s 3.2 M instructions, callgrind.)
    struct OptionValues {
        private var flags: [String] = []
        private var values: [String] = []

        subscript(flag: String) -> String? {
            get { flags.firstIndex(of: flag).map { values[$0] } }
            set {
                guard let newValue else { return }
                flags.append(flag)
                values.append(newValue)
            }
        }
    }

    /// `--flag value` pairs of the `allowed` flags (each at most once; a value not starting
    /// with '-'; --netns a valid namespace name) filling all of `arguments`; nil for anything else.
    private static func options(_ arguments: ArraySlice<String>, allowed: [String]) -> OptionValues? {
        var values = OptionValues()
        var rest = arguments
        while rest.count >= 2, let flag = rest.first, allowed.contains(flag), values[flag] == nil {
            let value = rest[rest.startIndex + 1]
            guard !value.hasPrefix("-") else { return nil }
            values[flag] = value
            rest = rest.dropFirst(2)
        }
        guard rest.isEmpty else { return nil }
        if let netns = values["--netns"], GlobalOptions.problem(withNamespace: netns) != nil { return nil }
        return values
    }

    /// `[ifup|ifdown, TAP]`.
    private static func hook(_ arguments: [String]) throws -> Bool {
        guard !arguments[1].hasPrefix("-"), InterfaceName.problem(with: arguments[1]) == nil else { return false }
        let interface = arguments[1]
        switch arguments[0] {
        case "ifup":
            let bridge = try HookBridge.resolve(nil)
            try Ifup.attach(interface, to: bridge, change: HostChange.begin(host: HostNetwork(), namespaceName: nil))
        case "ifdown":
            try Ifdown.detach(interface, from: nil, change: HostChange.begin(host: HostNetwork(), namespaceName: nil))
        default:
            return false
        }
        return true
    }

    /// `[tap, create, NAME]` followed by any of `--bridge BR`, `--netns NS`, `--state-dir DIR`,
    /// each at most once.
    private static func tapCreate(_ arguments: [String]) throws -> Bool {
        let name = arguments[2]
        guard !name.hasPrefix("-"), InterfaceName.problem(with: name, allowTemplate: true) == nil else { return false }
        guard let values = options(arguments[3...], allowed: ["--bridge", "--netns", "--state-dir"]) else { return false }
        let bridge = values["--bridge"], netns = values["--netns"]
        if let bridge, InterfaceName.problem(with: bridge) != nil { return false }
        let host = try GlobalOptions.openHost(netns: netns, stateDirectory: values["--state-dir"], sysfs: false)
        // No --owner and no --group: the TAP belongs to root, as `TapCreate.ownerID` decides.
        try TapCreate.create(TAPOptions(name: name, persistent: true, owner: try TapCreate.ownerID(nil, group: nil), bridge: bridge),
                             ownerName: nil, groupName: nil, change: HostChange.begin(host: host, namespaceName: netns))
        return true
    }
}
