import CLinuxNet
import Glibc
@testable import HostNetwork
import Netlink
import NetlinkTestSupport
import NetlinkWire
import QNetTypes
import SystemPackage
import Testing

/// HostNetwork's verbs over a fake kernel (tier 2: no root, no namespace). Each test checks
/// every request of a successful run byte for byte, then runs the verb again once per
/// request with the kernel refusing that request (EBUSY), and checks the exact requests
/// that follow (the undo sequence) and that the kernel ends as it started.
@Suite struct RequestLayerTests {
    // The capture namespace's devices (see RequestFixtures.swift).
    static let lo = FakeKernel.Device(index: 1, name: "lo", kind: nil, mtu: 65536, mac: [0, 0, 0, 0, 0, 0], flags: [.loopback, .up])
    static let eth0 = FakeKernel.Device(index: 2, name: "eth0", kind: nil, mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
                                        flags: [.broadcast, .multicast, .up])
    static let br0 = FakeKernel.Device(index: 3, name: "br0", kind: "bridge", mtu: 1400, mac: [0x52, 0x54, 0x00, 0x00, 0x00, 0xb0],
                                       flags: [.broadcast, .multicast, .up], bridgeData: [.stpState(0), .forwardDelay(0)])
    static let tap0 = FakeKernel.Device(index: 4, name: "tap0", kind: "tun", mac: [0x02, 0, 0, 0, 0, 0x01], tunType: UInt8(IFF_TAP))

    /// eth0's configuration: 192.168.1.10/24 (permanent) and a default route with metric
    /// 100, plus the prefix route the kernel made (proto kernel: not moved).
    static var eth0Addresses: [AddressMessage] {
        [AddressMessage(family: .inet, prefixLength: 24, flags: UInt8(IFA_F_PERMANENT), index: 2, attributes: [
            .address(IPAddress("192.168.1.10")!), .local(IPAddress("192.168.1.10")!), .broadcast(IPAddress("192.168.1.255")!),
            .label("eth0"), .flags(UInt32(IFA_F_PERMANENT)),
            .cacheInfo(preferred: .max, valid: .max, created: 100, updated: 100),
        ])]
    }

    static var eth0Routes: [RouteMessage] {
        [RouteMessage(family: .inet, destinationLength: 24, table: RouteMessage.mainTable, routeProtocol: RouteMessage.protocolKernel,
                      scope: RouteMessage.scopeLink, type: RouteMessage.typeUnicast, attributes: [
                          .table(254), .destination(IPAddress("192.168.1.0")!), .preferredSource(IPAddress("192.168.1.10")!),
                          .outputInterface(2),
                      ]),
         RouteMessage(family: .inet, table: RouteMessage.mainTable, routeProtocol: RouteMessage.protocolBoot,
                      scope: RouteMessage.scopeUniverse, type: RouteMessage.typeUnicast, attributes: [
                          .table(254), .priority(100), .gateway(IPAddress("192.168.1.254")!), .outputInterface(2),
                      ])]
    }

    // MARK: bridge create

    @Test("bridge create: ip link add br0 ... type bridge")
    func createBridge() throws {
        try checkEveryStep(
            kernel: { FakeKernel(links: [Self.lo]) },
            verb: { try $0.host.createBridge("br0", mtu: 1400, macAddress: MACAddress("52:54:00:00:00:b0")) },
            success: [Sent.getBr0, Sent.createBr0],
            undo: { _ in [] })
    }

    // MARK: uplink move

