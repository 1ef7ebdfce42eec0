import QEMU
import QNetTypes

/// Which program provides a user-mode NIC.
public enum UserBackend: String, Codable, Equatable, Sendable, CaseIterable {
    /// QEMU's built-in libslirp: `-netdev user,...`. Nothing else runs; IPv4 forwards only.
    case slirp
    /// passt, started and supervised by qnet, connected over a UNIX socket:
    /// `-netdev stream,server=off,addr.type=unix,addr.path=SOCK`. Faster than slirp, the
    /// guest gets the host's own address and gateway.
    case passt
}

/// A user-mode NIC: `--nic user[,backend=slirp|passt][,hostfwd=...]...[,restrict=on|off][,model=..][,mac=..]`.
///
/// Equivalent to QEMU's `-nic user,hostfwd=...` (slirp), or to running `passt -t/-u ...`
/// and `-netdev stream` (passt). Neither backend needs any privilege.
public struct UserNICSpec: Equatable, Sendable {
    public var backend: UserBackend
    public var forwards: [PortForward]
    /// slirp's `restrict=on`: the guest reaches neither the host nor the outside; forwards
    /// still work. passt has no such mode (refused by `validate()`).
    public var restrict: Bool
    public var model: NICModel
    public var mac: String?

    public init(backend: UserBackend = .slirp, forwards: [PortForward] = [], restrict: Bool = false,
                model: NICModel = .virtio, mac: String? = nil) {
        self.backend = backend
        self.forwards = forwards
        self.restrict = restrict
        self.model = model
        self.mac = mac
    }

    static let syntax = "use user[,backend=slirp|passt][,hostfwd=tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...[,restrict=on|off][,model=virtio|e1000|e1000e|rtl8139][,mac=MAC]"

    /// Whether `text` asks for a user-mode NIC (`user` or `user,...`), so a `--nic` parser
    /// can dispatch here before trying `bridge=`.
    public static func isUserSpec(_ text: String) -> Bool {
        text == "user" || text.hasPrefix("user,")
    }

