import Glibc
import HostNetwork
import Netlink
import NetlinkTestSupport
import NetlinkWire
import QNetSystem
import QNetTypes
import Testing

/// A simulated SR-IOV PF behind rtnetlink (no such NIC exists here): it reports its VFs with
/// RTEXT_FILTER_VF and applies a request's VF attributes one at a time in do_setvfinfo's order,
/// stopping at the first its "driver" refuses and keeping the ones before (as the kernel does).
final class FakePF {
    static let port: UInt32 = 4242
    static let index: InterfaceIndex = 7
    var vfs: [VFSettings]
    /// IFLA_VF_* types the driver has no ndo_set_vf_* for (answered EOPNOTSUPP).
    var unsupported: Set<UInt16> = []
    /// Whether the device is a PF at all (a veth answers every VF change with EOPNOTSUPP and reports none).
    var isPF = true
    private(set) var changes: [[VFAttribute]] = []
    private(set) var transport: FakeTransport!
    private(set) var host: HostNetwork!

    init(vfs: [VFSettings]) {
        self.vfs = vfs
        transport = FakeTransport(portID: Self.port) { [unowned self] requests, _ in requests.flatMap { self.answer($0) } }
        host = HostNetwork(connection: NetlinkConnection(transport: transport, firstSequence: 1))
    }

    private func message() -> LinkMessage {
        var attributes: [LinkAttribute] = [.name("pf0"), .mtu(1500), .address([0x52, 0x54, 0, 0, 0, 1])]
        if isPF {
            attributes.append(.vfCount(UInt32(vfs.count)))
            attributes.append(.vfInfoList(vfs.map { vf in
                var info = VFChange(macAddress: vf.macAddress, vlan: vf.vlan, rate: vf.rate, spoofCheck: vf.spoofCheck, trust: vf.trust,
                                    linkState: vf.linkState).attributes(vf: vf.index)
                // The kernel reports IFLA_VF_VLAN_LIST alongside IFLA_VF_VLAN.
                if let vlan = vf.vlan, vlan.proto == .ieee8021AD {
                    info.append(.vlan(vf: vf.index, vlan: vlan.id, qos: vlan.qos))
                }
                return .info(info)
            }))
        }
        return LinkMessage(deviceType: 1, index: Self.index, flags: [.up, .broadcast, .multicast], attributes: attributes)
    }

    private func answer(_ request: NetlinkMessage) -> [[UInt8]] {
        let refuse = { (errno: Int32) in [Kernel.datagram(Kernel.error(-errno, request, port: Self.port))] }
        let ack = Kernel.datagram(Kernel.ack(request, port: Self.port))
        guard let query = try? LinkMessage(payload: request.payload) else { return refuse(EINVAL) }
        switch request.header.type {
        case .getLink:
            guard query.name == "pf0" || query.index == Self.index else { return refuse(ENODEV) }
            let reply = NetlinkMessage(type: .newLink, flags: [], sequence: request.header.sequence, portID: Self.port,
                                       payload: message().encoded())
            return [Kernel.datagram(reply), ack]
        case .newLink:
            guard query.index == Self.index else { return refuse(ENODEV) }
            for attributes in query.virtualFunctions {
                changes.append(attributes)
                guard isPF else { return refuse(EOPNOTSUPP) }
                // do_setvfinfo's order, whatever the request's.
                let order: [UInt16] = [1, 2, 12, 3, 6, 4, 5, 7, 9]
                for type in order {
                    guard let attribute = attributes.first(where: { $0.raw.type == type }) else { continue }
                    if unsupported.contains(type) { return refuse(EOPNOTSUPP) }
                    guard let settings = VFSettings(attributes: [attribute]), let slot = vfs.firstIndex(where: { $0.index == settings.index }) else {
                        return refuse(EINVAL)
                    }
                    switch attribute {
                    case .mac: vfs[slot].macAddress = settings.macAddress
                    case .vlan, .vlanList: vfs[slot].vlan = settings.vlan
                    case .rate, .txRate: vfs[slot].rate = settings.rate
                    case .spoofCheck: vfs[slot].spoofCheck = settings.spoofCheck
                    case .linkState: vfs[slot].linkState = settings.linkState
                    case .trust: vfs[slot].trust = settings.trust
                    default: break
                    }
                }
            }
            return [ack]
        default:
            return refuse(EOPNOTSUPP)
        }
    }
}

