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
    /// A whole host PCI function (a NIC), handed to the guest through vfio-pci
    /// (`--nic pci=0000:03:00.0`; libvirt `<hostdev>`, Incus `nictype=physical`).
    case pci(String)
    /// An SR-IOV virtual function of a host NIC through vfio-pci, with the MAC and VLAN the
    /// host sets on it (`--nic vf=PF:INDEX[,mac=M][,vlan=ID]`; libvirt `<interface
    /// type='hostdev'>`, Incus `nictype=sriov`).
    case vf(VirtualFunctionNIC)

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

/// VF `index` of the SR-IOV physical function `pf`, given as its interface name (`enp3s0f0`,
/// as `ip link set enp3s0f0 vf 2 ...` names it) or its PCI address (`0000:03:00.0`).
public struct VirtualFunctionNIC: Equatable, Sendable {
    public var pf: String
    public var index: Int
    /// The VLAN the host tags the VF's traffic with (`ip link set PF vf N vlan ID`); nil: none.
    public var vlan: Int?

    public init(pf: String, index: Int, vlan: Int? = nil) {
        self.pf = pf
        self.index = index
        self.vlan = vlan
    }

    /// `PF:INDEX`, split at the last ':' (a PCI address has two of its own).
    public static func parse(_ text: String) throws -> VirtualFunctionNIC {
        guard let colon = text.lastIndex(of: ":"), let index = Int(text[text.index(after: colon)...]), index >= 0, index < 256 else {
            throw VMError.invalidValue(what: "--nic vf=", value: text, allowed: "use vf=PF:INDEX, e.g. vf=enp3s0f0:2 or vf=0000:03:00.0:2 (INDEX 0 to 255)")
        }
        return VirtualFunctionNIC(pf: String(text[..<colon]), index: index)
    }

    /// `PF:INDEX`.
    public var text: String { "\(pf):\(index)" }

    func validate() throws {
        if !PCIHostDevice.isAddress(pf), let problem = InterfaceName.problem(with: pf) {
            throw VMError.invalidValue(what: "VF's physical function", value: pf, allowed: "an interface name or a PCI address DDDD:BB:DD.F (\(problem))")
        }
        guard (0..<256).contains(index) else {
            throw VMError.invalidValue(what: "VF index", value: String(index), allowed: "use 0 to 255")
        }
        if let vlan, !(1...4094).contains(vlan) {
            throw VMError.invalidValue(what: "VF VLAN", value: String(vlan), allowed: "use 1 to 4094")
        }
    }
}

/// One guest NIC: `--nic bridge=BR[,model=..][,mac=..][,queues=N][,filter=on|off][,ip=ADDR]...`,
/// `--nic network=NAME[,...]` (a named network), `--nic user[,...]`, or `--nic none`.
public struct NICSpec: Codable, Equatable, Sendable {
    public var attachment: NICAttachment
    public var model: NICModel
    public var mac: String?
    public var queues: Int
    /// Anti-spoofing on the NIC's bridge port (`filter=on|off`, see `PortFilterRuleset`);
    /// nil: the default, on for NAT and isolated networks, off for plain bridges and
    /// bridge-mode networks (whose guests' addresses qnet does not hand out).
    public var filter: Bool?
    /// The guest's own addresses (`ip=ADDR`, repeatable; IPv4 or IPv6): with the filter on, the
    /// only source addresses its frames may carry (besides DHCP and its IPv6 link-local address).
    public var addresses: [String] = []

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
    /// Whether the NIC is a host PCI function handed over through vfio-pci (`pci=` or `vf=`).
    public var isPassthrough: Bool {
        switch attachment {
        case .pci, .vf: true
        default: false
        }
    }

