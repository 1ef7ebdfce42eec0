import Netlink
import NetlinkWire
import QNetSystem
import QNetTypes

/// IFLA_VF_LINK_STATE_*: `ip link set PF vf N state auto|enable|disable` (the wire type, for callers above HostNetwork).
public typealias VFLinkState = NetlinkWire.VFLinkState

/// The tag protocol of a VF's VLAN: `ip link set PF vf N vlan ID proto 802.1Q|802.1ad`.
public enum VLANProtocol: String, Codable, Sendable, CaseIterable {
    /// ETH_P_8021Q: a customer tag (ip's default).
    case ieee8021Q = "802.1Q"
    /// ETH_P_8021AD: a service tag (QinQ).
    case ieee8021AD = "802.1ad"

    init?(etherType: UInt16) {
        switch etherType {
        case VFVLANInfo.proto8021Q: self = .ieee8021Q
        case VFVLANInfo.proto8021AD: self = .ieee8021AD
        default: return nil
        }
    }

    var etherType: UInt16 { self == .ieee8021Q ? VFVLANInfo.proto8021Q : VFVLANInfo.proto8021AD }
}

/// A VF's VLAN: id 0 turns VLAN insertion and filtering off.
public struct VFVLAN: Equatable, Codable, Sendable {
    /// 0-4095.
    public var id: UInt32
    /// The 802.1p priority, 0-7.
    public var qos: UInt32
    public var proto: VLANProtocol

    public init(id: UInt32, qos: UInt32 = 0, proto: VLANProtocol = .ieee8021Q) {
        self.id = id
        self.qos = qos
        self.proto = proto
    }

    public static let idRange: ClosedRange<UInt32> = 0...4095
    public static let qosRange: ClosedRange<UInt32> = 0...7
}

/// A VF's transmit rate limits in Mbit/s; 0 means no limit.
public struct VFRate: Equatable, Codable, Sendable {
    public var minimum: UInt32
    public var maximum: UInt32

    public init(minimum: UInt32, maximum: UInt32) {
        self.minimum = minimum
        self.maximum = maximum
    }
}

/// One SR-IOV virtual function's settings as its PF reports them (`ip link show PF`:
/// `vf 0 link/ether 52:54:00:12:34:56, vlan 10, qos 3, spoof checking on, link-state auto, trust off`).
/// Settings the driver does not report stay nil.
public struct VFSettings: Equatable, Sendable {
    public var index: UInt32
    public var macAddress: MACAddress?
    public var vlan: VFVLAN?
    public var rate: VFRate?
    public var spoofCheck: Bool?
    public var linkState: VFLinkState?
    public var trust: Bool?
    /// IFLA_VF_RSS_QUERY_EN (`query_rss`).
    public var rssQuery: Bool?

    public init(index: UInt32, macAddress: MACAddress? = nil, vlan: VFVLAN? = nil, rate: VFRate? = nil, spoofCheck: Bool? = nil,
                linkState: VFLinkState? = nil, trust: Bool? = nil, rssQuery: Bool? = nil) {
        self.index = index
        self.macAddress = macAddress
        self.vlan = vlan
        self.rate = rate
        self.spoofCheck = spoofCheck
        self.linkState = linkState
        self.trust = trust
        self.rssQuery = rssQuery
    }

    /// Reads one IFLA_VF_INFO nest; nil when it names no VF (no fixed-size attribute).
    public init?(attributes: [VFAttribute]) {
        var index: UInt32?
        var legacyRate: UInt32?
        self.init(index: 0)
        for attribute in attributes {
            switch attribute {
            case let .mac(vf, address):
                index = vf
                macAddress = MACAddress(bytes: Array(address.prefix(6)))
            case let .vlan(vf, id, qos):
                index = vf
                // IFLA_VF_VLAN_LIST, when present, also says the protocol; it wins below.
                if vlan == nil { vlan = VFVLAN(id: id, qos: qos) }
            case let .vlanList(entries):
                for case let .info(info) in entries {
                    index = info.vf
                    vlan = VFVLAN(id: info.vlan, qos: info.qos, proto: VLANProtocol(etherType: info.proto) ?? .ieee8021Q)
                }
            case let .txRate(vf, value):
                index = vf
                legacyRate = value
            case let .rate(vf, minimum, maximum):
                index = vf
                rate = VFRate(minimum: minimum, maximum: maximum)
            case let .spoofCheck(vf, setting):
                index = vf
                spoofCheck = Self.flag(setting)
            case let .linkState(vf, state):
                index = vf
                linkState = VFLinkState(rawValue: state)
            case let .rssQuery(vf, setting):
                index = vf
                rssQuery = Self.flag(setting)
            case let .trust(vf, setting):
                index = vf
                trust = Self.flag(setting)
            case .statistics, .unknown:
                break
            }
        }
        guard let index else { return nil }
        self.index = index
        // Kernel quirk: a driver without min/max rates reports only the legacy IFLA_VF_TX_RATE (the maximum).
        if rate == nil, let legacyRate { rate = VFRate(minimum: 0, maximum: legacyRate) }
    }

