import Foundation
@testable import HostChecks
import QNetTestSupport
import Testing

@Suite struct KernelCheckTests {
    @Test func bridgeDriverOutcomes() throws {
        let fixture = try Fixture()
        let builtIn = KernelConfig(source: "cfg", text: "CONFIG_BRIDGE=y\n")
        let module = KernelConfig(source: "cfg", text: "CONFIG_BRIDGE=m\n")
        let missing = KernelConfig(source: "cfg", text: "# CONFIG_BRIDGE is not set\n")

        let notLoadedModule = KernelChecks.bridgeDriver(fixture.root, config: module, problems: [])
        #expect(notLoadedModule.status == .ok && notLoadedModule.found.contains("loads it when the first bridge is created"))
        let absent = KernelChecks.bridgeDriver(fixture.root, config: missing, problems: [])
        #expect(absent.status == .fail && absent.remedy?.contains("rebuilt with CONFIG_BRIDGE=y") == true)
        let unknown = KernelChecks.bridgeDriver(fixture.root, config: nil, problems: ["no /boot/config-x"])
        #expect(unknown.status == .warn && unknown.remedy == "modprobe bridge" && unknown.found.contains("no /boot/config-x"))
        #expect(KernelChecks.bridgeDriver(fixture.root, config: builtIn, problems: []).status == .ok)

        try fixture.makeDirectory("sys/module/bridge")
        let builtInPresent = KernelChecks.bridgeDriver(fixture.root, config: builtIn, problems: [])
        #expect(builtInPresent.status == .ok && builtInPresent.found.hasPrefix("built into the kernel"))
        try fixture.write("proc/modules", "bridge 311296 0 - Live 0x0\n")
        #expect(KernelChecks.bridgeDriver(fixture.root, config: module, problems: []).found.hasPrefix("loaded as a module"))
    }

    @Test func capNetAdminFromCapEff() throws {
        let fixture = try Fixture()
        try fixture.write("proc/self/status", "Name:\tqnet\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n")
        let root = KernelChecks.netAdmin(fixture.root)
        #expect(root.status == .ok && root.found.contains("1ffffffffff"))
        try fixture.write("proc/self/status", "Name:\tqnet\nCapEff:\t0000000000000000\n")
        let user = KernelChecks.netAdmin(fixture.root)
        #expect(user.status == .fail)
        #expect(user.remedy?.contains("sudo qnet") == true)
        // Exactly bit 12: CAP_NET_ADMIN alone is enough; everything but it is not.
        try fixture.write("proc/self/status", "CapEff:\t0000000000001000\n")
        #expect(KernelChecks.netAdmin(fixture.root).status == .ok)
        try fixture.write("proc/self/status", "CapEff:\t000001ffffffefff\n")
        #expect(KernelChecks.netAdmin(fixture.root).status == .fail)
        try fixture.write("proc/self/status", "Name:\tqnet\n")
        #expect(KernelChecks.netAdmin(fixture.root).status == .warn)
    }

    @Test func capNetAdminOfThisProcess() {
        let check = KernelChecks.netAdmin(.host)
        #expect(check.status == (geteuid() == 0 ? .ok : .fail))
    }
}