    /// `qnet bridge create br0 --uplink eth0`: br0 takes eth0's MAC and MTU and records the
    /// uplink in its alias, eth0 joins it, and eth0's address and default route move over.
    /// A refusal at any step undoes, in reverse, every step already taken.
    @Test("bridge create --uplink: every step refused in turn is rolled back")
    func uplinkMove() throws {
        let success = [
            Sent.getBr0, Sent.getEth0,                                 // 1-2: br0 must not exist; eth0 must
            Sent.dumpAddresses, Sent.dumpRoutes4, Sent.dumpRoutes6,    // 3-5: what to move
            Sent.getBr0, Sent.createBr0ForEth0,                        // 6-7: create br0 (checks the name again)
            Sent.getBr0, Sent.aliasBr0,                                // 8-9: record the uplink
            Sent.getBr0,                                               // 10: br0's index
            Sent.eth0MasterBr0,                                        // 11
            Sent.deleteDefaultRouteEth0, Sent.deleteAddressEth0,       // 12-13: routes leave first
            Sent.addAddressBr0, Sent.addDefaultRouteBr0,               // 14-15: addresses arrive first
        ]
        // The rollback is the journal record's recovery, run in-process: look both links up,
        // delete the bridge if it exists (the kernel drops its addresses and routes and
        // detaches eth0), then give eth0 whatever of its address and routes it lacks (the
        // kernel answers EEXIST for what it still has).
        let restoreEth0 = [Sent.addAddressEth0, Sent.addDefaultRouteEth0]
        try checkEveryStep(
            kernel: { FakeKernel(links: [Self.lo, Self.eth0], addresses: Self.eth0Addresses, routes: Self.eth0Routes) },
            verb: { kernel in
                let move = try kernel.host.createBridge("br0", uplink: "eth0", isWireless: { _ in false })
                #expect(move?.addresses.map(\.description) == ["192.168.1.10/24"])
                #expect(move?.routes == ["default via 192.168.1.254 dev br0 metric 100"])
            },
            success: success,
            undo: { step in
                switch step {
                // Before the journal record: nothing changed, nothing to undo.
                case ...5: []
                // No bridge yet.
                case 6, 7: [Sent.getBr0, Sent.getEth0] + restoreEth0
                // Inside bridge creation (the alias): createBridge deletes its half-made bridge itself.
                case 8, 9: [Sent.getBr0, Sent.deleteBr0, Sent.getBr0, Sent.getEth0] + restoreEth0
                default: [Sent.getBr0, Sent.getEth0, Sent.deleteBr0] + restoreEth0
                }
            })
    }

    /// `qnet bridge delete br0` of a bridge that took over eth0: eth0 gets its address and
    /// default route back before br0 goes; a refusal at any step puts everything back on br0.
    @Test("bridge delete of an uplink bridge: every step refused in turn is rolled back")
    func uplinkRelease() throws {
        var bridge = Self.br0
        bridge.mac = Self.eth0.mac
        bridge.mtu = 1500
        bridge.alias = "qnet:uplink=eth0"
        var port = Self.eth0
        port.master = 3
        let addresses = Self.eth0Addresses.map { address in
            var moved = address
            moved.index = 3
            moved.attributes = moved.attributes.map { if case .label = $0 { .label("br0") } else { $0 } }
            return moved
        }
        let routes = Self.eth0Routes.map { route in
            var moved = route
            moved.attributes = moved.attributes.map { if case .outputInterface = $0 { .outputInterface(3) } else { $0 } }
            return moved
        }
        let released = FakeKernel(links: [Self.lo, port, bridge], addresses: addresses, routes: routes)
        _ = try released.host.deleteBridge("br0")
        // Before the bridge is deleted, a refusal puts everything back on it (the journal
        // record's rollback: off eth0 first, eth0 back into br0, then onto br0 what it lacks);
        // at the deletion (the point of no return) the release is finished instead.
        let backOnBridge = [Sent.getBr0, Sent.getEth0, Sent.deleteDefaultRouteEth0, Sent.deleteAddressEth0]
        try checkEveryStep(
            kernel: { FakeKernel(links: [Self.lo, port, bridge], addresses: addresses, routes: routes) },
            verb: { kernel in
                let move = try kernel.host.deleteBridge("br0")
                #expect(move?.uplink == "eth0" && move?.routes == ["default via 192.168.1.254 dev eth0 metric 100"])
                #expect(kernel.device("br0") == nil && kernel.device("eth0")?.master == 0)
            },
            success: [
                Sent.getBr0, Sent.getEth0,                                 // 1-2: the bridge and its recorded uplink
                Sent.dumpAddresses, Sent.dumpRoutes4, Sent.dumpRoutes6,    // 3-5: what to give back
                Sent.eth0NoMaster,                                         // 6
                Sent.deleteDefaultRouteBr0, Sent.deleteAddressBr0,         // 7-8
                Sent.addAddressEth0, Sent.addDefaultRouteEth0,             // 9-10
                Sent.getBr0, Sent.deleteBr0,                               // 11-12: past the point of no return
            ],
            completed: 11...12,
            completedState: released.state,
            undo: { step in
                switch step {
                case ...5: []
                case 6: backOnBridge + [Sent.addAddressBr0, Sent.addDefaultRouteBr0]
                case 7...10: backOnBridge + [Sent.eth0MasterBr0, Sent.addAddressBr0, Sent.addDefaultRouteBr0]
                // Finished: the bridge goes, eth0 already has everything (EEXIST).
                default: [Sent.getBr0, Sent.getEth0, Sent.deleteBr0, Sent.addAddressEth0, Sent.addDefaultRouteEth0]
                }
            })
    }