    /// Kernel quirk: a driver that does not implement a setting reports it as (u32)-1
    /// (rtnl_fill_vfinfo presets spoofchk, trust and rss_query_en to -1); that is "unknown", not "on".
    private static func flag(_ setting: UInt32) -> Bool? {
        setting == UInt32.max ? nil : setting != 0
    }

    /// The settings as `ip link show` prints a VF line (without its indentation).
    public var summary: String {
        var parts = ["vf \(index) link/ether \(macAddress?.description ?? "00:00:00:00:00:00")"]
        if let vlan, vlan.id != 0 {
            parts.append("vlan \(vlan.id)")
            if vlan.qos != 0 { parts.append("qos \(vlan.qos)") }
            if vlan.proto != .ieee8021Q { parts.append("vlan protocol \(vlan.proto.rawValue)") }
        }
        if let rate {
            if rate.maximum != 0 { parts.append("max_tx_rate \(rate.maximum)Mbps") }
            if rate.minimum != 0 { parts.append("min_tx_rate \(rate.minimum)Mbps") }
        }
        if let spoofCheck { parts.append("spoof checking \(spoofCheck ? "on" : "off")") }
        if let linkState { parts.append("link-state \(linkState)") }
        if let trust { parts.append("trust \(trust ? "on" : "off")") }
        if let rssQuery { parts.append("query_rss \(rssQuery ? "on" : "off")") }
        return parts.joined(separator: ", ")
    }
}

/// What ``HostNetwork/setVirtualFunction(_:vf:_:)`` changes; nil fields are left alone (not sent).
/// Equivalent to `ip link set PF vf N [mac M] [vlan ID [qos Q] [proto P]] [min_tx_rate MIN max_tx_rate MAX]
/// [spoofchk on|off] [trust on|off] [state auto|enable|disable]`.
public struct VFChange: Equatable, Codable, Sendable {
    public var macAddress: String?
    public var vlan: VFVLAN?
    public var rate: VFRate?
    public var spoofCheck: Bool?
    public var trust: Bool?
    public var linkState: String?

    public init(macAddress: MACAddress? = nil, vlan: VFVLAN? = nil, rate: VFRate? = nil, spoofCheck: Bool? = nil,
                trust: Bool? = nil, linkState: VFLinkState? = nil) {
        self.macAddress = macAddress?.description
        self.vlan = vlan
        self.rate = rate
        self.spoofCheck = spoofCheck
        self.trust = trust
        self.linkState = linkState?.description
    }

    public var isEmpty: Bool { self == VFChange() }

    var mac: MACAddress? { macAddress.flatMap(MACAddress.init) }
    var state: VFLinkState? { linkState.flatMap { text in VFLinkState.allCases.first { $0.description == text } } }

    /// Refuses values the kernel's drivers would refuse one by one, naming the bad one.
    public func validate() throws {
        if let macAddress, let mac = MACAddress(macAddress), mac.isMulticast {
            throw HostNetworkError.invalidValue(what: "VF MAC address", value: macAddress,
                                                allowed: "a unicast address (the first byte's lowest bit clear), or 00:00:00:00:00:00 to let the VF choose")
        }
        if let vlan {
            guard VFVLAN.idRange.contains(vlan.id) else {
                throw HostNetworkError.invalidValue(what: "VLAN id", value: "\(vlan.id)", allowed: "0-4095 (0 turns the VF's VLAN off)")
            }
            guard VFVLAN.qosRange.contains(vlan.qos) else {
                throw HostNetworkError.invalidValue(what: "VLAN qos", value: "\(vlan.qos)", allowed: "an 802.1p priority, 0-7")
            }
        }
        if let rate, rate.maximum != 0, rate.minimum > rate.maximum {
            throw HostNetworkError.invalidValue(what: "VF rate", value: "\(rate.minimum)-\(rate.maximum)",
                                                allowed: "MIN-MAX in Mbit/s with MIN <= MAX (MAX 0: no upper limit)")
        }
    }

