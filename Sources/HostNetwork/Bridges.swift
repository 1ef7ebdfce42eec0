import Netlink
import NetlinkWire
import QNetSystem
import QNetTypes

/// Bridge options (`ip link add NAME type bridge ...`); nil fields are not sent, so the
/// kernel's value stays. Times are in seconds.
public struct BridgeOptions: Equatable, Sendable {
    public var stp: Bool?
    public var forwardDelay: Double?
    public var helloTime: Double?
    public var maxAge: Double?
    public var ageingTime: Double?
    public var priority: UInt16?
    public var vlanFiltering: Bool?

    public init(stp: Bool? = nil, forwardDelay: Double? = nil, helloTime: Double? = nil, maxAge: Double? = nil,
                ageingTime: Double? = nil, priority: UInt16? = nil, vlanFiltering: Bool? = nil) {
        self.stp = stp
        self.forwardDelay = forwardDelay
        self.helloTime = helloTime
        self.maxAge = maxAge
        self.ageingTime = ageingTime
        self.priority = priority
        self.vlanFiltering = vlanFiltering
    }

    /// qnet's defaults for a new bridge: STP off and no forward delay, so a guest's port
    /// forwards at once (the kernel's default forward_delay of 15 s outlasts many DHCP
    /// clients' first attempts when STP is later turned on).
    public static let safeDefaults = BridgeOptions(stp: false, forwardDelay: 0)

    /// These options with qnet's defaults for what they leave out: STP off, and the
    /// shortest forward delay the STP state allows (0 s without STP, the kernel's minimum
    /// of 2 s with it), so `--stp on` alone is valid.
    public var withSafeDefaults: BridgeOptions {
        let stp = stp ?? Self.safeDefaults.stp
        let forwardDelay = stp == true ? Self.stpForwardDelayRange.lowerBound : Self.safeDefaults.forwardDelay
        return overriding(BridgeOptions(stp: stp, forwardDelay: forwardDelay))
    }

    /// The forward delays (seconds) the kernel accepts while STP runs
    /// (BR_MIN_FORWARD_DELAY to BR_MAX_FORWARD_DELAY).
    public static let stpForwardDelayRange: ClosedRange<Double> = 2...30

    /// These options on top of `base` (fields set here win).
    public func overriding(_ base: BridgeOptions) -> BridgeOptions {
        BridgeOptions(stp: stp ?? base.stp, forwardDelay: forwardDelay ?? base.forwardDelay,
                      helloTime: helloTime ?? base.helloTime, maxAge: maxAge ?? base.maxAge,
                      ageingTime: ageingTime ?? base.ageingTime, priority: priority ?? base.priority,
                      vlanFiltering: vlanFiltering ?? base.vlanFiltering)
    }

    public var isEmpty: Bool { attributes.isEmpty }

    /// Kernel limits (br_stp_if.c / br_netlink.c): with STP on, forward_delay must be
    /// 2–30 s (``stpForwardDelayRange``), hello_time 1–10 s and max_age 6–40 s; without STP any forward_delay is kept
    /// but only 0–30 s is meaningful here.
    public func validate() throws {
        func check(_ what: String, _ value: Double?, _ range: ClosedRange<Double>, _ allowed: String) throws {
            guard let value else { return }
            guard value.isFinite, range.contains(value) else {
                throw HostNetworkError.invalidValue(what: what, value: formatSeconds(value, maximumDecimals: 6), allowed: allowed)
            }
        }
        try check("forward delay", forwardDelay, stp == true ? Self.stpForwardDelayRange : 0...30,
                  stp == true ? "with STP on the kernel needs 2 to 30 seconds" : "use 0 to 30 seconds")
        try check("hello time", helloTime, 1...10, "use 1 to 10 seconds")
        try check("max age", maxAge, 6...40, "use 6 to 40 seconds")
        try check("ageing time", ageingTime, 0...1_000_000, "use 0 to 1000000 seconds")
    }

    var attributes: [BridgeAttribute] {
        var result: [BridgeAttribute] = []
        let ticks = { (seconds: Double) in UInt32((seconds * bridgeTicksPerSecond).rounded()) }
        if let forwardDelay { result.append(.forwardDelay(ticks(forwardDelay))) }
        if let helloTime { result.append(.helloTime(ticks(helloTime))) }
        if let maxAge { result.append(.maxAge(ticks(maxAge))) }
        if let ageingTime { result.append(.ageingTime(ticks(ageingTime))) }
        if let stp { result.append(.stpState(stp ? 1 : 0)) }
        if let priority { result.append(.priority(priority)) }
        if let vlanFiltering { result.append(.vlanFiltering(vlanFiltering ? 1 : 0)) }
        return result
    }
}

/// Per-port options (`ip link set PORT type bridge_slave ...`, `bridge link set`).
public struct BridgePortOptions: Equatable, Sendable {
    public var cost: UInt32?
    public var priority: UInt16?
    public var isolated: Bool?
    public var learning: Bool?
    /// IFLA_BRPORT_UNICAST_FLOOD (`bridge link set ... flood on|off`): whether frames to
    /// a unicast MAC the bridge has not learnt are flooded to this port. Multicast
    /// (`mcast_flood`) and broadcast (`bcast_flood`) flooding are separate flags, left alone.
    public var unicastFlood: Bool?