    // MARK: TAP create

    /// `qnet tap create` for two persistent TAPs on br0 in one interface group: after the
    /// TUNSETIFF ioctls (replaced here by devices the fake kernel adds), one datagram
    /// carries both RTM_NEWLINKs. A refusal of either removes both TAPs.
    @Test("TAP create: the RTM_NEWLINK batch after TUNSETIFF, and its rollback")
    func createTAPs() throws {
        var datagrams: [Int] = []
        try checkEveryStep(
            kernel: {
                let kernel = FakeKernel(links: [Self.lo, Self.br0])
                kernel.host.tapOpener = { [unowned kernel] options in
                    let index = InterfaceIndex((kernel.links.map(\.index).max() ?? 0).rawValue + 1)
                    kernel.links.append(FakeKernel.Device(index: index, name: options.name, kind: "tun", mac: [0x02, 0, 0, 0, 0, UInt8(index.rawValue)],
                                                          tunType: UInt8(IFF_TAP)))
                    return TAPDevice(name: options.name, index: index, macAddress: options.macAddress!, descriptors: [], persistent: true)
                }
                return kernel
            },
            verb: { kernel in
                defer { datagrams.append(kernel.transport.sent.count) }
                let taps = try kernel.host.createTAPs([
                    TAPOptions(name: "tap0", persistent: true, bridge: "br0", interfaceGroup: 7, macAddress: MACAddress("fe:00:00:00:00:01")),
                    TAPOptions(name: "tap1", persistent: true, bridge: "br0", interfaceGroup: 7, macAddress: MACAddress("fe:00:00:00:00:02")),
                ])
                #expect(taps.map(\.name) == ["tap0", "tap1"])
                #expect(kernel.device("tap1")?.master == 3 && kernel.device("tap1")?.mtu == 1400)
            },
            success: [Sent.getBr0, Sent.getTap0, Sent.getTap1, Sent.configureTap0, Sent.configureTap1],
            batched: 4...5,
            undo: { step in step <= 3 ? [] : [Sent.deleteTap0, Sent.deleteTap1] })
        // The successful run: three lookups, then both RTM_NEWLINKs in one datagram.
        #expect(datagrams.first == 4)
    }

    // MARK: attach

    @Test("bridge attach: ip link set dev tap0 master br0")
    func attach() throws {
        try checkEveryStep(
            kernel: { FakeKernel(links: [Self.lo, Self.br0, Self.tap0]) },
            verb: { try $0.host.setMaster("tap0", bridge: "br0") },
            success: [Sent.getBr0, Sent.getTap0, Sent.tap0MasterBr0],
            undo: { _ in [] })
    }

