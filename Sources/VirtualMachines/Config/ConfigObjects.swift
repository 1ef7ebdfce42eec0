import HostNetwork
import QNetTypes
import Yams

/// Where a bridge's addresses come from: its own list, or whatever its uplink has ("keep
/// the uplink's": the transactional uplink move carries them over, secondaries and routes
/// included).
public enum BridgeAddressing: Equatable, Sendable {
    case keepUplink
    case list([IPPrefix])
}

/// A route through a bridge (`ip route add TO [via GW] dev BRIDGE [metric N] [table T]`).
public struct RouteConfig: Codable, Equatable, Sendable {
    /// `default` or a prefix.
    public var to: IPPrefix?
    public var via: IPAddress?
    public var metric: UInt32?
    public var table: UInt32?

    public init(to: IPPrefix?, via: IPAddress? = nil, metric: UInt32? = nil, table: UInt32? = nil) {
        self.to = to
        self.via = via
        self.metric = metric
        self.table = table
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case to, via, metric, table }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let destination = try container.decodeChoice(.to, what: "route destination", allowed: "use default or ADDRESS/PREFIXLEN") { text in
            text == "default" ? .some(IPPrefix?.none) : IPPrefix(text).map { .some($0) }
        }
        guard let destination else {
            throw DecodingError.keyNotFound(CodingKeys.to, .init(codingPath: decoder.codingPath, debugDescription: "to"))
        }
        to = destination
        via = try container.decodeChoice(.via, what: "gateway", allowed: "use an IPv4 or IPv6 address", IPAddress.init)
        metric = try container.decodeIfPresent(UInt32.self, forKey: .metric)
        table = try container.decodeIfPresent(UInt32.self, forKey: .table)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(to?.description ?? "default", forKey: .to)
        try container.encodeIfPresent(via?.description, forKey: .via)
        try container.encodeIfPresent(metric, forKey: .metric)
        try container.encodeIfPresent(table, forKey: .table)
    }

    /// The kernel route through the interface with index `index`.
    public func route(outputIndex index: InterfaceIndex? = nil) -> Route {
        let family = to?.address.family ?? via?.family ?? .inet
        let destination = to ?? IPPrefix(address: family == .inet ? IPAddress("0.0.0.0")! : IPAddress("::")!, length: 0)
        var route = Route(destination: destination, gateway: via, outputIndex: index, metric: metric)
        if let table { route.table = table }
        return route
    }
}

/// A bridge as declared in CONFIG_DIR/bridges/NAME.yaml.
public struct BridgeConfig: Codable, Equatable, Sendable {
    public var name: String
    /// STP and its timers, priority, VLAN filtering (nil: not declared).
    public var options: BridgeOptions
    public var mtu: UInt32?
    public var mac: MACAddress?
    public var uplink: String?
    public var addressing: BridgeAddressing
    public var routes: [RouteConfig]

    public init(name: String, options: BridgeOptions = BridgeOptions(), mtu: UInt32? = nil,
                mac: MACAddress? = nil, uplink: String? = nil, addressing: BridgeAddressing? = nil, routes: [RouteConfig] = []) {
        self.name = name
        self.options = options
        self.mtu = mtu
        self.mac = mac
        self.uplink = uplink
        self.addressing = addressing ?? (uplink == nil ? .list([]) : .keepUplink)
        self.routes = routes
    }

