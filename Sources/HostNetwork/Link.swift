import CLinuxNet
import NetlinkWire
import QNetTypes

/// One network interface as the kernel reports it (`ip -d link show`).
public struct Link: Equatable, Sendable {
    public var index: InterfaceIndex
    public var name: String
    /// IFLA_INFO_KIND: bridge, tun, veth, ...; nil for physical devices and lo.
    public var kind: LinkKind?
    public var macAddress: MACAddress?
    public var mtu: UInt32
    public var operState: OperState
    public var flags: InterfaceFlags
    /// The index of the bridge (or other master) this interface is attached to.
    public var masterIndex: InterfaceIndex?
    public var group: UInt32
    public var alias: String?
    /// IFLA_CARRIER (false when the kernel did not say).
    public var hasCarrier: Bool
    /// Bridge settings when `kind == .bridge`.
    public var bridge: BridgeSettings?
    /// Bridge port settings when this interface is a bridge port.
    public var port: BridgePortSettings?
    /// TUN/TAP settings when `kind == .tun`.
    public var tun: TunSettings?
    /// IFLA_STATS64 counters; nil unless read with ``HostNetwork/linkStatistics()``.
    public var statistics: LinkStatistics64?
    /// IFLA_LINK: a veth's peer (or a VLAN's parent); in another namespace when
    /// ``peerNamespaceID`` is set (`ip link` prints `veth0@if7 ... link-netnsid 0`).
    public var lowerIndex: InterfaceIndex?
    /// IFLA_LINK_NETNSID: the namespace of the lower device, as this namespace numbers it.
    public var peerNamespaceID: Int32?
    /// VXLAN settings when `kind == .vxlan`.
    public var vxlan: VXLANSettings?

    public var isUp: Bool { flags.contains(.up) }
    public var isBridge: Bool { kind == .bridge }
    /// A TAP (layer 2) device, not a TUN (layer 3) one: the kernel names both "tun" and
    /// tells them apart in IFLA_TUN_TYPE.
    public var isTAP: Bool { kind == .tun && tun?.isTAP == true }
    public var isLoopback: Bool { flags.contains(.loopback) }

    /// How many queues of a TUN/TAP device processes hold open (nil for other links);
    /// `ip -d link show` prints `numqueues` and `numdisabled` for multi-queue devices only.
    ///
    /// Kernel quirks: IFLA_TUN_NUM_QUEUES is sent only for IFF_MULTI_QUEUE devices and counts
    /// only enabled queues (QEMU detaches a virtio NIC's extra queues with TUNSETQUEUE until
    /// the guest's driver turns multiqueue on; IFLA_TUN_NUM_DISABLED_QUEUES counts those). A
    /// single-queue device has carrier exactly while a descriptor is attached (tun_attach
    /// turns it on, the last detach off), unless a process turned it off with TUNSETCARRIER.
    public var openQueues: UInt32? {
        guard let tun else { return nil }
        return tun.multiQueue ? tun.queues + tun.disabledQueues : (hasCarrier ? 1 : 0)
    }

