import CLinuxNet
import Netlink
import NetlinkWire
import QNetTypes
import SystemPackage

/// The host's network configuration, read and changed over rtnetlink. Verbs mirror
/// iproute2: each method's documentation names the `ip` command it replaces.
///
/// An instance is bound to one network namespace: the one the calling thread was in
/// when it was created, or the named one passed to ``init(namespace:)``.
public final class HostNetwork: @unchecked Sendable {
    public let connection: NetlinkConnection
    /// The namespace this instance acts in; nil for the caller's own.
    public let namespace: NetworkNamespace?

    /// Called with a step's name before each step of a multi-step transaction (the uplink
    /// move and its release). Tests make it throw at every step in turn to prove that
    /// each partial transaction is rolled back completely.
    public var stepCheckpoint: ((String) throws -> Void)?

    /// Opens the TUN side of a TAP: the /dev/net/tun ioctls that netlink cannot do (the
    /// kernel answers RTM_NEWLINK kind "tun" with EOPNOTSUPP). nil uses /dev/net/tun; tests
    /// substitute devices so that what TAP creation sends over netlink, and how it rolls
    /// back, can be checked without root.
    var tapOpener: ((TAPOptions) throws -> TAPDevice)?

    func checkpoint(_ step: String) throws {
        try stepCheckpoint?(step)
    }

