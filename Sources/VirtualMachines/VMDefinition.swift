import QEMU
import QNetTypes

/// How QEMU should accelerate a VM (`-accel`).
public enum Acceleration: String, Codable, Sendable, CaseIterable {
    /// KVM only when /dev/kvm works *and* a bounded probe shows it runs a guest, else TCG.
    case auto
    case kvm
    case tcg
}

/// Where a guest NIC's traffic goes on the host.
public enum NICAttachment: Equatable, Sendable {
    /// A TAP qnet opens and attaches to this host bridge (`--nic bridge=BR`).
    case bridge(String)
    /// A TAP on a named network's bridge, in the network's interface group (`--nic network=NAME`).
    case network(String)
    /// QEMU user-mode networking (slirp or passt): no TAP, no bridge, no privilege (`--nic user,...`).
    case user(UserNICSpec)

    /// The attachment named by a NIC's `bridge=` and `network=` values: exactly one of
    /// them. `text` is the NIC as given, for the error (default: those two values).
    static func tap(bridge: String?, network: String?, text: String? = nil) throws -> NICAttachment {
        switch (bridge, network) {
        case let (bridge?, nil): return .bridge(bridge)
        case let (nil, network?): return .network(network)
        default:
            let given = text ?? [bridge.map { "bridge=\($0)" }, network.map { "network=\($0)" }].compactMap { $0 }.joined(separator: ",")
            throw VMError.invalidValue(what: "--nic", value: given, allowed: "name exactly one of bridge=BR or network=NAME")
        }
    }
}

/// One guest NIC: `--nic bridge=BR[,model=..][,mac=..][,queues=N]`,
/// `--nic network=NAME[,...]` (a named network), `--nic user[,...]`, or `--nic none`.
public struct NICSpec: Codable, Equatable, Sendable {
    public var attachment: NICAttachment
    public var model: NICModel
    public var mac: String?
    public var queues: Int

    public init(_ attachment: NICAttachment, model: NICModel = .virtio, mac: String? = nil, queues: Int = 1) {
        self.attachment = attachment
        self.model = model
        self.mac = mac
        self.queues = queues
    }

    public init(bridge: String, model: NICModel = .virtio, mac: String? = nil, queues: Int = 1) {
        self.init(.bridge(bridge), model: model, mac: mac, queues: queues)
    }

    public init(network: String, model: NICModel = .virtio, mac: String? = nil, queues: Int = 1) {
        self.init(.network(network), model: model, mac: mac, queues: queues)
    }

    /// A user-mode NIC; its model and MAC are the user spec's.
    public init(user: UserNICSpec) {
        self.init(.user(user), model: user.model, mac: user.mac)
    }

    /// The host bridge named directly (nil for networks and user mode).
    public var bridge: String? { if case let .bridge(name) = attachment { name } else { nil } }
    /// The named network (nil otherwise).
    public var network: String? { if case let .network(name) = attachment { name } else { nil } }
    /// The user-mode settings (nil for TAP NICs).
    public var user: UserNICSpec? { if case let .user(spec) = attachment { spec } else { nil } }

    enum CodingKeys: String, CodingKey { case bridge, network, user, model, mac, queues }