    /// The VF attributes, in the order `ip link set PF vf N ...` sends them (MAC, VLAN, SPOOFCHK,
    /// TRUST, LINK_STATE, RATE). An 802.1Q VLAN goes as IFLA_VF_VLAN, as ip sends it (drivers
    /// without ndo_set_vf_vlan's protocol take it too); only 802.1ad needs IFLA_VF_VLAN_LIST.
    public func attributes(vf: UInt32) -> [VFAttribute] {
        var attributes: [VFAttribute] = []
        if let mac { attributes.append(.mac(vf: vf, address: mac.bytes)) }
        if let vlan {
            if vlan.proto == .ieee8021Q {
                attributes.append(.vlan(vf: vf, vlan: vlan.id, qos: vlan.qos))
            } else {
                attributes.append(.vlanList([.info(VFVLANInfo(vf: vf, vlan: vlan.id, qos: vlan.qos, proto: vlan.proto.etherType))]))
            }
        }
        if let spoofCheck { attributes.append(.spoofCheck(vf: vf, setting: spoofCheck ? 1 : 0)) }
        if let trust { attributes.append(.trust(vf: vf, setting: trust ? 1 : 0)) }
        if let state { attributes.append(.linkState(vf: vf, state: state.rawValue)) }
        if let rate { attributes.append(.rate(vf: vf, minimum: rate.minimum, maximum: rate.maximum)) }
        return attributes
    }

    /// The RTM_NEWLINK body that changes VF `vf` of the PF at `index`.
    public func message(index: InterfaceIndex, vf: UInt32) -> LinkMessage {
        LinkMessage(index: index, attributes: [.vfInfoList([.info(attributes(vf: vf))])])
    }

    /// What `change` would overwrite in `current`: the fields `change` sets, with their current
    /// values (a setting the driver does not report stays nil: it cannot be put back).
    init(previous current: VFSettings, for change: VFChange) {
        self.init()
        if change.macAddress != nil { macAddress = current.macAddress?.description }
        if change.vlan != nil { vlan = current.vlan ?? VFVLAN(id: 0) }
        if change.rate != nil { rate = current.rate }
        if change.spoofCheck != nil { spoofCheck = current.spoofCheck }
        if change.trust != nil { trust = current.trust }
        if change.linkState != nil { linkState = current.linkState?.description }
    }

    /// The part of this change that `current` does not have yet.
    func differing(from current: VFSettings?) -> VFChange {
        guard let current else { return self }
        var change = self
        if let mac, mac == current.macAddress { change.macAddress = nil }
        if vlan == (current.vlan ?? VFVLAN(id: 0)) { change.vlan = nil }
        if let rate, rate == current.rate { change.rate = nil }
        if spoofCheck == current.spoofCheck { change.spoofCheck = nil }
        if trust == current.trust { change.trust = nil }
        if let state, state == current.linkState { change.linkState = nil }
        return change
    }

    /// As ip's arguments: ` mac M vlan 10 qos 3 spoofchk on`.
    var summary: String {
        var parts: [String] = []
        if let macAddress { parts.append("mac \(macAddress)") }
        if let vlan {
            parts.append("vlan \(vlan.id)")
            if vlan.qos != 0 { parts.append("qos \(vlan.qos)") }
            if vlan.proto != .ieee8021Q { parts.append("proto \(vlan.proto.rawValue)") }
        }
        if let rate { parts.append("min_tx_rate \(rate.minimum) max_tx_rate \(rate.maximum)") }
        if let spoofCheck { parts.append("spoofchk \(spoofCheck ? "on" : "off")") }
        if let trust { parts.append("trust \(trust ? "on" : "off")") }
        if let linkState { parts.append("state \(linkState)") }
        return parts.isEmpty ? "" : " " + parts.joined(separator: " ")
    }
}

/// A PF's virtual functions as the kernel reports them with RTEXT_FILTER_VF.
public struct VirtualFunctionList: Equatable, Sendable {
    /// IFLA_NUM_VF: nil when the kernel sent none (a device without a parent bus device: veth, dummy).
    public var count: UInt32?
    public var functions: [VFSettings]

    public init(count: UInt32?, functions: [VFSettings]) {
        self.count = count
        self.functions = functions
    }

    init(message: LinkMessage) {
        count = message.vfCount
        functions = message.virtualFunctions.compactMap(VFSettings.init(attributes:))
    }
}