    /// `qnet bridge attach br0 tap0 --cost 10 --isolated on`: two requests (see
    /// HostNetwork.attach); refused options detach the port again.
    @Test("bridge attach with port options: master, then options; detached again if they fail")
    func attachWithPortOptions() throws {
        try checkEveryStep(
            kernel: { FakeKernel(links: [Self.lo, Self.br0, Self.tap0]) },
            verb: { try $0.host.attach("tap0", to: "br0", options: BridgePortOptions(cost: 10, isolated: true)) },
            success: [Sent.getBr0, Sent.getTap0, Sent.tap0MasterBr0, Sent.tap0PortOptions],
            undo: { step in step == 4 ? [Sent.tap0NoMaster] : [] })

        // A port already on br0 stays there when its new options are refused.
        var port = Self.tap0
        port.master = 3
        let kernel = FakeKernel(links: [Self.lo, Self.br0, port])
        kernel.failure = (3, EBUSY)
        expectRefused("options for a port already attached") {
            try kernel.host.attach("tap0", to: "br0", options: BridgePortOptions(cost: 10, isolated: true))
        }
        expectRequests(kernel.requests, [Sent.getBr0, Sent.getTap0, Sent.tap0PortOptions])
        #expect(kernel.device("tap0")?.master == 3)
    }

    /// `qnet ifup tap0 --bridge br0`. A refused request that changed nothing needs no undo
    /// (tap0 is read back and found as it was).
    @Test("ifup: one RTM_NEWLINK to the TAP; read back after a refusal")
    func hookAttach() throws {
        try checkEveryStep(
            kernel: { FakeKernel(links: [Self.lo, Self.br0, Self.tap0]) },
            verb: { try $0.host.attachHookTAP("tap0", to: "br0", newMACAddress: { MACAddress("fe:00:00:00:00:01")! }) },
            success: [Sent.getTap0, Sent.getBr0, Sent.hookAttachTap0],
            undo: { step in step == 3 ? [Sent.getIndex4] : [] })
    }

    /// do_setlink is not atomic: refused at IFLA_MASTER, tap0 keeps the new MAC and MTU
    /// unless qnet puts them back; refused at the flags, it is also br0's port already.
    @Test("ifup refused part-way: what the kernel applied is undone, nomaster first")
    func hookAttachPartlyApplied() throws {
        let base = [Sent.getTap0, Sent.getBr0, Sent.hookAttachTap0, Sent.getIndex4]
        let cases: [(String, (inout FakeKernel.Device) -> Void, [ExpectedRequest])] = [
            ("MAC and MTU applied", { $0.mac = [0xfe, 0, 0, 0, 0, 1]; $0.mtu = 1400 }, [Sent.restoreTap0MACAndMTU]),
            ("MAC, MTU and master applied", { $0.mac = [0xfe, 0, 0, 0, 0, 1]; $0.mtu = 1400; $0.master = 3 },
             [Sent.tap0NoMaster, Sent.restoreTap0MACAndMTU]),
        ]
        for (label, partial, undo) in cases {
            let kernel = FakeKernel(links: [Self.lo, Self.br0, Self.tap0])
            let before = kernel.state
            kernel.failure = (3, EBUSY)
            kernel.partiallyApplied = partial
            expectRefused(label) { try kernel.host.attachHookTAP("tap0", to: "br0", newMACAddress: { MACAddress("fe:00:00:00:00:01")! }) }
            expectRequests(kernel.requests, base + undo, label)
            #expect(kernel.state == before, "\(label)")
        }
    }

    /// `qnet ifdown tap0`; refused after nomaster took effect, tap0 rejoins br0.
    @Test("ifdown: ip link set dev tap0 nomaster down, and its undo")
    func hookDetach() throws {
        var attached = Self.tap0
        attached.master = 3
        attached.flags.insert(.up)
        try checkEveryStep(
            kernel: { FakeKernel(links: [Self.lo, Self.br0, attached]) },
            verb: { try $0.host.detachHookTAP("tap0") },
            success: [Sent.getTap0, Sent.hookDetachTap0],
            undo: { step in step == 2 ? [Sent.getIndex4] : [] })

        let kernel = FakeKernel(links: [Self.lo, Self.br0, attached])
        let before = kernel.state
        kernel.failure = (2, EBUSY)
        kernel.partiallyApplied = { $0.master = 0 }
        expectRefused("nomaster applied") { try kernel.host.detachHookTAP("tap0") }
        expectRequests(kernel.requests, [Sent.getTap0, Sent.hookDetachTap0, Sent.getIndex4, Sent.tap0MasterBr0])
        #expect(kernel.state == before)
    }