    /// YAML form: exactly one of `bridge: BR`, `network: NAME` or `user: {...}`, then
    /// optional `model`, `mac` and `queues`.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let bridge = try container.decodeIfPresent(String.self, forKey: .bridge)
        let network = try container.decodeIfPresent(String.self, forKey: .network)
        if let user = try container.decodeIfPresent(UserNICSpec.self, forKey: .user) {
            guard bridge == nil, network == nil else {
                throw VMError.invalidValue(what: "NIC", value: user.specText, allowed: "a user-mode NIC has no bridge or network")
            }
            attachment = .user(user)
        } else {
            attachment = try .tap(bridge: bridge, network: network)
        }
        let modelName = try container.decodeIfPresent(String.self, forKey: .model) ?? "virtio"
        guard let model = NICModel(name: modelName) else {
            throw VMError.invalidValue(what: "NIC model", value: modelName, allowed: "use virtio, e1000, e1000e or rtl8139")
        }
        self.model = model
        mac = try container.decodeIfPresent(String.self, forKey: .mac)
        queues = try container.decodeIfPresent(Int.self, forKey: .queues) ?? 1
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch attachment {
        case let .bridge(name): try container.encode(name, forKey: .bridge)
        case let .network(name): try container.encode(name, forKey: .network)
        case let .user(spec): try container.encode(spec, forKey: .user)
        }
        try container.encode(model, forKey: .model)
        try container.encodeIfPresent(mac, forKey: .mac)
        try container.encode(queues, forKey: .queues)
    }

    /// Parses the `--nic` syntax. `none` yields nil (no NIC at all).
    public static func parse(_ text: String) throws -> NICSpec? {
        if text == "none" { return nil }
        if UserNICSpec.isUserSpec(text) { return NICSpec(user: try UserNICSpec.parse(text)) }
        var bridge: String?, network: String?, model = NICModel.virtio, mac: String?, queues = 1
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pieces.count == 2, !pieces[1].isEmpty else {
                throw VMError.invalidValue(what: "--nic", value: text, allowed: "use bridge=BR or network=NAME, then [,model=virtio|e1000|e1000e|rtl8139][,mac=MAC][,queues=N]; or none")
            }
            let value = String(pieces[1])
            switch pieces[0] {
            case "bridge": bridge = value
            case "network": network = value
            case "model":
                guard let parsed = NICModel(name: value) else {
                    throw VMError.invalidValue(what: "NIC model", value: value, allowed: "use virtio, e1000, e1000e or rtl8139")
                }
                model = parsed
            case "mac": mac = value
            case "queues":
                guard let count = Int(value), (1...16).contains(count) else {
                    throw VMError.invalidValue(what: "NIC queue count", value: value, allowed: "use 1 to 16")
                }
                queues = count
            default:
                throw VMError.invalidValue(what: "--nic key", value: String(pieces[0]), allowed: "use bridge, network, model, mac or queues")
            }
        }
        let spec = NICSpec(try .tap(bridge: bridge, network: network, text: text), model: model, mac: mac, queues: queues)
        try spec.validate()
        return spec
    }

    public func validate() throws {
        switch attachment {
        case let .user(user):
            try user.validate()
            return
        case let .bridge(bridge):
            if let problem = InterfaceNameRules.problem(bridge) {
                throw VMError.invalidValue(what: "bridge name", value: bridge, allowed: problem)
            }
        case let .network(network):
            try NetworkNames.validate(network)
        }
        if let mac {
            guard let parsed = MACAddress(mac) else {
                throw VMError.invalidValue(what: "MAC address", value: mac, allowed: "use six hex pairs, e.g. 52:54:00:12:34:56")
            }
            guard parsed.isValidUnicast else {
                throw VMError.invalidValue(what: "MAC address", value: mac, allowed: "a NIC needs a unicast, non-zero address (even first byte)")
            }
        }
        if queues > 1 && model != .virtio {
            throw VMError.invalidValue(what: "NIC queue count", value: String(queues), allowed: "only virtio NICs have several queues")
        }
    }
}

/// Interface-name rules without depending on HostNetwork's error type.
enum InterfaceNameRules {
    static func problem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty || bytes.count > 15 { return "an interface name has 1 to 15 bytes" }
        if name == "." || name == ".." || name.contains("/") || name.contains(":") || name.contains(" ") || name.contains("%") {
            return "no '/', ':', '%', whitespace, '.' or '..'"
        }
        return nil
    }
}

/// Everything `qnet vm run` needs to start a VM; the same fields are read from YAML.
public struct VMDefinition: Codable, Equatable, Sendable {
    public var name: String
    /// Memory in MiB.
    public var memory: Int
    public var cpus: Int
    public var disks: [String]
    public var cdrom: String?
    public var boot: String?
    public var nics: [NICSpec]
    public var kernel: String?
    public var initrd: String?
    public var append: String?
    /// VNC display number (`--vnc :N`).
    public var vnc: Int?
    /// Where the serial console is written; default: the VM's state directory.
    public var console: String?
    public var accel: Acceleration
    /// The user QEMU runs as.
    public var user: String?
    public var extraArguments: [String]