    // The options' fields by the names of the file's keys.
    public var stp: Bool? { get { options.stp } set { options.stp = newValue } }
    public var forwardDelay: Double? { get { options.forwardDelay } set { options.forwardDelay = newValue } }
    public var helloTime: Double? { get { options.helloTime } set { options.helloTime = newValue } }
    public var maxAge: Double? { get { options.maxAge } set { options.maxAge = newValue } }
    public var ageingTime: Double? { get { options.ageingTime } set { options.ageingTime = newValue } }
    public var priority: UInt16? { get { options.priority } set { options.priority = newValue } }
    public var vlanFiltering: Bool? { get { options.vlanFiltering } set { options.vlanFiltering = newValue } }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, stp
        case forwardDelay = "forward_delay", helloTime = "hello_time", maxAge = "max_age", ageingTime = "ageing_time"
        case priority
        case vlanFiltering = "vlan_filtering"
        case mtu, mac, uplink, addresses, routes
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        options = BridgeOptions(stp: try container.decodeIfPresent(Bool.self, forKey: .stp),
                                forwardDelay: try container.decodeIfPresent(Double.self, forKey: .forwardDelay),
                                helloTime: try container.decodeIfPresent(Double.self, forKey: .helloTime),
                                maxAge: try container.decodeIfPresent(Double.self, forKey: .maxAge),
                                ageingTime: try container.decodeIfPresent(Double.self, forKey: .ageingTime),
                                priority: try container.decodeIfPresent(UInt16.self, forKey: .priority),
                                vlanFiltering: try container.decodeIfPresent(Bool.self, forKey: .vlanFiltering))
        mtu = try container.decodeIfPresent(UInt32.self, forKey: .mtu)
        mac = try container.decodeChoice(.mac, what: "MAC address", allowed: "use six hex bytes, e.g. 52:54:00:12:34:56") { text in
            MACAddress(text).flatMap { $0.isValidUnicast ? $0 : nil }
        }
        uplink = try container.decodeIfPresent(String.self, forKey: .uplink)
        if let keep = try? container.decodeIfPresent(String.self, forKey: .addresses) {
            guard keep == "keep" else {
                throw LocatedProblem(container.codingPath + [CodingKeys.addresses]) {
                    .invalidValue(path: $0, what: "addresses", value: keep, allowed: "use keep (the uplink's) or a list of ADDRESS/PREFIXLEN")
                }
            }
            guard uplink != nil else {
                throw LocatedProblem(container.codingPath + [CodingKeys.addresses]) {
                    .invalidValue(path: $0, what: "addresses", value: keep, allowed: "keep needs an uplink; list the addresses instead")
                }
            }
            addressing = .keepUplink
        } else if let texts = try container.decodeIfPresent([String].self, forKey: .addresses) {
            var prefixes: [IPPrefix] = []
            for (position, text) in texts.enumerated() {
                guard let prefix = IPPrefix(text), text.contains("/"), !prefix.address.isMulticast, !prefix.address.isUnspecified else {
                    throw LocatedProblem(container.codingPath + [CodingKeys.addresses, ListIndexKey(position)]) {
                        .invalidValue(path: $0, what: "address", value: text, allowed: "use a unicast ADDRESS/PREFIXLEN, e.g. 192.168.1.10/24")
                    }
                }
                prefixes.append(prefix)
            }
            addressing = .list(prefixes)
        } else {
            addressing = uplink == nil ? .list([]) : .keepUplink
        }
        routes = try container.decodeIfPresent([RouteConfig].self, forKey: .routes) ?? []
        try decoder.checkedBridge { try options.withSafeDefaults.validate() }
        if let mtu {
            guard (68...65535).contains(mtu) else {
                throw LocatedProblem(decoder.codingPath + [CodingKeys.mtu]) { .invalidValue(path: $0, what: "MTU", value: String(mtu), allowed: "use 68 to 65535 bytes") }
            }
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(stp, forKey: .stp)
        try container.encodeSeconds(forwardDelay, forKey: .forwardDelay)
        try container.encodeSeconds(helloTime, forKey: .helloTime)
        try container.encodeSeconds(maxAge, forKey: .maxAge)
        try container.encodeSeconds(ageingTime, forKey: .ageingTime)
        try container.encodeIfPresent(priority, forKey: .priority)
        try container.encodeIfPresent(vlanFiltering, forKey: .vlanFiltering)
        try container.encodeIfPresent(mtu, forKey: .mtu)
        try container.encodeIfPresent(mac?.description, forKey: .mac)
        try container.encodeIfPresent(uplink, forKey: .uplink)
        switch addressing {
        case .keepUplink: try container.encode("keep", forKey: .addresses)
        // An empty list is written only for a bridge with an uplink, where leaving it out
        // would read back as `keep` (found by FuzzImporters: an ifcfg bridge whose only
        // address was unusable came back keeping its uplink's addresses).
        case let .list(prefixes):
            if !prefixes.isEmpty || uplink != nil { try container.encode(prefixes.map(\.description), forKey: .addresses) }
        }
        if !routes.isEmpty { try container.encode(routes, forKey: .routes) }
    }
}

