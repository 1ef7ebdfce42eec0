import NetlinkWire
import QEMU
import QNetSystem

/// Why a user-mode NIC cannot be set up; one line each, naming the bad value and what is allowed.
public enum UserModeError: UserFacingError, Equatable {
    /// A `hostfwd=` value that does not parse.
    case invalidForward(value: String, problem: String)
    /// Any other bad `--nic user` value.
    case invalidValue(what: String, value: String, allowed: String)
    /// Two forwards of one VM listen on the same host port.
    case duplicateForward(first: String, second: String, port: UInt16, protocol: String)
    /// Another socket already holds the host port (EADDRINUSE).
    case portInUse(protocol: String, port: UInt16, address: String)
    /// The host port cannot be bound for another reason (address not on this host,
    /// privileged port for an unprivileged user, ...).
    case portUnavailable(protocol: String, port: UInt16, address: String, reason: String)
    case passtNotInstalled
    /// passt could not be started at all (exec failed, bad socket path, ...).
    case passtStartFailed(String)
    /// passt exited before its socket was ready; `output` is what it printed.
    case passtExited(status: String, output: String)
    /// passt ran but its socket did not appear in time.
    case passtTimeout(socketPath: String, seconds: Double, output: String)

    public var isUsageError: Bool {
        switch self {
        case .invalidForward, .invalidValue, .duplicateForward: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .invalidForward(value, problem):
            "invalid hostfwd '\(value)': \(problem); use \(HostForward.syntax)"
        case let .invalidValue(what, value, allowed):
            "invalid \(what) '\(value)': \(allowed)"
        case let .duplicateForward(first, second, port, proto):
            "hostfwd '\(first)' and '\(second)' both listen on \(proto) port \(port) of the host; give each forward its own host port"
        case let .portInUse(proto, port, address):
            "\(proto) port \(port) on \(address) is in use; stop what listens there (ss -\(proto == "tcp" ? "t" : "u")lnp 'sport = :\(port)') or pick another host port"
        case let .portUnavailable(proto, port, address, reason):
            "\(proto) port \(port) on \(address) cannot be bound: \(reason)"
        case .passtNotInstalled:
            "passt is not installed (no passt on PATH); install it: apt-get install passt, or use backend=slirp"
        case let .passtStartFailed(reason):
            "cannot start passt: \(reason)"
        case let .passtExited(status, output):
            "passt exited at once (\(status))" + (output.isEmpty ? "" : ": " + output)
        case let .passtTimeout(socketPath, seconds, output):
            // passt 2023-03 logs "UNIX domain socket bound" even when the bind failed.
            "passt did not create its socket \(socketPath) within \(seconds) s (is its directory writable by passt's user?)" + (output.isEmpty ? "" : ": " + output)
        }
    }
}

/// QEMU's `hostfwd=` syntax, parsed into the QEMU target's `PortForward` and rendered back.
///
/// `hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT`, as in
/// `qemu-system-x86_64 -netdev user,id=n0,hostfwd=tcp::8080-:80`. An empty protocol means
/// tcp (QEMU's rule), an empty HOSTADDR every host address, an empty GUESTADDR the guest's
/// DHCP address. IPv6 host addresses are written in brackets (`tcp:[::1]:8080-:80`); only
/// the passt backend can use them (QEMU 7.2's slirp forwards IPv4 only).
/// Pure: no socket is opened; whether the port is free is `PortAvailability`'s job.
public enum HostForward {
    /// The accepted syntax, for error messages.
    public static let syntax = "hostfwd=tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT with ports 1-65535, e.g. hostfwd=tcp::8080-:80 or hostfwd=udp:127.0.0.1:5353-:53"