    /// `pci=ADDR` or `vf=PF:INDEX` (nil for other NICs), for messages.
    public var passthroughText: String? {
        switch attachment {
        case let .pci(address): "pci=\(address)"
        case let .vf(function): "vf=\(function.text)"
        default: nil
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case bridge, network, user, pci, vf, vlan, model, mac, queues, filter, ip }

    /// YAML form: exactly one of `bridge: BR`, `network: NAME` or `user: {...}`, then
    /// optional `model`, `mac` and `queues`; no other key. Checked as `--nic` is.
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let bridge = try container.decodeIfPresent(String.self, forKey: .bridge)
        let network = try container.decodeIfPresent(String.self, forKey: .network)
        if let user = try container.decodeIfPresent(UserNICSpec.self, forKey: .user) {
            guard bridge == nil, network == nil else {
                throw LocatedProblem(decoder.codingPath) {
                    .invalidValue(path: $0, what: "NIC", value: user.specText, allowed: "a user-mode NIC has no bridge or network")
                }
            }
            attachment = .user(user)
        } else if let pci = try container.decodeIfPresent(String.self, forKey: .pci) {
            attachment = .pci(pci)
        } else if let vf = try container.decodeIfPresent(String.self, forKey: .vf) {
            var spec = try decoder.checked { try VirtualFunctionNIC.parse(vf) }
            spec.vlan = try container.decodeIfPresent(Int.self, forKey: .vlan)
            attachment = .vf(spec)
        } else {
            attachment = try decoder.checked { try .tap(bridge: bridge, network: network) }
        }
        let kinds = [bridge != nil || network != nil, container.contains(.user), container.contains(.pci), container.contains(.vf)]
        if kinds.filter({ $0 }).count > 1 || (container.contains(.vlan) && !container.contains(.vf)) {
            throw LocatedProblem(decoder.codingPath) {
                .invalidValue(path: $0, what: "NIC", value: "several kinds", allowed: "give one of bridge, network, user, pci or vf (vlan only with vf)")
            }
        }
        model = try container.decodeChoice(.model, what: "NIC model", allowed: NICModel.choices, NICModel.init(name:)) ?? .virtio
        mac = try container.decodeIfPresent(String.self, forKey: .mac)
        queues = try container.decodeIfPresent(Int.self, forKey: .queues) ?? 1
        filter = try container.decodeIfPresent(Bool.self, forKey: .filter)
        addresses = try container.decodeIfPresent([String].self, forKey: .ip) ?? []
        try decoder.checked { try validate() }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch attachment {
        case let .bridge(name): try container.encode(name, forKey: .bridge)
        case let .network(name): try container.encode(name, forKey: .network)
        case let .user(spec): try container.encode(spec, forKey: .user)
        case let .pci(address): try container.encode(address, forKey: .pci)
        case let .vf(spec):
            try container.encode(spec.text, forKey: .vf)
            try container.encodeIfPresent(spec.vlan, forKey: .vlan)
            try container.encodeIfPresent(mac, forKey: .mac)
            return
        }
        if case .pci = attachment { return }
        try container.encode(model, forKey: .model)
        try container.encodeIfPresent(mac, forKey: .mac)
        try container.encode(queues, forKey: .queues)
        try container.encodeIfPresent(filter, forKey: .filter)
        if !addresses.isEmpty { try container.encode(addresses, forKey: .ip) }
    }

