import Glibc
import HostNetwork
import Netlink
import NetlinkTestSupport
import NetlinkWire
import QNetTypes
import Testing

/// A small rtnetlink kernel for HostNetwork's verbs (tier 2: no root, no namespace).
///
/// It keeps links, addresses and routes, answers lookups and dumps from them, applies
/// changes, and can answer request number `failure.step` (1-based; every request
/// message counts, lookups included) with an NLMSG_ERROR instead — optionally after
/// applying part of it, as the real do_setlink does. Every request HostNetwork sends is
/// recorded by the underlying ``FakeTransport``.
final class FakeKernel {
    struct Device {
        var index: InterfaceIndex
        var name: String
        var kind: String?
        var mtu: UInt32 = 1500
        var mac: [UInt8]
        var master: InterfaceIndex = 0
        var flags: InterfaceFlags = [.broadcast, .multicast]
        var group: UInt32 = 0
        var alias: String?
        /// IFLA_TUN_TYPE for kind "tun": IFF_TAP or IFF_TUN.
        var tunType: UInt8?
        /// IFLA_INFO_DATA for kind "bridge".
        var bridgeData: [BridgeAttribute]?

        var message: LinkMessage {
            var attributes: [LinkAttribute] = [.name(name), .mtu(mtu), .address(mac), .group(group)]
            if master != 0 { attributes.append(.master(master)) }
            if let alias { attributes.append(.alias(alias)) }
            var info: [LinkInfoAttribute] = []
            if let kind { info.append(.kind(kind)) }
            if let tunType { info.append(.tunData([.type(tunType)])) }
            if let bridgeData { info.append(.bridgeData(bridgeData)) }
            if !info.isEmpty { attributes.append(.linkInfo(info)) }
            return LinkMessage(deviceType: 1, index: index, flags: flags, attributes: attributes)
        }
    }

    static let port: UInt32 = 4242

    var links: [Device]
    var addresses: [AddressMessage]
    var routes: [RouteMessage]
    /// Answer this request with -errno instead of carrying it out.
    var failure: (step: Int, errno: Int32)?
    /// What the failing request had already changed before the kernel refused the rest.
    var partiallyApplied: ((inout Device) -> Void)?
    private(set) var step = 0
    /// Indexes for new links, as the kernel hands them out: after the highest in use.
    private var nextIndex: UInt32

    private(set) var transport: FakeTransport!
    private(set) var host: HostNetwork!

    init(links: [Device], addresses: [AddressMessage] = [], routes: [RouteMessage] = []) {
        self.links = links
        self.addresses = addresses
        self.routes = routes
        nextIndex = (links.map(\.index).max() ?? 0).rawValue + 1
        transport = FakeTransport(portID: Self.port) { [unowned self] requests, _ in
            requests.flatMap { self.answer($0) }
        }
        host = HostNetwork(connection: NetlinkConnection(transport: transport, firstSequence: 1))
    }

    /// Every request message HostNetwork sent, in order.
    var requests: [NetlinkMessage] { transport.sentMessages }

    func device(_ name: String) -> Device? { links.first { $0.name == name } }

    // MARK: answering