@Suite("SR-IOV VF settings through HostNetwork (a simulated PF)")
struct VirtualFunctionTests {
    static let initial = [
        VFSettings(index: 0, macAddress: MACAddress("52:54:00:00:00:10"), vlan: VFVLAN(id: 0), rate: VFRate(minimum: 0, maximum: 0),
                   spoofCheck: true, linkState: .auto, trust: false),
        VFSettings(index: 1, macAddress: MACAddress("52:54:00:00:00:11"), vlan: VFVLAN(id: 5, qos: 1), rate: VFRate(minimum: 0, maximum: 100),
                   spoofCheck: true, linkState: .auto, trust: false),
    ]

    static let everything = VFChange(macAddress: MACAddress("52:54:00:12:34:56"), vlan: VFVLAN(id: 10, qos: 3, proto: .ieee8021AD),
                                     rate: VFRate(minimum: 100, maximum: 500), spoofCheck: false, trust: true, linkState: .enable)

    @Test("the VF list is read with RTEXT_FILTER_VF and each VF's settings decoded")
    func readsVFs() throws {
        let pf = FakePF(vfs: Self.initial)
        let (link, list) = try pf.host.virtualFunctions(of: "pf0")
        #expect(link.index == FakePF.index)
        #expect(list.count == 2)
        #expect(list.functions == Self.initial)
        let request = try LinkMessage(payload: pf.transport.sentMessages[0].payload)
        #expect(request.attributes.contains(.extendedFilter([.virtualFunctions, .skipStatistics])))
        #expect(list.functions[1].summary == "vf 1 link/ether 52:54:00:00:00:11, vlan 5, qos 1, max_tx_rate 100Mbps, spoof checking on, link-state auto, trust off")
    }

    @Test("every setting goes in one RTM_NEWLINK, in ip's attribute order, and the VF has them all")
    func setsEverythingInOneRequest() throws {
        let pf = FakePF(vfs: Self.initial)
        let transaction = HostTransaction(scope: "test", command: "qnet pci vf pf0 1", journal: nil, registry: pf.host.recoveryRegistry)
        try pf.host.changeVirtualFunction("pf0", vf: 1, Self.everything, transaction: transaction)
        try transaction.commit()
        #expect(pf.changes.count == 1)
        #expect(pf.changes[0].map(\.raw.type) == [1, 12, 4, 9, 5, 6])  // MAC, VLAN_LIST, SPOOFCHK, TRUST, LINK_STATE, RATE
        #expect(pf.vfs[1] == VFSettings(index: 1, macAddress: MACAddress("52:54:00:12:34:56"), vlan: VFVLAN(id: 10, qos: 3, proto: .ieee8021AD),
                                        rate: VFRate(minimum: 100, maximum: 500), spoofCheck: false, linkState: .enable, trust: true))
        #expect(pf.vfs[0] == Self.initial[0])
    }

    @Test("a driver refusing one setting of several: the ones it applied before are put back, and the error names PF and VF")
    func partialFailureIsRolledBack() throws {
        let pf = FakePF(vfs: Self.initial)
        pf.unsupported = [9]  // no ndo_set_vf_trust: MAC, VLAN, rate and spoofchk are applied first
        let transaction = HostTransaction(scope: "test", command: "qnet pci vf pf0 1", journal: nil, registry: pf.host.recoveryRegistry)
        let error = #expect(throws: HostNetworkError.self) {
            try pf.host.changeVirtualFunction("pf0", vf: 1, Self.everything, transaction: transaction)
        }
        #expect(pf.vfs[1] != Self.initial[1])  // the kernel kept what it applied before trust
        #expect(transaction.rollBack().isEmpty)
        #expect(pf.vfs == Self.initial)
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("cannot set VF 1 of 'pf0'"))
        #expect(text.contains("does not support"))
        // The restore sent only what differed, and not the refused trust.
        #expect(pf.changes.count == 2)
        #expect(!pf.changes[1].contains { $0.raw.type == 9 })
    }

    @Test("recovery after a kill between the change and the commit puts the previous settings back")
    func recoveryAfterKill() throws {
        let pf = FakePF(vfs: Self.initial)
        let directory = "/tmp/qnet-vf-journal-\(getpid())"
        try FileSystem.makeDirectories(directory)
        defer { FileSystem.removeTree(directory) }
        let journal = Journal(directory: directory)
        let transaction = HostTransaction(scope: "test", command: "qnet pci vf pf0 0", journal: journal, registry: pf.host.recoveryRegistry)
        try pf.host.changeVirtualFunction("pf0", vf: 0, Self.everything, transaction: transaction)
        #expect(pf.vfs[0] != Self.initial[0])
        // As after kill -9: the journal stays, its owner is no longer running.
        var entries = try journal.entries().entries
        try #require(entries.count == 1)
        let record = try entries[0].records[0].decode(VFSettingsRecord.self)
        #expect(record.previous == VFChange(macAddress: MACAddress("52:54:00:00:00:10"), vlan: VFVLAN(id: 0), rate: VFRate(minimum: 0, maximum: 0),
                                            spoofCheck: true, trust: false, linkState: .auto))
        unlink(directory + "/" + entries[0].fileName)
        entries[0].header.owner = ProcessIdentity(pid: entries[0].header.owner.pid, startTime: 1, executable: nil)
        try FileSystem.writeAtomically(directory + "/" + entries[0].fileName, try entries[0].encoded(), mode: 0o600)
        let reports = try journal.recoverAbandoned(scope: "test", registry: pf.host.recoveryRegistry)
        #expect(reports.count == 1 && reports.allSatisfy(\.succeeded), "\(reports)")
        #expect(pf.vfs == Self.initial)
        #expect(try journal.entries().entries.isEmpty)
        _ = try? transaction.commit()
    }

    @Test("a device without SR-IOV: EOPNOTSUPP becomes one clear line naming device and VF")
    func notAPF() throws {
        let pf = FakePF(vfs: [])
        pf.isPF = false
        let transaction = HostTransaction(scope: "test", command: "qnet pci vf pf0 3", journal: nil, registry: pf.host.recoveryRegistry)
        let error = #expect(throws: HostNetworkError.self) {
            try pf.host.changeVirtualFunction("pf0", vf: 3, VFChange(spoofCheck: true), transaction: transaction)
        }
        #expect(transaction.rollBack().isEmpty)
        let text = error.map { "\($0)" } ?? ""
        #expect(text.hasPrefix("cannot set VF 3 of 'pf0' (ip link set pf0 vf 3 spoofchk on): the device's driver does not support this VF setting"))
        #expect(!text.contains("\n"))
        #expect(error?.isUsageError == false)
    }

    @Test("a VF index past the PF's VFs: EINVAL names how many VFs it has")
    func badIndex() throws {
        let pf = FakePF(vfs: Self.initial)
        let transaction = HostTransaction(scope: "test", command: "qnet pci vf pf0 9", journal: nil, registry: pf.host.recoveryRegistry)
        let error = #expect(throws: HostNetworkError.self) {
            try pf.host.changeVirtualFunction("pf0", vf: 9, VFChange(trust: true), transaction: transaction)
        }
        #expect(transaction.rollBack().isEmpty)
        #expect(error.map { "\($0)" }?.hasSuffix("'pf0' has 2 VFs: 0-1") == true)
        #expect(pf.vfs == Self.initial)
    }

    @Test("bad values are refused before anything is sent",
          arguments: [VFChange(vlan: VFVLAN(id: 4096)), VFChange(vlan: VFVLAN(id: 10, qos: 8)),
                      VFChange(rate: VFRate(minimum: 500, maximum: 100)), VFChange(macAddress: MACAddress("01:00:5e:00:00:01"))])
    func badValues(change: VFChange) {
        let pf = FakePF(vfs: Self.initial)
        #expect(throws: HostNetworkError.self) { try pf.host.setVirtualFunction("pf0", vf: 0, change) }
        #expect(pf.changes.isEmpty)
    }
}