    /// Parses the `--nic` syntax. `none` yields nil (no NIC at all).
    public static func parse(_ text: String) throws -> NICSpec? {
        if text == "none" { return nil }
        if UserNICSpec.isUserSpec(text) { return NICSpec(user: try UserNICSpec.parse(text)) }
        var bridge: String?, network: String?, model = NICModel.virtio, mac: String?, queues = 1
        var filter: Bool?, addresses: [String] = []
        var pci: String?, vf: VirtualFunctionNIC?, vlan: String?, given: [String] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pieces.count == 2, !pieces[1].isEmpty else {
                throw VMError.invalidValue(what: "--nic", value: text, allowed: "use bridge=BR or network=NAME, then [,model=virtio|e1000|e1000e|rtl8139][,mac=MAC][,queues=N][,filter=on|off][,ip=ADDR]; pci=ADDR; vf=PF:INDEX[,mac=MAC][,vlan=ID]; or none")
            }
            let value = String(pieces[1])
            given.append(String(pieces[0]))
            switch pieces[0] {
            case "pci": pci = value
            case "vf": vf = try VirtualFunctionNIC.parse(value)
            case "vlan": vlan = value
            case "bridge": bridge = value
            case "network": network = value
            case "model":
                guard let parsed = NICModel(name: value) else {
                    throw VMError.invalidValue(what: "NIC model", value: value, allowed: NICModel.choices)
                }
                model = parsed
            case "mac": mac = value
            case "queues":
                guard let count = Int(value), (1...16).contains(count) else {
                    throw VMError.invalidValue(what: "NIC queue count", value: value, allowed: "use 1 to 16")
                }
                queues = count
            case "filter":
                guard value == "on" || value == "off" else {
                    throw VMError.invalidValue(what: "NIC filter", value: value, allowed: "use filter=on or filter=off")
                }
                filter = value == "on"
            case "ip": addresses.append(value)
            default:
                throw VMError.invalidValue(what: "--nic key", value: String(pieces[0]), allowed: "use bridge, network, model, mac, queues, filter, ip, pci, vf or vlan")
            }
        }
        if pci != nil || vf != nil {
            // A passthrough NIC is the host's hardware: no model, queues or bridge port filter.
            let allowed: Set<String> = pci != nil ? ["pci"] : ["vf", "mac", "vlan"]
            if let extra = given.first(where: { !allowed.contains($0) }) {
                throw VMError.invalidValue(what: "--nic key", value: extra,
                                           allowed: pci != nil ? "pci= takes no other key (the guest sees the NIC itself)" : "vf= takes only mac= and vlan=")
            }
            var spec: NICSpec
            if let pci {
                spec = NICSpec(.pci(pci))
            } else {
                var function = vf!
                if let vlan {
                    guard let number = Int(vlan) else {
                        throw VMError.invalidValue(what: "VF VLAN", value: vlan, allowed: "use 1 to 4094")
                    }
                    function.vlan = number
                }
                spec = NICSpec(.vf(function), mac: mac)
            }
            try spec.validate()
            return spec
        }
        if let vlan { throw VMError.invalidValue(what: "--nic key", value: "vlan=\(vlan)", allowed: "vlan= goes with vf=PF:INDEX") }
        var spec = NICSpec(try .tap(bridge: bridge, network: network, text: text), model: model, mac: mac, queues: queues)
        spec.filter = filter
        spec.addresses = addresses
        try spec.validate()
        return spec
    }

    public func validate() throws {
        switch attachment {
        case let .user(user):
            try user.validate()
            return
        case let .bridge(bridge):
            if let problem = InterfaceName.problem(with: bridge) {
                throw VMError.invalidValue(what: "bridge name", value: bridge, allowed: problem)
            }
        case let .network(network):
            try NetworkNames.validate(network)
        case let .pci(address):
            guard PCIHostDevice.isAddress(address) else {
                throw VMError.invalidValue(what: "PCI address (pci=)", value: address, allowed: "use the full form DDDD:BB:DD.F, e.g. pci=0000:03:00.0 (see qnet pci list)")
            }
            if mac != nil {
                throw VMError.invalidValue(what: "MAC address", value: mac!, allowed: "a pci= NIC keeps its own MAC; set one on a vf= NIC instead")
            }
        case let .vf(function):
            try function.validate()
        }
        if let mac {
            guard let parsed = MACAddress(mac) else {
                throw VMError.invalidValue(what: "MAC address", value: mac, allowed: "use six hex pairs, e.g. 52:54:00:12:34:56")
            }
            guard parsed.isValidUnicast else {
                throw VMError.invalidValue(what: "MAC address", value: mac, allowed: "a NIC needs a unicast, non-zero address (even first byte)")
            }
        }
        guard (1...16).contains(queues) else {
            throw VMError.invalidValue(what: "NIC queue count", value: String(queues), allowed: "use 1 to 16")
        }
        if queues > 1 && model != .virtio {
            throw VMError.invalidValue(what: "NIC queue count", value: String(queues), allowed: "only virtio NICs have several queues")
        }
        for address in addresses {
            guard let parsed = IPAddress(address), !parsed.isMulticast, !parsed.isUnspecified, !parsed.isLoopback, !parsed.isLimitedBroadcast else {
                throw VMError.invalidValue(what: "NIC address (ip=)", value: address, allowed: "a unicast IPv4 or IPv6 address, e.g. ip=192.0.2.10")
            }
        }
        if !addresses.isEmpty && filter == false {
            throw VMError.invalidValue(what: "NIC address (ip=)", value: addresses[0], allowed: "ip= is what filter=on allows; drop it or use filter=on")
        }
    }
}