    private func answer(_ request: NetlinkMessage) -> [[UInt8]] {
        step += 1
        if let failure, failure.step == step {
            if let partiallyApplied, let index = try? LinkMessage(payload: request.payload).index,
               let slot = links.firstIndex(where: { $0.index == index }) {
                partiallyApplied(&links[slot])
            }
            return [Kernel.datagram(Kernel.error(-failure.errno, request, port: Self.port))]
        }
        let isDump = request.header.flags.contains(.dump)
        switch request.header.type {
        case .getLink where isDump:
            return dump(request, links.map { ($0.message.encoded(), MessageType.newLink) })
        case .getLink:
            guard let query = try? LinkMessage(payload: request.payload),
                  let found = links.first(where: { query.index != 0 ? $0.index == query.index : $0.name == query.name }) else {
                return refuse(request, ENODEV)
            }
            let reply = NetlinkMessage(type: .newLink, flags: [], sequence: request.header.sequence, portID: Self.port,
                                       payload: found.message.encoded())
            return [Kernel.datagram(reply), ack(request)]
        case .getAddress:
            let family = (try? AddressMessage(payload: request.payload))?.family ?? .unspecified
            return dump(request, addresses.filter { family == .unspecified || $0.family == family }.map { ($0.encoded(), .newAddress) })
        case .getRoute:
            let family = (try? RouteMessage(payload: request.payload))?.family ?? .unspecified
            return dump(request, routes.filter { $0.family == family }.map { ($0.encoded(), .newRoute) })
        case .newLink:
            guard let change = try? LinkMessage(payload: request.payload) else { return refuse(request, EINVAL) }
            if request.header.flags.contains(.create) { return create(request, change) }
            guard let slot = links.firstIndex(where: { $0.index == change.index }) else { return refuse(request, ENODEV) }
            apply(change, to: &links[slot])
            return [ack(request)]
        case .delLink:
            guard let change = try? LinkMessage(payload: request.payload) else { return refuse(request, EINVAL) }
            if change.index != 0 {
                guard links.contains(where: { $0.index == change.index }) else { return refuse(request, ENODEV) }
                // Like the kernel: the device's addresses and routes go with it, and its
                // ports are detached.
                links.removeAll { $0.index == change.index }
                addresses.removeAll { $0.index == change.index }
                routes.removeAll { $0.outputInterface == change.index }
                for slot in links.indices where links[slot].master == change.index { links[slot].master = 0 }
            } else if let group = change.group {
                links.removeAll { $0.group == group }
            }
            return [ack(request)]
        case .newAddress:
            guard let address = try? AddressMessage(payload: request.payload) else { return refuse(request, EINVAL) }
            if addresses.contains(where: { $0.index == address.index && $0.prefix == address.prefix }) { return refuse(request, EEXIST) }
            addresses.append(address)
            return [ack(request)]
        case .delAddress:
            guard let address = try? AddressMessage(payload: request.payload) else { return refuse(request, EINVAL) }
            guard addresses.contains(where: { $0.index == address.index && $0.prefix == address.prefix }) else {
                return refuse(request, EADDRNOTAVAIL)
            }
            addresses.removeAll { $0.index == address.index && $0.prefix == address.prefix }
            return [ack(request)]
        case .newRoute:
            guard let route = try? RouteMessage(payload: request.payload) else { return refuse(request, EINVAL) }
            // IPv4's rule: one route per destination, table and metric (EEXIST with NLM_F_EXCL).
            if routes.contains(where: { $0.family == route.family && $0.destination == route.destination
                && $0.destinationLength == route.destinationLength && $0.fullTable == route.fullTable && $0.priority == route.priority }) {
                return refuse(request, EEXIST)
            }
            routes.append(route)
            return [ack(request)]
        case .delRoute:
            guard let route = try? RouteMessage(payload: request.payload) else { return refuse(request, EINVAL) }
            let matches = { (candidate: RouteMessage) in
                candidate.gateway == route.gateway && candidate.outputInterface == route.outputInterface && candidate.destination == route.destination
            }
            guard routes.contains(where: matches) else { return refuse(request, ESRCH) }
            routes.removeAll(where: matches)
            return [ack(request)]
        default:
            return refuse(request, EOPNOTSUPP)
        }
    }

    private func create(_ request: NetlinkMessage, _ message: LinkMessage) -> [[UInt8]] {
        guard let name = message.name else { return refuse(request, EINVAL) }
        if links.contains(where: { $0.name == name }) { return refuse(request, EEXIST) }
        defer { nextIndex += 1 }
        var device = Device(index: InterfaceIndex(nextIndex), name: name, kind: message.kind, mac: message.hardwareAddress ?? [2, 0, 0, 0, 0, 1])
        apply(message, to: &device)
        links.append(device)
        return [ack(request)]
    }