    /// Reads the message's attributes in one pass, each field from the first attribute of
    /// its type, as `LinkMessage`'s accessors answer (one scan per accessor cost `qnet show`
    /// of 500 ports 3 M instructions).
    public init(message: LinkMessage) {
        var name: String?, mtu: UInt32?, master: InterfaceIndex?, group: UInt32?, hardwareAddress: [UInt8]?
        var operState: OperState?, alias: String?, carrier: Bool?, statistics: LinkStatistics64?
        var lower: InterfaceIndex?, namespaceID: Int32?, linkInfo: [LinkInfoAttribute]?
        for attribute in message.attributes {
            switch attribute {
            case let .name(value): if name == nil { name = value }
            case let .mtu(value): if mtu == nil { mtu = value }
            case let .master(value): if master == nil { master = value }
            case let .group(value): if group == nil { group = value }
            case let .address(value): if hardwareAddress == nil { hardwareAddress = value }
            case let .operState(value): if operState == nil { operState = OperState(rawValue: value) ?? .unknown }
            case let .alias(value): if alias == nil { alias = value }
            case let .carrier(value): if carrier == nil { carrier = value != 0 }
            case let .statistics64(value): if statistics == nil { statistics = value }
            case let .link(value): if lower == nil { lower = value }
            case let .linkInfo(value): if linkInfo == nil { linkInfo = value }
            case let .unknown(raw) where raw.type == UInt16(IFLA_LINK_NETNSID):
                if namespaceID == nil, let value = message.linkNamespaceID { namespaceID = value }
            default: break
            }
        }
        var kindName: String?, portKindName: String?
        var bridgeData: [BridgeAttribute]?, portData: [BridgePortAttribute]?, tunData: [TunAttribute]?, vxlanData: [VXLANAttribute]?
        for entry in linkInfo ?? [] {
            switch entry {
            case let .kind(value): if kindName == nil { kindName = value }
            case let .portKind(value): if portKindName == nil { portKindName = value }
            case let .bridgeData(value): if bridgeData == nil { bridgeData = value }
            case let .bridgePortData(value): if portData == nil { portData = value }
            case let .tunData(value): if tunData == nil { tunData = value }
            case let .vxlanData(value): if vxlanData == nil { vxlanData = value }
            case .unknown: break
            }
        }
        index = message.index
        self.name = name ?? "if\(message.index)"
        kind = kindName.map(LinkKind.init(kernelName:))
        macAddress = hardwareAddress.flatMap(MACAddress.init(bytes:))
        self.mtu = mtu ?? 0
        self.operState = operState ?? .unknown
        flags = message.flags
        masterIndex = master.flatMap { $0 == 0 ? nil : $0 }
        self.group = group ?? 0
        self.alias = alias
        hasCarrier = carrier ?? false
        bridge = kind == .bridge ? BridgeSettings(attributes: bridgeData ?? []) : nil
        // IFLA_INFO_SLAVE_KIND names the master's kind.
        port = portKindName.map(LinkKind.init(kernelName:)) == .bridge ? BridgePortSettings(attributes: portData ?? []) : nil
        tun = kind == .tun ? TunSettings(attributes: tunData ?? []) : nil
        self.statistics = statistics
        lowerIndex = lower.flatMap { $0 == 0 ? nil : $0 }
        peerNamespaceID = namespaceID
        vxlan = kind == .vxlan ? VXLANSettings(attributes: vxlanData ?? []) : nil
    }
}

/// The kernel's clock_t unit for bridge timers: USER_HZ = 100 ticks per second.
let bridgeTicksPerSecond = 100.0

/// A bridge's settings (`ip -d link show type bridge`). Times are in seconds.
public struct BridgeSettings: Equatable, Sendable {
    public var stpEnabled: Bool = false
    public var forwardDelay: Double = 0
    public var helloTime: Double = 0
    public var maxAge: Double = 0
    public var ageingTime: Double = 0
    public var priority: UInt16 = 0
    public var vlanFiltering: Bool = false
    /// `brctl show`'s bridge id: priority in hex, a dot, the MAC without colons (8000.525400123456).
    public var bridgeID: String = ""

    public init(attributes: [BridgeAttribute]) {
        for attribute in attributes {
            switch attribute {
            case let .stpState(value): stpEnabled = value != 0
            case let .forwardDelay(value): forwardDelay = Double(value) / bridgeTicksPerSecond
            case let .helloTime(value): helloTime = Double(value) / bridgeTicksPerSecond
            case let .maxAge(value): maxAge = Double(value) / bridgeTicksPerSecond
            case let .ageingTime(value): ageingTime = Double(value) / bridgeTicksPerSecond
            case let .priority(value): priority = value
            case let .vlanFiltering(value): vlanFiltering = value != 0
            case let .bridgeID(priority, address):
                // Two hex digits per byte, appended by hand: `[String].joined()` made the runtime
                // look up String's StringProtocol conformance on first use, which in the static
                // binary scans every conformance record (0.3 M instructions, callgrind).
                let digits: [UInt8] = Array("0123456789abcdef".utf8)
                var text: [UInt8] = []
                text.reserveCapacity(5 + 2 * address.count)
                for (position, byte) in ([UInt8(priority >> 8), UInt8(priority & 0xff)] + address).enumerated() {
                    if position == 2 { text.append(UInt8(ascii: ".")) }
                    text.append(digits[Int(byte >> 4)])
                    text.append(digits[Int(byte & 0x0f)])
                }
                bridgeID = String(decoding: text, as: UTF8.self)
            default: break
            }
        }
    }
}