    /// Parses the whole `--nic user,...` value; throws `UserModeError` naming the bad part.
    public static func parse(_ text: String) throws -> UserNICSpec {
        guard isUserSpec(text) else {
            throw UserModeError.invalidValue(what: "--nic", value: text, allowed: syntax)
        }
        var spec = UserNICSpec()
        var seen: Set<Substring> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false).dropFirst() {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pieces.count == 2, !pieces[1].isEmpty else {
                throw UserModeError.invalidValue(what: "--nic user option", value: String(part), allowed: "write KEY=VALUE; " + syntax)
            }
            let key = pieces[0], value = String(pieces[1])
            if key != "hostfwd" {
                guard seen.insert(key).inserted else {
                    throw UserModeError.invalidValue(what: "--nic user option", value: String(part), allowed: "'\(key)' may be given once")
                }
            }
            switch key {
            case "backend":
                guard let backend = UserBackend(rawValue: value) else {
                    throw UserModeError.invalidValue(what: "user-mode backend", value: value, allowed: "use slirp or passt")
                }
                spec.backend = backend
            case "hostfwd":
                spec.forwards.append(try HostForward.parse(value))
            case "restrict":
                switch value {
                case "on", "yes", "true": spec.restrict = true
                case "off", "no", "false": spec.restrict = false
                default: throw UserModeError.invalidValue(what: "restrict", value: value, allowed: "use on or off")
                }
            case "model":
                guard let model = NICModel(name: value) else {
                    throw UserModeError.invalidValue(what: "NIC model", value: value, allowed: "use virtio, e1000, e1000e or rtl8139")
                }
                spec.model = model
            case "mac":
                spec.mac = value
            default:
                throw UserModeError.invalidValue(what: "--nic user key", value: String(key),
                                                 allowed: "use backend, hostfwd, restrict, model or mac")
            }
        }
        try spec.validate()
        return spec
    }

    /// Checks what each backend can do and that no two forwards share a host port.
    public func validate() throws {
        if let mac {
            guard let parsed = MACAddress(mac) else {
                throw UserModeError.invalidValue(what: "MAC address", value: mac, allowed: "use six hex pairs, e.g. 52:54:00:12:34:56")
            }
            guard parsed.isValidUnicast else {
                throw UserModeError.invalidValue(what: "MAC address", value: mac, allowed: "a NIC needs a unicast, non-zero address (even first byte)")
            }
        }
        for forward in forwards {
            let text = HostForward.render(forward)
            switch backend {
            case .slirp:
                // QEMU 7.2's libslirp binds and forwards IPv4 only.
                for address in [forward.hostAddress, forward.guestAddress].compactMap({ $0 }) where !address.isIPv4 {
                    throw UserModeError.invalidForward(value: text, problem: "slirp forwards IPv4 only; use an IPv4 address or backend=passt")
                }
            case .passt:
                // passt always delivers to the guest's own address (the host's, by default).
                if forward.guestAddress != nil {
                    throw UserModeError.invalidForward(value: text, problem: "passt forwards to the guest's own address; leave GUESTADDR empty")
                }
            }
        }
        if restrict && backend == .passt {
            throw UserModeError.invalidValue(what: "restrict", value: "on", allowed: "passt has no restricted mode; use backend=slirp with restrict=on")
        }
        try PortAvailability.checkDuplicates(forwards)
    }

    /// The canonical `--nic` text; parsing it gives this value back.
    public var specText: String {
        var parts = ["user"]
        if backend != .slirp { parts.append("backend=\(backend.rawValue)") }
        parts += forwards.map { "hostfwd=\(HostForward.render($0))" }
        if restrict { parts.append("restrict=on") }
        if model != .virtio { parts.append("model=\(model.rawValue)") }
        if let mac { parts.append("mac=\(mac)") }
        return parts.joined(separator: ",")
    }

    /// QEMU's host side of this NIC. slirp: `-netdev user,id=ID[,restrict=on][,hostfwd=...]`;
    /// passt: `-netdev stream,id=ID,server=off,addr.type=unix,addr.path=SOCKET` (pass the
    /// socket of the passt started for this NIC).
    public func networkBackend(passtSocket: String?) throws -> NetworkBackend {
        switch backend {
        case .slirp:
            return .user(UserNetwork(restrict: restrict, portForwards: forwards))
        case .passt:
            guard let passtSocket else {
                throw UserModeError.passtNotStarted
            }
            return .stream(socketPath: passtSocket)
        }
    }

    /// The whole NIC for `QEMUCommandLine.networkInterfaces`.
    public func networkInterface(id: String, mac: MACAddress?, passtSocket: String? = nil) throws -> NetworkInterface {
        NetworkInterface(id: id, backend: try networkBackend(passtSocket: passtSocket), model: model, macAddress: mac)
    }
}

extension UserNICSpec: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable { case backend, hostfwd, restrict, model, mac }

    /// YAML form: `{backend: passt, hostfwd: ["tcp::8080-:80"], restrict: false, model: virtio, mac: ...}`;
    /// every key is optional, no other key is allowed.
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        backend = try container.decodeChoice(.backend, what: "user-mode backend") ?? .slirp
        let texts = try container.decodeIfPresent([String].self, forKey: .hostfwd) ?? []
        forwards = try texts.enumerated().map { index, text in
            try decoder.checked(at: [CodingKeys.hostfwd, ListIndexKey(index)]) { try HostForward.parse(text) }
        }
        restrict = try container.decodeIfPresent(Bool.self, forKey: .restrict) ?? false
        model = try container.decodeChoice(.model, what: "NIC model", allowed: NICModel.choices, NICModel.init(name:)) ?? .virtio
        mac = try container.decodeIfPresent(String.self, forKey: .mac)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(backend, forKey: .backend)
        if !forwards.isEmpty { try container.encode(forwards.map(HostForward.render), forKey: .hostfwd) }
        if restrict { try container.encode(true, forKey: .restrict) }
        try container.encode(model, forKey: .model)
        try container.encodeIfPresent(mac, forKey: .mac)
    }
}