    /// Opens a rtnetlink socket in `namespace` (or the caller's namespace when nil).
    /// Needs CAP_SYS_ADMIN to enter a namespace; CAP_NET_ADMIN there for changes.
    public init(namespace: NetworkNamespace? = nil) throws {
        self.namespace = namespace
        do {
            if let namespace {
                connection = try namespace.withEntered { try NetlinkConnection() }
            } else {
                connection = try NetlinkConnection()
            }
        } catch let error as NamespaceError {
            throw HostNetworkError.namespace(error)
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "opening a netlink socket", error)
        }
    }

    /// Uses an existing connection (tests pass one over a fake transport).
    public init(connection: NetlinkConnection, namespace: NetworkNamespace? = nil) {
        self.connection = connection
        self.namespace = namespace
    }

    /// Runs `body` inside this instance's namespace (for opening /dev/net/tun and sockets).
    func inNamespace<T>(_ body: () throws -> T) throws -> T {
        guard let namespace else { return try body() }
        do {
            return try namespace.withEntered(body)
        } catch let error as NamespaceError {
            throw HostNetworkError.namespace(error)
        }
    }

    // MARK: - Links

    /// Lists every interface. Equivalent to `ip -d link show`.
    public func links() throws -> [Link] {
        let messages = try perform("listing links") {
            try connection.dump(.getLink, payload: LinkMessage(attributes: [extendedInfoFilter]).encoded())
        }
        return try messages.filter { $0.header.type == .newLink }.map { Link(message: try decodeLink($0)) }
    }

    /// Lists the interfaces attached to `master` (a bridge's ports), asking the kernel to
    /// filter the dump (IFLA_MASTER in the request, honoured since Linux 4.16; the links are
    /// filtered here as well, for a kernel that ignores it). Equivalent to `ip -d link show master BR`.
    public func links(master: InterfaceIndex) throws -> [Link] {
        let messages = try perform("listing the links of master \(master)") {
            try connection.dump(.getLink, payload: LinkMessage(attributes: [.master(master), extendedInfoFilter]).encoded())
        }
        return try messages.filter { $0.header.type == .newLink }.map { Link(message: try decodeLink($0)) }
            .filter { $0.masterIndex == master }
    }

    /// Looks up one interface by name. Equivalent to `ip -d link show dev NAME`.
    public func link(named name: String) throws -> Link {
        try InterfaceName.validate(name)
        guard let link = try linkIfPresent(named: name) else { throw HostNetworkError.noSuchDevice(name) }
        return link
    }

    /// Looks up one interface by name, nil when there is none.
    public func linkIfPresent(named name: String) throws -> Link? {
        do {
            let replies = try connection.get(.getLink, payload: LinkMessage(attributes: [.name(name), extendedInfoFilter]).encoded())
            return try replies.first { $0.header.type == .newLink }.map { Link(message: try decodeLink($0)) }
        } catch let error as NetlinkError where error.errno == .operationNotSupportedByDevice {
            return nil
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "looking up '\(name)'", error)
        }
    }

    /// Looks up one interface by index. Equivalent to `ip link show` filtered by index.
    public func link(index: InterfaceIndex) throws -> Link? {
        do {
            let replies = try connection.get(.getLink, payload: LinkMessage(index: index, attributes: [extendedInfoFilter]).encoded())
            return try replies.first { $0.header.type == .newLink }.map { Link(message: try decodeLink($0)) }
        } catch let error as NetlinkError where error.errno == .operationNotSupportedByDevice {
            return nil
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "looking up interface \(index)", error)
        }
    }

    /// IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS keeps replies smaller: the kernel omits the
    /// per-family statistics and, without RTEXT_FILTER_VF, the per-VF data (asked for only by
    /// ``virtualFunctions(of:)``). Linux 6.18 still sends IFLA_STATS64 with every link:
    /// ``decodeLink(_:statistics:)`` skips it.
    private var extendedInfoFilter: LinkAttribute { .extendedFilter(.skipStatistics) }

    /// Decodes a link reply for ``Link``: only the attributes it reads (a dump of 500 bridge
    /// ports is about 760 KB, most of it per-family settings, counters and port timers), the
    /// counters only with `statistics` (``linkStatistics()``).
    func decodeLink(_ message: NetlinkMessage, statistics: Bool = false) throws -> LinkMessage {
        do { return try LinkMessage(decodingTypedOnly: message.payload, statistics: statistics) } catch let error as WireError {
            throw HostNetworkError.kernel(operation: "decoding a link", .malformedReply(error))
        }
    }

    /// Changes several properties of one link in a single RTM_NEWLINK, so the kernel
    /// applies them together. Equivalent to
    /// `ip link set dev NAME [up|down] [master BR|nomaster] [mtu N] [address MAC] [group G] [alias TEXT]`.
    /// Needs CAP_NET_ADMIN.
    public func setLink(_ name: String, _ change: LinkChange) throws {
        let link = try self.link(named: name)
        try setLink(index: link.index, name: name, change)
    }

    /// ``setLink(_:_:)`` for a link whose index is known.
    public func setLink(index: InterfaceIndex, name: String, _ change: LinkChange) throws {
        try perform("ip link set \(name)\(change.summary)") {
            try connection.execute(.newLink, payload: change.message(index: index).encoded())
        }
    }

    /// Equivalent to `ip link set dev NAME up`.
    public func setUp(_ name: String) throws { try setLink(name, LinkChange(up: true)) }
    /// Equivalent to `ip link set dev NAME down`.
    public func setDown(_ name: String) throws { try setLink(name, LinkChange(up: false)) }
    /// Equivalent to `ip link set dev NAME mtu N`.
    public func setMTU(_ name: String, _ mtu: UInt32) throws { try setLink(name, LinkChange(mtu: mtu)) }
    /// Equivalent to `ip link set dev NAME address MAC`.
    public func setMACAddress(_ name: String, _ mac: MACAddress) throws { try setLink(name, LinkChange(macAddress: mac)) }
    /// Equivalent to `ip link set dev NAME group N`.
    public func setGroup(_ name: String, _ group: UInt32) throws { try setLink(name, LinkChange(group: group)) }

    /// Equivalent to `ip link set dev PORT master BRIDGE` (`brctl addif BRIDGE PORT`), with
    /// the checks brctl leaves to the kernel made first and reported clearly.
    /// A port already on `bridge` is left as it is.
    public func setMaster(_ port: String, bridge: String) throws {
        try attach(port, to: bridge)
    }

    /// Equivalent to `ip link set dev PORT nomaster` (`brctl delif BRIDGE PORT`).
    public func unsetMaster(_ port: String, bridge: String? = nil) throws {
        let portLink = try self.link(named: port)
        if let bridge {
            let bridgeLink = try self.link(named: bridge)
            guard portLink.masterIndex == bridgeLink.index else { throw HostNetworkError.notAPort(port: port, bridge: bridge) }
        }
        try setLink(index: portLink.index, name: port, LinkChange(master: LinkChange.Master.none))
    }

    func checkAttachable(port: Link, bridge: Link) throws {
        guard bridge.isBridge else { throw HostNetworkError.notABridge(bridge.name, kind: bridge.kind) }
        if port.index == bridge.index { throw HostNetworkError.bridgeIntoItself(bridge.name) }
        if let master = port.masterIndex {
            if master == bridge.index { return }
            let masterName = try link(index: master)?.name ?? "interface \(master)"
            throw HostNetworkError.alreadyEnslaved(port: port.name, master: masterName)
        }
        if port.isBridge, bridge.masterIndex == port.index {
            throw HostNetworkError.bridgeIntoOwnPort(bridge: bridge.name, port: port.name)
        }
    }

    /// Deletes one link. Equivalent to `ip link delete dev NAME`. Needs CAP_NET_ADMIN.
    public func deleteLink(_ name: String) throws {
        let link = try self.link(named: name)
        try perform("ip link delete \(name)") {
            try connection.execute(.delLink, payload: LinkMessage(index: link.index).encoded())
        }
    }

    /// Deletes every link in an interface group with one request; the kernel unregisters
    /// them as one batch (one RCU grace period instead of one per device).
    /// Equivalent to `ip link delete group N`. Needs CAP_NET_ADMIN.
    public func deleteGroup(_ group: UInt32) throws {
        guard group != 0 else {
            throw HostNetworkError.invalidValue(what: "interface group", value: "0", allowed: "group 0 is the default group of every interface; use 1 to 4294967295")
        }
        try perform("ip link delete group \(group)") {
            try connection.execute(.delLink, payload: LinkMessage(attributes: [.group(group)]).encoded())
        }
    }

    /// Runs a netlink exchange and wraps its error with the operation's name.
    @discardableResult
    func perform<T>(_ operation: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: operation, error)
        }
    }
}

