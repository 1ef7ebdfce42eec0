import CLinuxNet
import CLinuxSystem
import Foundation
import HostNetwork
import Netlink
import QNetTestSupport
import Testing

/// `Link.openQueues` (what `qnet tap list` reports as `queues`) counts the queues processes
/// hold open, checked against `ip -d -j link` and the carrier `ip -j link` shows (tier 3).
@Suite(.serialized, Privileged.enabled)
struct TAPQueueCountTests {
    @Test func openQueuesCountsAttachedAndDisabledQueues() throws {
        let ns = try TestNamespace("queues")
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        try host.createBridge("br0")
        // A persistent TAP nobody holds, a single-queue TAP held open, a 2-queue TAP held open
        // with its second queue disabled the way QEMU does before the guest enables multiqueue.
        try host.createTAP(TAPOptions(name: "idle0", persistent: true, bridge: "br0")).close()
        let single = try host.createTAP(TAPOptions(name: "one0", bridge: "br0"))
        let multi = try host.createTAP(TAPOptions(name: "two0", vnetHeader: true, queues: 2, bridge: "br0"))
        defer { single.close(); multi.close() }
        #expect(multi.descriptors.count == 2)
        var request = ifreq()
        request.ifr_ifru.ifru_flags = Int16(IFF_DETACH_QUEUE)
        #expect(qnet_ioctl_ifreq(multi.descriptors[1], QNET_TUNSETQUEUE, &request) == 0, "TUNSETQUEUE: errno \(errno)")

        // Witnesses: the kernel's own counters for the multi-queue TAP, carrier for the others.
        let info = try #require((try ns.link("two0")?["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        #expect(info["numqueues"] as? Int == 1)
        #expect(info["numdisabled"] as? Int == 1)
        let flags = { (name: String) throws -> [String] in try ns.link(name)?["flags"] as? [String] ?? [] }
        #expect(try flags("idle0").contains("NO-CARRIER"))
        #expect(try !flags("one0").contains("NO-CARRIER") && flags("one0").contains("UP"))

        let links = Dictionary(try host.links().map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(links["idle0"]?.openQueues == 0)
        #expect(links["one0"]?.openQueues == 1)
        #expect(links["two0"]?.openQueues == 2)
        #expect(links["br0"]?.openQueues == nil)
    }
}