/// A persistent TAP as declared in CONFIG_DIR/taps/NAME.yaml (`qnet tap create`).
public struct TapConfig: Codable, Equatable, Sendable {
    public var name: String
    public var bridge: String?
    public var owner: String?
    public var group: String?
    public var vnetHeader: Bool
    public var queues: Int
    public var mtu: UInt32?

    public init(name: String, bridge: String? = nil, owner: String? = nil, group: String? = nil, vnetHeader: Bool = false,
                queues: Int = 1, mtu: UInt32? = nil) {
        self.name = name
        self.bridge = bridge
        self.owner = owner
        self.group = group
        self.vnetHeader = vnetHeader
        self.queues = queues
        self.mtu = mtu
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, bridge, owner, group
        case vnetHeader = "vnet_hdr"
        case queues, mtu
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        bridge = try container.decodeIfPresent(String.self, forKey: .bridge)
        owner = try container.decodeIfPresent(String.self, forKey: .owner)
        group = try container.decodeIfPresent(String.self, forKey: .group)
        vnetHeader = try container.decodeIfPresent(Bool.self, forKey: .vnetHeader) ?? false
        queues = try container.decodeIfPresent(Int.self, forKey: .queues) ?? 1
        mtu = try container.decodeIfPresent(UInt32.self, forKey: .mtu)
        guard (1...TAPOptions.maximumQueues).contains(queues) else {
            throw LocatedProblem(decoder.codingPath + [CodingKeys.queues]) {
                .invalidValue(path: $0, what: "queue count", value: String(queues), allowed: "use 1 to \(TAPOptions.maximumQueues)")
            }
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(bridge, forKey: .bridge)
        try container.encodeIfPresent(owner, forKey: .owner)
        try container.encodeIfPresent(group, forKey: .group)
        if vnetHeader { try container.encode(true, forKey: .vnetHeader) }
        if queues != 1 { try container.encode(queues, forKey: .queues) }
        try container.encodeIfPresent(mtu, forKey: .mtu)
    }
}

/// A named network as declared in CONFIG_DIR/networks/NAME.yaml: the stored definition's
/// keys (see `NetworkDefinition`) plus `autostart`.
public struct NetworkConfig: Equatable, Sendable {
    public var definition: NetworkDefinition
    public var autostart: Bool

    public init(definition: NetworkDefinition, autostart: Bool) {
        self.definition = definition
        self.autostart = autostart
    }
}

/// A VM as declared in CONFIG_DIR/vms/NAME.yaml: `qnet vm run -f` keys plus `autostart`.
public struct VMConfig: Equatable, Sendable {
    public var definition: VMDefinition
    public var autostart: Bool

    public init(definition: VMDefinition, autostart: Bool) {
        self.definition = definition
        self.autostart = autostart
    }
}

extension Decoder {
    /// Runs a HostNetwork check (bridge options) and reports its refusal at this path.
    func checkedBridge(_ body: () throws -> Void) throws {
        do { try body() } catch let HostNetworkError.invalidValue(what, value, allowed) {
            let key: String = switch what {
            case "forward delay": "forward_delay"
            case "hello time": "hello_time"
            case "max age": "max_age"
            case "ageing time": "ageing_time"
            default: what
            }
            throw LocatedProblem(codingPath + [ListKey(key)]) { .invalidValue(path: $0, what: what, value: value, allowed: allowed) }
        }
    }
}

extension KeyedEncodingContainer {
    /// Seconds as written by people: 2, not 2.0 or 2e+0 (a whole number is encoded as one).
    mutating func encodeSeconds(_ value: Double?, forKey key: Key) throws {
        guard let value else { return }
        if value == value.rounded(), abs(value) < 1e9 { try encode(Int(value), forKey: key) } else { try encode(value, forKey: key) }
    }
}

/// A mapping key by name, for key paths.
struct ListKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