/// The journal record of a VF change, written before it: the previous values of what it sets.
/// Kernel quirk: do_setvfinfo applies a request's VF attributes one by one and stops at the
/// first a driver refuses, keeping those before it, so a refused multi-setting change is
/// rolled back from this record. Never completed.
public struct VFSettingsRecord: JournalRecord, Equatable {
    public static let kind = "vf-settings"

    public var name: String
    public var index: InterfaceIndex
    public var vf: UInt32
    /// The previous values of the fields the change sets; nil when the PF did not report the VF.
    public var previous: VFChange?
}

extension HostNetwork {
    /// A PF's VFs and their settings: one RTM_GETLINK with IFLA_EXT_MASK = RTEXT_FILTER_VF
    /// (and SKIP_STATS). Equivalent to `ip link show dev NAME`'s `vf` lines. Needs no privilege.
    public func virtualFunctions(of name: String) throws -> (link: Link, list: VirtualFunctionList) {
        try InterfaceName.validate(name)
        let request = LinkMessage(attributes: [.name(name), .extendedFilter([.virtualFunctions, .skipStatistics])])
        do {
            let replies = try connection.get(.getLink, payload: request.encoded())
            guard let reply = replies.first(where: { $0.header.type == .newLink }) else { throw HostNetworkError.noSuchDevice(name) }
            let message = try decodeLink(reply)
            return (Link(message: message), VirtualFunctionList(message: message))
        } catch let error as NetlinkError where error.errno == .operationNotSupportedByDevice {
            throw HostNetworkError.noSuchDevice(name)
        } catch let error as NetlinkError {
            throw HostNetworkError.kernel(operation: "looking up '\(name)'", error)
        }
    }

    /// Changes VF `vf` of PF `name` in one RTM_NEWLINK. Equivalent to `ip link set NAME vf N
    /// [mac M] [vlan ID [qos Q] [proto P]] [min_tx_rate MIN max_tx_rate MAX] [spoofchk on|off]
    /// [trust on|off] [state auto|enable|disable]`. Needs CAP_NET_ADMIN.
    public func setVirtualFunction(_ name: String, vf: UInt32, _ change: VFChange) throws {
        let link = try self.link(named: name)
        try setVirtualFunction(index: link.index, name: name, vf: vf, change, vfCount: nil)
    }

    func setVirtualFunction(index: InterfaceIndex, name: String, vf: UInt32, _ change: VFChange, vfCount: UInt32?) throws {
        try change.validate()
        guard !change.isEmpty else { return }
        do {
            try connection.execute(.newLink, payload: change.message(index: index, vf: vf).encoded())
        } catch let error as NetlinkError {
            throw HostNetworkError.virtualFunction(device: name, vf: vf, vfCount: vfCount, settings: change.summary, error)
        }
    }

    /// ``setVirtualFunction(_:vf:_:)`` as a journaled step: the VF's previous values of what
    /// `change` sets are recorded first, so a refused multi-setting change (or a kill) is put
    /// back by rollback or recovery.
    public func changeVirtualFunction(_ name: String, vf: UInt32, _ change: VFChange, transaction: HostTransaction) throws {
        try change.validate()
        guard !change.isEmpty else { return }
        let (link, list) = try virtualFunctions(of: name)
        let current = list.functions.first { $0.index == vf }
        let record = VFSettingsRecord(name: link.name, index: link.index, vf: vf,
                                      previous: current.map { VFChange(previous: $0, for: change) })
        try transaction.record(undo: record)
        try checkpoint("set \(name) vf \(vf)", transaction)
        try setVirtualFunction(index: link.index, name: link.name, vf: vf, change, vfCount: list.count)
    }

    /// Rolls back a `VFSettingsRecord`: the recorded values that differ from the VF's present
    /// ones are set again in one request. Idempotent.
    func recover(_ record: VFSettingsRecord, _ context: RecoveryContext) throws -> String? {
        guard context.direction == .rollBack else { return nil }
        guard let previous = record.previous else { return "\(record.name) vf \(record.vf): no previous settings were readable; left as it is" }
        let (link, list) = try virtualFunctions(of: record.name)
        guard link.index == record.index else { return nil }
        let restore = previous.differing(from: list.functions.first { $0.index == record.vf })
        if !restore.isEmpty {
            try setVirtualFunction(index: link.index, name: link.name, vf: record.vf, restore, vfCount: list.count)
        }
        context.pause()
        return "\(record.name) vf \(record.vf) has its previous settings again"
    }
}