    public init(cost: UInt32? = nil, priority: UInt16? = nil, isolated: Bool? = nil, learning: Bool? = nil, unicastFlood: Bool? = nil) {
        self.cost = cost
        self.priority = priority
        self.isolated = isolated
        self.learning = learning
        self.unicastFlood = unicastFlood
    }

    public var isEmpty: Bool { attributes.isEmpty }

    public func validate() throws {
        if let cost, cost == 0 || cost > 65535 {
            throw HostNetworkError.invalidValue(what: "port cost", value: String(cost), allowed: "use 1 to 65535")
        }
        if let priority, priority > 63 {
            throw HostNetworkError.invalidValue(what: "port priority", value: String(priority), allowed: "use 0 to 63")
        }
    }

    var attributes: [BridgePortAttribute] {
        var result: [BridgePortAttribute] = []
        if let cost { result.append(.cost(cost)) }
        if let priority { result.append(.priority(priority)) }
        if let isolated { result.append(.isolated(isolated ? 1 : 0)) }
        if let learning { result.append(.learning(learning ? 1 : 0)) }
        if let unicastFlood { result.append(.unicastFlood(unicastFlood ? 1 : 0)) }
        return result
    }
}

extension HostNetwork {
    /// Creates a bridge. Equivalent to
    /// `ip link add NAME [address MAC] [mtu N] type bridge stp_state 0 forward_delay 0 ...`
    /// (`brctl addbr NAME`) followed by `ip link set NAME up` when `up` is true — in one
    /// request. Options not given take qnet's ``BridgeOptions/safeDefaults``.
    /// Needs CAP_NET_ADMIN.
    public func createBridge(_ name: String, options: BridgeOptions = BridgeOptions(), mtu: UInt32? = nil,
                             macAddress: MACAddress? = nil, up: Bool = true, alias: String? = nil) throws {
        try InterfaceName.validate(name)
        let effective = options.withSafeDefaults
        try effective.validate()
        if let mtu { try validateMTU(mtu) }
        if try linkIfPresent(named: name) != nil { throw HostNetworkError.alreadyExists(name) }
        var message = LinkMessage(flags: up ? .up : [], change: up ? .up : [], attributes: [.name(name)])
        // Kernel quirk: a bridge whose MAC was not set explicitly takes the lowest MAC of
        // its ports, so it would change as guests come and go (and with one TAP it becomes
        // the TAP's). An explicit MAC (addr_assign_type NET_ADDR_SET) pins it, as libvirt does.
        message.attributes.append(.address((macAddress ?? randomBridgeMACAddress()).bytes))
        if let mtu { message.attributes.append(.mtu(mtu)) }
        message.attributes.append(.linkInfo([.kind(LinkKind.bridge.kernelName), .bridgeData(effective.attributes)]))
        do {
            try connection.execute(.newLink, flags: [.create, .exclusive], payload: message.encoded())
        } catch let error as NetlinkError where error.errno == .fileExists {
            throw HostNetworkError.alreadyExists(name)
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "ip link add \(name) type bridge" + vlanHint(effective, error), error)
        }
        // Kernel quirk: RTM_NEWLINK ignores IFLA_IFALIAS when creating a link (only
        // changes honour it), so the alias is a second request.
        if let alias {
            do {
                let link = try self.link(named: name)
                try setLink(index: link.index, name: name, LinkChange(alias: alias))
            } catch {
                try? deleteLink(name)
                throw error
            }
        }
    }

    /// Changes a bridge's options. Equivalent to `ip link set NAME type bridge ...`
    /// (`brctl stp`, `brctl setfd`, ...). Needs CAP_NET_ADMIN.
    public func setBridge(_ name: String, options: BridgeOptions) throws {
        let link = try bridge(named: name)
        // qnet checks forward_delay against the STP state the bridge will have.
        var checked = options
        if checked.stp == nil { checked.stp = link.bridge?.stpEnabled }
        try checked.validate()
        guard !options.isEmpty else { return }
        // Kernel quirk: br_changelink applies IFLA_BR_FORWARD_DELAY before
        // IFLA_BR_STP_STATE, whatever their order in the request, and checks the delay
        // against the STP state the bridge has *then*: while STP runs it must be 2-30 s
        // (ERANGE otherwise). So `--stp off --forward-delay 0` on a bridge running STP takes
        // two requests: STP off first, then the rest (undone if the second fails).
        // Turning STP on needs one: the delay is set while STP is still off, then STP
        // starts.
        let stpRunning = link.bridge?.stpEnabled == true
        guard options.stp == false, stpRunning, let delay = options.forwardDelay,
              !BridgeOptions.stpForwardDelayRange.contains(delay) else {
            try changeBridge(link, options)
            return
        }
        try changeBridge(link, BridgeOptions(stp: false))
        var rest = options
        rest.stp = nil
        do {
            try changeBridge(link, rest)
        } catch {
            do { try changeBridge(link, BridgeOptions(stp: true)) } catch let undoError {
                throw RolledBackError(underlying: error, rollbackFailures: ["turn STP back on for \(name): \(undoError)"])
            }
            throw error
        }
    }

    /// One `ip link set NAME type bridge ...` request.
    private func changeBridge(_ link: Link, _ options: BridgeOptions) throws {
        var message = LinkMessage(index: link.index)
        message.attributes.append(.linkInfo([.kind(LinkKind.bridge.kernelName), .bridgeData(options.attributes)]))
        do {
            try connection.execute(.newLink, payload: message.encoded())
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "ip link set \(link.name) type bridge" + vlanHint(options, error), error)
        }
    }

    /// Looks up a bridge by name; throws ``HostNetworkError/notABridge(_:kind:)`` when the
    /// interface is of another kind. Equivalent to `ip -d link show dev NAME type bridge`.
    public func bridge(named name: String) throws -> Link {
        let link = try self.link(named: name)
        guard link.isBridge else { throw HostNetworkError.notABridge(name, kind: link.kind) }
        return link
    }

    /// Changes a bridge port's options. Equivalent to
    /// `ip link set PORT type bridge_slave cost N priority N isolated on|off learning on|off flood on|off`
    /// (`flood` is unknown unicast only).
    public func setBridgePort(_ port: String, options: BridgePortOptions) throws {
        try options.validate()
        let link = try self.link(named: port)
        guard link.masterIndex != nil, link.port != nil else {
            throw HostNetworkError.invalidValue(what: "bridge port", value: port, allowed: "it is not attached to a bridge; attach it first with `qnet bridge attach`")
        }
        try setLink(index: link.index, name: port, LinkChange(bridgePort: options))
    }

    /// Attaches an interface to a bridge with port options. Equivalent to `ip link set dev
    /// PORT master BRIDGE` then `ip link set dev PORT type bridge_slave cost N ...`
    /// (`brctl addif`, `brctl setpathcost`), with the checks of ``setMaster(_:bridge:)``.
    /// If the options are refused, a port this call attached is detached again (one that
    /// was already the bridge's port stays). Needs CAP_NET_ADMIN.
    public func attach(_ port: String, to bridge: String, options: BridgePortOptions = BridgePortOptions()) throws {
        try options.validate()
        let bridgeLink = try self.link(named: bridge)
        let portLink = try self.link(named: port)
        try checkAttachable(port: portLink, bridge: bridgeLink)
        let wasPort = portLink.masterIndex == bridgeLink.index
        if !wasPort {
            try setLink(index: portLink.index, name: port, LinkChange(master: .index(bridgeLink.index)))
        }
        guard !options.isEmpty else { return }
        // Kernel quirk: rtnl_newlink applies IFLA_INFO_SLAVE_DATA through the port's
        // current master before do_setlink sets IFLA_MASTER, so port options cannot travel
        // with the master (EOPNOTSUPP for a port joining now): a second request.
        do {
            try setLink(index: portLink.index, name: port, LinkChange(bridgePort: options))
        } catch {
            guard !wasPort else { throw error }
            do { try setLink(index: portLink.index, name: port, LinkChange(master: LinkChange.Master.none)) } catch let undoError {
                throw RolledBackError(underlying: error, rollbackFailures: ["detach \(port) from \(bridge): \(undoError)"])
            }
            throw error
        }
    }

    /// The interfaces attached to `bridge`, in index order. Equivalent to
    /// `ip link show master BRIDGE` / `bridge link show`.
    public func ports(of bridge: Link, in links: [Link]) -> [Link] {
        links.filter { $0.masterIndex == bridge.index }.sorted { $0.index < $1.index }
    }

    /// EOPNOTSUPP for vlan_filtering means the kernel was built without it.
    private func vlanHint(_ options: BridgeOptions, _ error: NetlinkError) -> String {
        options.vlanFiltering == true && error.errno == .notSupportedOnSocket
            ? " vlan_filtering 1 (this kernel lacks CONFIG_BRIDGE_VLAN_FILTERING)" : ""
    }

    /// Rejects MTUs outside Ethernet's 68 (IPv4 minimum) to 65535 bytes.
    public func validateMTU(_ mtu: UInt32) throws {
        guard (68...65535).contains(mtu) else {
            throw HostNetworkError.invalidValue(what: "MTU", value: String(mtu), allowed: "use 68 to 65535 bytes")
        }
    }
}

/// A random MAC for a new bridge: QEMU/libvirt's 52:54:00 prefix and 24 random bits.
public func randomBridgeMACAddress() -> MACAddress {
    var generator = SystemRandomNumberGenerator()
    return MACAddress(bytes: [0x52, 0x54, 0x00] + (0..<3).map { _ in UInt8.random(in: 0...255, using: &generator) })!
}