/// What ``HostNetwork/setLink(_:_:)`` changes; nil fields are left alone (not sent).
public struct LinkChange: Equatable, Sendable {
    public enum Master: Equatable, Sendable {
        case index(InterfaceIndex)
        /// `nomaster`: IFLA_MASTER = 0.
        case none
    }

    public var up: Bool?
    public var master: Master?
    public var mtu: UInt32?
    public var macAddress: MACAddress?
    public var group: UInt32?
    public var alias: String?
    public var bridgePort: BridgePortOptions?

    public init(up: Bool? = nil, master: Master? = nil, mtu: UInt32? = nil, macAddress: MACAddress? = nil,
                group: UInt32? = nil, alias: String? = nil, bridgePort: BridgePortOptions? = nil) {
        self.up = up
        self.master = master
        self.mtu = mtu
        self.macAddress = macAddress
        self.group = group
        self.alias = alias
        self.bridgePort = bridgePort
    }

    /// The RTM_NEWLINK body (no NLM_F_CREATE: it changes an existing link).
    public func message(index: InterfaceIndex) -> LinkMessage {
        var message = LinkMessage(index: index)
        if let up {
            message.change = .up
            message.flags = up ? .up : []
        }
        if let macAddress { message.attributes.append(.address(macAddress.bytes)) }
        if let mtu { message.attributes.append(.mtu(mtu)) }
        if let group { message.attributes.append(.group(group)) }
        if let alias { message.attributes.append(.alias(alias)) }
        switch master {
        case let .index(index)?: message.attributes.append(.master(index))
        case LinkChange.Master.none?: message.attributes.append(.master(0))
        case nil: break
        }
        if let bridgePort, !bridgePort.isEmpty {
            message.attributes.append(.linkInfo([.portKind(LinkKind.bridge.kernelName), .bridgePortData(bridgePort.attributes)]))
        }
        return message
    }

    var summary: String {
        var parts: [String] = []
        if let up { parts.append(up ? "up" : "down") }
        switch master {
        case let .index(index)?: parts.append("master \(index)")
        case LinkChange.Master.none?: parts.append("nomaster")
        case nil: break
        }
        if let mtu { parts.append("mtu \(mtu)") }
        if let macAddress { parts.append("address \(macAddress)") }
        if let group { parts.append("group \(group)") }
        if alias != nil { parts.append("alias") }
        if bridgePort != nil { parts.append("type bridge_slave ...") }
        return parts.isEmpty ? "" : " " + parts.joined(separator: " ")
    }
}