/// STP port states (BR_STATE_* in <linux/if_bridge.h>).
public enum BridgePortState: UInt8, Sendable, CustomStringConvertible {
    case disabled = 0, listening, learning, forwarding, blocking
    public var description: String {
        switch self {
        case .disabled: "disabled"
        case .listening: "listening"
        case .learning: "learning"
        case .forwarding: "forwarding"
        case .blocking: "blocking"
        }
    }
}

/// A bridge port's settings (`ip -d link show` of a port, `bridge link`).
public struct BridgePortSettings: Equatable, Sendable {
    public var state: BridgePortState = .disabled
    public var cost: UInt32 = 0
    public var priority: UInt16 = 0
    public var learning: Bool = true
    public var unicastFlood: Bool = true
    public var isolated: Bool = false

    public init(attributes: [BridgePortAttribute]) {
        for attribute in attributes {
            switch attribute {
            case let .state(value): state = BridgePortState(rawValue: value) ?? .disabled
            case let .cost(value): cost = value
            case let .priority(value): priority = value
            case let .learning(value): learning = value != 0
            case let .unicastFlood(value): unicastFlood = value != 0
            case let .isolated(value): isolated = value != 0
            default: break
            }
        }
    }
}

/// A TUN/TAP device's settings (`ip -d tuntap show`).
public struct TunSettings: Equatable, Sendable {
    public var isTAP = false
    public var owner: UInt32?
    public var group: UInt32?
    public var vnetHeader = false
    public var persistent = false
    public var multiQueue = false
    /// IFLA_TUN_NUM_QUEUES: enabled queues (multi-queue devices only; see `Link.openQueues`).
    public var queues: UInt32 = 0
    /// IFLA_TUN_NUM_DISABLED_QUEUES: queues attached but disabled with TUNSETQUEUE.
    public var disabledQueues: UInt32 = 0

    public init(attributes: [TunAttribute]) {
        for attribute in attributes {
            switch attribute {
            case let .type(value): isTAP = value == UInt8(IFF_TAP)
            // The kernel reports "no owner" as (uid_t)-1.
            case let .owner(value): owner = value == UInt32.max ? nil : value
            case let .group(value): group = value == UInt32.max ? nil : value
            case let .vnetHeader(value): vnetHeader = value != 0
            case let .persist(value): persistent = value != 0
            case let .multiQueue(value): multiQueue = value != 0
            case let .queueCount(value): queues = value
            case let .disabledQueueCount(value): disabledQueues = value
            default: break
            }
        }
    }
}

/// A VXLAN device's settings (`ip -d link show type vxlan`).
public struct VXLANSettings: Equatable, Sendable {
    public var vni: UInt32?
    /// The unicast remote or multicast group; nil when peers come from the FDB only.
    public var remote: IPAddress?
    public var local: IPAddress?
    /// The underlay device's index (`dev eth0`).
    public var underlayIndex: InterfaceIndex?
    public var port: UInt16?
    /// Whether the device learns remote MACs from received packets (`ip -d` prints `nolearning` when not).
    public var learning: Bool?

    public init(attributes: [VXLANAttribute]) {
        for attribute in attributes {
            switch attribute {
            case let .id(value): vni = value
            case let .group(address): remote = address
            case let .local(address): local = address
            case let .link(index): underlayIndex = index == 0 ? nil : index
            case let .port(value): port = value
            case let .learning(value): learning = value != 0
            case .unknown: break
            }
        }
    }
}