    // MARK: group delete

    @Test("group delete: ip link delete group 7")
    func deleteGroup() throws {
        var member0 = Self.tap0
        member0.group = 7
        var member1 = Self.tap0
        member1.index = 5
        member1.name = "tap1"
        member1.group = 7
        try checkEveryStep(
            kernel: { FakeKernel(links: [Self.lo, Self.br0, member0, member1]) },
            verb: { kernel in
                try kernel.host.deleteGroup(7)
                #expect(kernel.links.map(\.name) == ["lo", "br0"])
            },
            success: [Sent.deleteGroup7],
            undo: { _ in [] })
    }

    // MARK: bridge set

    /// `qnet bridge set br0 --stp off --forward-delay 0` on a bridge running STP with a 4 s
    /// delay: two requests (see HostNetwork.setBridge); STP goes back on if the second is
    /// refused.
    @Test("bridge set --stp off --forward-delay 0: two requests, STP back on if the second fails")
    func stpOffWithForwardDelay() throws {
        var running = Self.br0
        running.bridgeData = [.stpState(1), .forwardDelay(400)]
        try checkEveryStep(
            kernel: { FakeKernel(links: [Self.lo, running]) },
            verb: { try $0.host.setBridge("br0", options: BridgeOptions(stp: false, forwardDelay: 0)) },
            success: [Sent.getBr0, Sent.stpOff, Sent.forwardDelay0],
            undo: { step in step == 3 ? [Sent.stpOn] : [] })
    }

    // MARK: harness

    /// Runs `verb` on a fresh kernel and checks its requests against `success`; then once
    /// per request k, on a fresh kernel refusing request k with EBUSY: the verb must fail
    /// with that error, send `success` up to request k then exactly `undo(k)`, and leave
    /// the kernel's links, addresses and routes as they were. Requests numbered in
    /// `batched` travel in one datagram: the kernel goes on after refusing one of them, so
    /// all of them precede the undo.
    ///
    /// Requests numbered in `completed` come after the verb's point of no return: refused
    /// there, the verb finishes the rest instead of undoing it (and says so with a
    /// `RolledBackError`), and the kernel must end in `completedState`.
    func checkEveryStep(kernel make: () -> FakeKernel, verb: (FakeKernel) throws -> Void,
                        success: [ExpectedRequest], batched: ClosedRange<Int>? = nil,
                        completed: ClosedRange<Int>? = nil, completedState: [String] = [],
                        undo: (Int) -> [ExpectedRequest],
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        let kernel = make()
        try verb(kernel)
        expectRequests(kernel.requests, success, "successful run:", sourceLocation: sourceLocation)

        for step in 1...success.count {
            let kernel = make()
            let before = kernel.state
            kernel.failure = (step, EBUSY)
            let finishes = completed?.contains(step) ?? false
            if finishes {
                let error = #expect(throws: RolledBackError.self, "refused at request \(step)", sourceLocation: sourceLocation) {
                    try verb(kernel)
                }
                #expect(error?.completedInstead == true && error?.rollbackFailures == [], sourceLocation: sourceLocation)
            } else {
                expectRefused("refused at request \(step)", sourceLocation: sourceLocation) { try verb(kernel) }
            }
            let sentFirst = batched.map { $0.contains(step) ? $0.upperBound : step } ?? step
            expectRequests(kernel.requests, Array(success.prefix(sentFirst)) + undo(step),
                           "refused at request \(step) (\(success[step - 1])):", sourceLocation: sourceLocation)
            #expect(kernel.state == (finishes ? completedState : before),
                    "refused at request \(step): the kernel was not left as it was", sourceLocation: sourceLocation)
        }
    }

    /// `body` must fail with the kernel's EBUSY (wrapped as HostNetwork reports it).
    func expectRefused(_ label: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("\(label): nothing was thrown", sourceLocation: sourceLocation)
        } catch let HostNetworkError.kernel(_, error) {
            #expect(error.errno == .resourceBusy, "\(label): \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(label): expected the kernel's EBUSY as HostNetworkError.kernel, got \(error)", sourceLocation: sourceLocation)
        }
    }
}