    /// Parses one forward; a leading `hostfwd=` is accepted and ignored.
    public static func parse(_ text: String) throws -> PortForward {
        let value = text.hasPrefix("hostfwd=") ? String(text.dropFirst("hostfwd=".count)) : text
        func bad(_ problem: String) -> UserModeError { .invalidForward(value: value, problem: problem) }

        guard let firstColon = value.firstIndex(of: ":") else {
            throw bad("no ':' after the protocol")
        }
        let protocolText = value[..<firstColon].lowercased()
        let transport: PortForward.TransportProtocol
        switch protocolText {
        case "", "tcp": transport = .tcp
        case "udp": transport = .udp
        default: throw bad("protocol '\(protocolText)' is not tcp or udp")
        }
        let sides = value[value.index(after: firstColon)...]
        // IPv6 addresses have no '-', so the first '-' separates the host and guest sides.
        guard let dash = sides.firstIndex(of: "-") else {
            throw bad("no '-' between the host side and the guest side")
        }
        let host = try endpoint(sides[..<dash], side: "host", bad)
        let guest = try endpoint(sides[sides.index(after: dash)...], side: "guest", bad)
        return PortForward(transport, hostAddress: host.address, hostPort: host.port,
                           guestAddress: guest.address, guestPort: guest.port)
    }

    /// `ADDR:PORT`, `[V6ADDR]:PORT` or `:PORT`.
    private static func endpoint(_ text: Substring, side: String, _ bad: (String) -> UserModeError) throws -> (address: IPAddress?, port: UInt16) {
        guard let colon = text.lastIndex(of: ":") else {
            throw bad("the \(side) side '\(text)' has no ':' before its port")
        }
        var addressText = text[..<colon]
        let portText = text[text.index(after: colon)...]
        if addressText.hasPrefix("[") && addressText.hasSuffix("]") && addressText.count >= 2 {
            addressText = addressText.dropFirst().dropLast()
            guard addressText.contains(":") else { throw bad("\(side) address '[\(addressText)]': brackets are for IPv6 addresses") }
        } else if addressText.contains(":") {
            throw bad("\(side) address '\(addressText)': write IPv6 addresses in brackets, e.g. [::1]:8080")
        }
        var address: IPAddress?
        if !addressText.isEmpty {
            guard let parsed = IPAddress(String(addressText)) else {
                throw bad("\(side) address '\(addressText)' is not an IP address")
            }
            address = parsed
        }
        guard !portText.isEmpty else { throw bad("the \(side) port is missing") }
        guard portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), portText.count <= 5, let port = Int(portText) else {
            throw bad("\(side) port '\(portText)' is not a number")
        }
        guard (1...65535).contains(port) else {
            throw bad("\(side) port \(port) is out of range")
        }
        return (address, UInt16(port))
    }

    /// Renders a forward back into the `hostfwd=` value (without the `hostfwd=` key):
    /// `tcp::8080-:80`, `udp:127.0.0.1:5353-:53`, `tcp:[::1]:8080-:80`.
    public static func render(_ forward: PortForward) -> String {
        func address(_ value: IPAddress?) -> String {
            guard let value else { return "" }
            return value.isIPv4 ? value.description : "[\(value.description)]"
        }
        return "\(forward.transportProtocol.rawValue):\(address(forward.hostAddress)):\(forward.hostPort)-\(address(forward.guestAddress)):\(forward.guestPort)"
    }
}

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
                throw UserModeError.passtStartFailed("no passt socket for this NIC (start passt first)")
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
    enum CodingKeys: String, CodingKey { case backend, hostfwd, restrict, model, mac }

    /// YAML form: `{backend: passt, hostfwd: ["tcp::8080-:80"], restrict: false, model: virtio, mac: ...}`;
    /// every key is optional.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        backend = try container.decodeIfPresent(UserBackend.self, forKey: .backend) ?? .slirp
        let texts = try container.decodeIfPresent([String].self, forKey: .hostfwd) ?? []
        do {
            forwards = try texts.map(HostForward.parse)
        } catch let error as UserModeError {
            throw DecodingError.dataCorruptedError(forKey: .hostfwd, in: container, debugDescription: error.description)
        }
        restrict = try container.decodeIfPresent(Bool.self, forKey: .restrict) ?? false
        model = try container.decodeIfPresent(NICModel.self, forKey: .model) ?? .virtio
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