    private func apply(_ change: LinkMessage, to device: inout Device) {
        if let mac = change.hardwareAddress { device.mac = mac }
        if let mtu = change.mtu { device.mtu = mtu }
        if let group = change.group { device.group = group }
        if let alias = change.alias { device.alias = alias }
        if let master = change.masterIndex { device.master = master }
        if let data = change.linkInfo.lazy.compactMap({ if case let .bridgeData(data) = $0 { data } else { nil } }).first {
            var merged = device.bridgeData ?? []
            for attribute in data {
                merged.removeAll { $0.raw.rawType == attribute.raw.rawType }
                merged.append(attribute)
            }
            device.bridgeData = merged
        }
        device.flags = device.flags.subtracting(change.change).union(change.flags.intersection(change.change))
    }

    /// Links, addresses and routes as comparable lines, to check that a rollback left the
    /// kernel as it found it.
    var state: [String] {
        links.map { "link \($0.index) \($0.name) mtu \($0.mtu) mac \($0.mac) master \($0.master) flags \($0.flags.rawValue) group \($0.group) alias \($0.alias ?? "-") bridge \($0.bridgeData.map { $0.map { "\($0)" }.sorted() } ?? [])" }.sorted()
            + addresses.map { "address \($0.index) \($0.prefix.map { "\($0)" } ?? "?")" }.sorted()
            + routes.map { "route \($0.destination.map { "\($0)" } ?? "default")/\($0.destinationLength) via \($0.gateway.map { "\($0)" } ?? "-") dev \($0.outputInterface ?? 0) metric \($0.priority ?? 0)" }.sorted()
    }

    private func dump(_ request: NetlinkMessage, _ objects: [([UInt8], MessageType)]) -> [[UInt8]] {
        let messages = objects.map { payload, type in
            NetlinkMessage(type: type, flags: .multipart, sequence: request.header.sequence, portID: Self.port, payload: payload)
        }
        return [Kernel.datagram(messages + [Kernel.done(sequence: request.header.sequence, port: Self.port)])]
    }

    private func ack(_ request: NetlinkMessage) -> [UInt8] { Kernel.datagram(Kernel.ack(request, port: Self.port)) }

    private func refuse(_ request: NetlinkMessage, _ errno: Int32) -> [[UInt8]] {
        [Kernel.datagram(Kernel.error(-errno, request, port: Self.port))]
    }
}

/// One request HostNetwork is expected to send: its bytes as hex, with the sequence number
/// written as 00000000 (sequence numbers are checked on their own: 1, 2, 3, ...).
struct ExpectedRequest: CustomStringConvertible {
    let description: String
    let bytes: [UInt8]

    init(_ description: String, _ bytes: [UInt8]) {
        self.description = description
        self.bytes = bytes
    }
}

/// Checks `sent` against `expected` byte for byte, sequence numbers aside, and that the
/// sequence numbers count up from `firstSequence` by one.
func expectRequests(_ sent: [NetlinkMessage], _ expected: [ExpectedRequest], firstSequence: UInt32 = 1,
                    _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(sent.map(\.header.sequence) == (0..<UInt32(sent.count)).map { firstSequence + $0 },
            "\(comment) sequence numbers", sourceLocation: sourceLocation)
    let actual = sent.map { message -> [UInt8] in
        var header = message.header
        header.sequence = 0
        return NetlinkMessage(header: header, payload: message.payload).encoded()
    }
    #expect(actual.count == expected.count,
            "\(comment) sent \(actual.count) requests, expected \(expected.count): \(expected.map(\.description))",
            sourceLocation: sourceLocation)
    for (index, (bytes, request)) in zip(actual, expected).enumerated() {
        #expect(hexString(bytes) == hexString(request.bytes), "\(comment) request \(index + 1): \(request)",
                sourceLocation: sourceLocation)
    }
}