extension NICModel {
    /// What `model=` accepts, for error messages.
    static let choices = "use virtio, e1000, e1000e or rtl8139"
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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, memory, cpus, disks, cdrom, boot, nics, kernel, initrd, append, vnc, console, accel, user
        case extraArguments = "extra_args"
    }

    /// The YAML (and state.json) form: the keys above, no others. `name` may be left out of
    /// a file when the command line names the VM (`load(path:overrides:)` checks).
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
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
        accel = try container.decodeChoice(.accel, what: "accelerator") ?? .auto
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

/// Command-line values that replace a VM file's (`qnet vm run -f vm.yaml --memory 2G ...`);
/// nil or empty leaves the file's value (or the default) alone.
public struct VMOverrides: Equatable, Sendable {
    public var name: String?
    /// MiB.
    public var memory: Int?
    public var cpus: Int?
    public var disks: [String]
    public var cdrom: String?
    public var boot: String?
    /// `--nic` texts, in the `NICSpec.parse` syntax; `["none"]` means no NIC at all.
    public var nics: [String]
    public var kernel: String?
    public var initrd: String?
    public var append: String?
    public var vnc: Int?
    public var console: String?
    public var accel: Acceleration?
    public var user: String?
    public var extraArguments: [String]

    public init(name: String? = nil, memory: Int? = nil, cpus: Int? = nil, disks: [String] = [], cdrom: String? = nil,
                boot: String? = nil, nics: [String] = [], kernel: String? = nil, initrd: String? = nil, append: String? = nil,
                vnc: Int? = nil, console: String? = nil, accel: Acceleration? = nil, user: String? = nil,
                extraArguments: [String] = []) {
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
}

extension VMDefinition {
    /// The VM `qnet vm run` starts: the YAML file at `path` (strictly decoded: unknown keys,
    /// wrong types and bad values are refused with their key path), or only the command
    /// line when `path` is nil, with `overrides` applied and every value checked. Touches
    /// nothing but the file.
    public static func load(path: String?, overrides: VMOverrides) throws -> VMDefinition {
        var definition: VMDefinition
        if let path {
            definition = try DefinitionYAML.load(VMDefinition.self, path: path)
            if definition.name.isEmpty && overrides.name == nil {
                throw DefinitionFileError(file: path, problem: .missingKey(path: "name"))
            }
        } else {
            guard let name = overrides.name else {
                throw VMError.invalidValue(what: "VM name", value: "", allowed: "give the VM a name, or a YAML file with -f")
            }
            definition = VMDefinition(name: name)
        }
        try definition.apply(overrides)
        try definition.validate()
        return definition
    }

    /// This definition with `overrides` applied and every value checked (`qnet vm run NAME
    /// --declared`: the declared VM, with the command line's values over it).
    public func overridden(by overrides: VMOverrides) throws -> VMDefinition {
        var definition = self
        try definition.apply(overrides)
        try definition.validate()
        return definition
    }

    mutating func apply(_ overrides: VMOverrides) throws {
        if let value = overrides.name { name = value }
        if let value = overrides.memory { memory = value }
        if let value = overrides.cpus { cpus = value }
        if !overrides.disks.isEmpty { disks = overrides.disks }
        if let value = overrides.cdrom { cdrom = value }
        if let value = overrides.boot { boot = value }
        if !overrides.nics.isEmpty {
            let parsed = try overrides.nics.map(NICSpec.parse)
            if parsed.contains(where: { $0 == nil }) && parsed.count > 1 {
                throw VMError.invalidValue(what: "--nic", value: "none", allowed: "--nic none cannot be combined with other --nic options")
            }
            nics = parsed.compactMap { $0 }
        }
        if let value = overrides.kernel { kernel = value }
        if let value = overrides.initrd { initrd = value }
        if let value = overrides.append { append = value }
        if let value = overrides.vnc { vnc = value }
        if let value = overrides.console { console = value }
        if let value = overrides.accel { accel = value }
        if let value = overrides.user { user = value }
        if !overrides.extraArguments.isEmpty { extraArguments = overrides.extraArguments }
    }
}
