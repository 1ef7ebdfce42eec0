import Foundation
import HostNetwork
@testable import HostChecks
import QNetTestSupport
import Testing

@Suite struct ManagerCheckTests {
    let interfaces = [ManagerChecks.Interface(name: "br0", kind: .bridge, index: 7),
                      ManagerChecks.Interface(name: "tap0", kind: .tun, index: nil)]

    func running(_ fixture: Fixture, _ comm: String, pid: Int = 812) throws {
        try fixture.write("proc/1/comm", "systemd\n")
        try fixture.write("proc/\(pid)/comm", comm + "\n")
        try fixture.write("proc/self/comm", "qnet\n")
    }

    @Test func notRunningIsOK() throws {
        let fixture = try Fixture()
        try running(fixture, "sshd")
        #expect(ManagerChecks.networkManager(fixture.root, interfaces: interfaces) == CheckResult(id: "manager.networkmanager", status: .ok, title: "NetworkManager", found: "not running"))
        #expect(ManagerChecks.networkd(fixture.root, interfaces: interfaces).found == "not running")
    }

    @Test func networkManagerWithoutUnmanagedDevicesWarns() throws {
        let fixture = try Fixture()
        try running(fixture, "NetworkManager")
        try fixture.write("etc/NetworkManager/NetworkManager.conf", "[main]\nplugins=ifupdown,keyfile\n")
        let check = ManagerChecks.networkManager(fixture.root, interfaces: interfaces)
        #expect(check.status == .warn)
        #expect(check.found.contains("pid 812") && check.found.contains("br0") && check.found.contains("qnet's TAPs"))
        #expect(check.remedy?.hasPrefix("printf '[keyfile]\\nunmanaged-devices=interface-name:br0;interface-name:vnet*;interface-name:tap*\\n' > /etc/NetworkManager/conf.d/90-qnet.conf") == true)
    }

    @Test func networkManagerUnmanagedDevicesCoverBridgeAndTaps() throws {
        let fixture = try Fixture()
        try running(fixture, "NetworkManager")
        try fixture.write("etc/NetworkManager/conf.d/90-qnet.conf", "[keyfile]\nunmanaged-devices=interface-name:br0;interface-name:vnet*;interface-name:tap*\n")
        #expect(ManagerChecks.networkManager(fixture.root, interfaces: interfaces).status == .ok)
        // Only the TAPs covered: the bridge still warns.
        try fixture.write("etc/NetworkManager/conf.d/90-qnet.conf", "[keyfile]\nunmanaged-devices=type:tun\n")
        let partial = ManagerChecks.networkManager(fixture.root, interfaces: interfaces)
        #expect(partial.status == .warn && partial.remedy?.contains("unmanaged-devices=interface-name:br0\\n") == true)
        // except: removes a match.
        try fixture.write("etc/NetworkManager/conf.d/90-qnet.conf", "[keyfile]\nunmanaged-devices=*,except:interface-name:br0\n")
        #expect(ManagerChecks.networkManager(fixture.root, interfaces: interfaces).found.contains("may manage br0"))
    }

    @Test func networkManagerDeviceSectionWithManagedFalse() throws {
        let fixture = try Fixture()
        try running(fixture, "NetworkManager")
        try fixture.write("usr/lib/NetworkManager/conf.d/10-qnet.conf", "[device-qnet]\nmatch-device=interface-name:br0;driver:tun\nmanaged=0\n")
        #expect(ManagerChecks.networkManager(fixture.root, interfaces: interfaces).status == .ok)
    }

    @Test func networkdMatchingAllWarns() throws {
        let fixture = try Fixture()
        try running(fixture, "systemd-network", pid: 300)
        try fixture.write("etc/systemd/network/99-all.network", "[Match]\nName=*\n\n[Network]\nDHCP=yes\n")
        let check = ManagerChecks.networkd(fixture.root, interfaces: [interfaces[1]])
        #expect(check.status == .warn)
        #expect(check.found.contains("tap0 (matched by \(fixture.full("etc/systemd/network/99-all.network")))"))
        #expect(check.remedy?.hasPrefix("printf '[Match]\\nName=vnet* tap*\\n\\n[Link]\\nUnmanaged=yes\\n' > /etc/systemd/network/10-qnet-unmanaged.network") == true)
    }

    @Test func networkdUnmanagedFileFirstIsOK() throws {
        let fixture = try Fixture()
        try running(fixture, "systemd-network", pid: 300)
        try fixture.write("etc/systemd/network/99-all.network", "[Match]\nName=*\n\n[Network]\nDHCP=yes\n")
        try fixture.write("etc/systemd/network/10-qnet-unmanaged.network", "[Match]\nName=br0 vnet* tap*\n\n[Link]\nUnmanaged=yes\n")
        #expect(ManagerChecks.networkd(fixture.root, interfaces: [interfaces[1]]).status == .ok)
        // Files matching on keys this reader does not evaluate, or other names, do not count.
        let other = try Fixture()
        try running(other, "systemd-network", pid: 300)
        try other.write("usr/lib/systemd/network/80-wired.network", "[Match]\nMACAddress=52:54:00:00:00:01\n")
        try other.write("run/systemd/network/50-eth.network", "[Match]\nName=en* eth*\n")
        try other.write("etc/systemd/network/60-notbr.network", "[Match]\nName=!br*\n")
        #expect(ManagerChecks.networkd(other.root, interfaces: [ManagerChecks.Interface(name: "br0", kind: .bridge, index: nil)]).status == .ok)
        // Kind=bridge matches the bridge.
        try other.write("etc/systemd/network/70-bridges.network", "[Match]\nKind=bridge\n[Network]\nDHCP=yes\n")
        #expect(ManagerChecks.networkd(other.root, interfaces: [ManagerChecks.Interface(name: "br0", kind: .bridge, index: nil)]).status == .warn)
    }

    @Test func networkdRuntimeStateIsTheFinalWord() throws {
        let fixture = try Fixture()
        try running(fixture, "systemd-network", pid: 300)
        try fixture.write("etc/systemd/network/99-all.network", "[Match]\nName=*\n")
        try fixture.write("run/systemd/netif/links/7", "# This is private data. Do not parse.\nADMIN_STATE=unmanaged\nOPER_STATE=routable\n")
        #expect(ManagerChecks.networkd(fixture.root, interfaces: [interfaces[0]]).status == .ok)
        try fixture.write("run/systemd/netif/links/7", "ADMIN_STATE=configured\n")
        let managed = ManagerChecks.networkd(fixture.root, interfaces: [interfaces[0]])
        #expect(managed.status == .warn && managed.found.contains("br0 (ADMIN_STATE=configured)"))
    }

    @Test func etcHidesTheSameFileNameInUsrLib() throws {
        let fixture = try Fixture()
        try running(fixture, "systemd-network", pid: 300)
        try fixture.write("usr/lib/systemd/network/99-default.network", "[Match]\nName=*\n")
        try fixture.write("etc/systemd/network/99-default.network", "[Match]\nName=eth0\n")
        #expect(ManagerChecks.networkd(fixture.root, interfaces: [interfaces[1]]).status == .ok)
    }
}
