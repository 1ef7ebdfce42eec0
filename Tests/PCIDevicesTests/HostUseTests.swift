import Foundation
import HostNetwork
import Netlink
import PCIDevices
import PCITestSupport
import QNetTestSupport
import Testing

/// What the host uses a function's interface for, read over rtnetlink in a namespace of
/// the test's own whose interfaces carry the names the fixture's `net/` entries give.
@Suite(.serialized, Privileged.enabled)
struct HostUseTests {
    @Test func addressesRoutesAndBridgePortsAreNamedAndBlockTheBind() throws {
        let ns = try TestNamespace("pciuse")
        defer { ns.remove() }
        try ns.ip("link", "add", "qpci0", "type", "veth", "peer", "name", "qpci0p")
        try ns.ip("link", "set", "qpci0", "up")
        try ns.ip("link", "set", "qpci0p", "up")
        try ns.ip("addr", "add", "192.0.2.10/24", "dev", "qpci0")
        try ns.ip("route", "add", "default", "via", "192.0.2.1", "dev", "qpci0")
        try ns.ip("route", "add", "198.51.100.0/24", "via", "192.0.2.1", "dev", "qpci0")
        try ns.ip("link", "add", "qpcibr", "type", "bridge")
        try ns.ip("link", "add", "qpci1", "type", "veth", "peer", "name", "qpci1p")
        try ns.ip("link", "set", "qpci1", "master", "qpcibr")
        try ns.ip("link", "add", "qpci2", "type", "veth", "peer", "name", "qpci2p")
        try ns.ip("link", "set", "qpci2", "up")  // up: an IPv6 link-local address, which is no use

        let fixture = try PCIFixture()
        try fixture.addDriver("vfio-pci")
        try fixture.addFunction("0000:01:00.0", driver: "e1000e", group: 1, interfaces: ["qpci0"])
        try fixture.addFunction("0000:01:00.1", driver: "e1000e", group: 2, interfaces: ["qpci1"])
        try fixture.addFunction("0000:01:00.2", driver: "e1000e", group: 3, interfaces: ["qpci2"])
        try fixture.addFunction("0000:01:00.3", driver: "e1000e", group: 4, interfaces: ["absent0"])
        let network = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        let host = fixture.host(hostUse: .rtnetlink(network))

        let used = try #require(host.function(PCIAddress("01:00.0")!))
        let uses = ["qpci0 has 192.0.2.10/24", "qpci0 carries the default route", "qpci0 carries route 198.51.100.0/24"]
        #expect(try host.hostUses(of: used) == uses)
        #expect(try host.hostUses(of: #require(host.function(PCIAddress("01:00.1")!))) == ["qpci1 is a port of bridge qpcibr"])
        #expect(try host.hostUses(of: #require(host.function(PCIAddress("01:00.2")!))).isEmpty)
        #expect(try host.hostUses(of: #require(host.function(PCIAddress("01:00.3")!))).isEmpty)

        let transaction = fixture.transaction(host)
        #expect(throws: PCIError.inUseByHost(used.address, uses: uses)) { try host.bind(used.address, in: transaction) }
        transaction.rollBack()
        #expect(fixture.writeLog.isEmpty)
        #expect(fixture.driver("0000:01:00.0") == "e1000e")
        // The witness: the namespace still has its address and default route.
        #expect(try ns.ip("-4", "addr", "show", "dev", "qpci0").contains("192.0.2.10/24"))
        #expect(try ns.ip("route", "show", "default").contains("via 192.0.2.1 dev qpci0"))

        let free = fixture.transaction(host)
        try host.bind(PCIAddress("01:00.2")!, in: free)
        try free.commit()
        #expect(fixture.driver("0000:01:00.2") == "vfio-pci")
    }
}