    public init(name: String, memory: Int = 512, cpus: Int = 1, disks: [String] = [], cdrom: String? = nil,
                boot: String? = nil, nics: [NICSpec] = [], kernel: String? = nil, initrd: String? = nil,
                append: String? = nil, vnc: Int? = nil, console: String? = nil, accel: Acceleration = .auto,
                user: String? = nil, extraArguments: [String] = []) {
        self.name = name
        self.memory = memory
        self.cpus = cpus
        self.disks = disks
        self.cdrom = cdrom
        self.boot = boot
        self.nics = nics
        self.kernel = kernel
        self.initrd = initrd
        self.append = append
        self.vnc = vnc
        self.console = console
        self.accel = accel
        self.user = user
        self.extraArguments = extraArguments
    }

    enum CodingKeys: String, CodingKey {
        case name, memory, cpus, disks, cdrom, boot, nics, kernel, initrd, append, vnc, console, accel, user
        case extraArguments = "extra_args"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        memory = try container.decodeIfPresent(Int.self, forKey: .memory) ?? 512
        cpus = try container.decodeIfPresent(Int.self, forKey: .cpus) ?? 1
        disks = try container.decodeIfPresent([String].self, forKey: .disks) ?? []
        cdrom = try container.decodeIfPresent(String.self, forKey: .cdrom)
        boot = try container.decodeIfPresent(String.self, forKey: .boot)
        nics = try container.decodeIfPresent([NICSpec].self, forKey: .nics) ?? []
        kernel = try container.decodeIfPresent(String.self, forKey: .kernel)
        initrd = try container.decodeIfPresent(String.self, forKey: .initrd)
        append = try container.decodeIfPresent(String.self, forKey: .append)
        vnc = try container.decodeIfPresent(Int.self, forKey: .vnc)
        console = try container.decodeIfPresent(String.self, forKey: .console)
        accel = try container.decodeIfPresent(Acceleration.self, forKey: .accel) ?? .auto
        user = try container.decodeIfPresent(String.self, forKey: .user)
        extraArguments = try container.decodeIfPresent([String].self, forKey: .extraArguments) ?? []
    }

    /// VM names become directory names and parts of QEMU's `-name`: letters, digits, `.`, `_`, `-`.
    public static func validateName(_ name: String) throws {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte == 0x2e || byte == 0x5f || byte == 0x2d
        }
        guard !name.isEmpty, name.utf8.count <= 64, allowed, name.first != ".", name.first != "-" else {
            throw VMError.invalidValue(what: "VM name", value: name, allowed: "use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'")
        }
    }

    /// Checks values that need no host access (files, bridges and users are checked at run time).
    public func validate() throws {
        try Self.validateName(name)
        guard memory >= 16, memory <= 1 << 22 else {
            throw VMError.invalidValue(what: "memory", value: "\(memory) MiB", allowed: "use 16 MiB to 4 TiB")
        }
        guard cpus >= 1, cpus <= 255 else {
            throw VMError.invalidValue(what: "CPU count", value: String(cpus), allowed: "use 1 to 255")
        }
        if let boot, boot.isEmpty || !boot.allSatisfy({ "acdn".contains($0) }) {
            throw VMError.invalidValue(what: "boot order", value: boot, allowed: "use letters from a (floppy), c (disk), d (cdrom), n (network), e.g. cd")
        }
        if let vnc, vnc < 0 || vnc > 99 {
            throw VMError.invalidValue(what: "VNC display", value: ":\(vnc)", allowed: "use :0 to :99")
        }
        if initrd != nil && kernel == nil {
            throw VMError.invalidValue(what: "--initrd", value: initrd!, allowed: "an initrd needs --kernel")
        }
        for nic in nics { try nic.validate() }
    }
}