@Suite("VF settings as the kernel reports them")
struct VFSettingsDecodingTests {
    @Test("a setting the driver does not implement is reported as (u32)-1: unknown, not on")
    func unknownSettings() throws {
        let settings = try #require(VFSettings(attributes: [.spoofCheck(vf: 2, setting: UInt32.max), .trust(vf: 2, setting: UInt32.max),
                                                            .rssQuery(vf: 2, setting: 1)]))
        #expect(settings.index == 2 && settings.spoofCheck == nil && settings.trust == nil && settings.rssQuery == true)
        #expect(settings.summary == "vf 2 link/ether 00:00:00:00:00:00, query_rss on")
    }

    @Test("a driver with only the legacy IFLA_VF_TX_RATE gives it as the maximum; IFLA_VF_VLAN_LIST's protocol wins")
    func legacyRateAndVLANList() throws {
        let settings = try #require(VFSettings(attributes: [
            .vlan(vf: 0, vlan: 7, qos: 2), .txRate(vf: 0, rate: 300),
            .vlanList([.info(VFVLANInfo(vf: 0, vlan: 7, qos: 2, proto: VFVLANInfo.proto8021AD))]),
        ]))
        #expect(settings.rate == VFRate(minimum: 0, maximum: 300))
        #expect(settings.vlan == VFVLAN(id: 7, qos: 2, proto: .ieee8021AD))
    }

    @Test("an IFLA_VF_INFO without any fixed-size attribute names no VF")
    func empty() {
        #expect(VFSettings(attributes: []) == nil)
        #expect(VFSettings(attributes: [.statistics([.rxPackets(1)])]) == nil)
    }
}
