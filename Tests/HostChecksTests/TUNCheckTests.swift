import Foundation
@testable import HostChecks
import QNetTestSupport
import Testing
import QNetSystem

@Suite struct TUNCheckTests {
    // MARK: tun.device

    @Test func deviceMissingWithDriverRegisteredSaysMknod() throws {
        let fixture = try Fixture()
        try fixture.write("sys/class/misc/tun/dev", "10:200\n")
        let check = TUNChecks.device(fixture.root)
        #expect(check.status == .fail)
        #expect(check.found.contains("missing") && check.found.contains("registered"))
        #expect(check.remedy == "mkdir -p \(fixture.full("dev"))/net && mknod \(fixture.full("dev/net/tun")) c 10 200 && chmod 0666 \(fixture.full("dev/net/tun"))")
    }

    @Test func deviceMissingWithoutDriverSaysModprobe() throws {
        let fixture = try Fixture()
        let check = TUNChecks.device(fixture.root)
        #expect(check.status == .fail)
        #expect(check.remedy?.hasPrefix("modprobe tun") == true)
    }

    @Test func regularFileInsteadOfDeviceFails() throws {
        let fixture = try Fixture()
        try fixture.write("dev/net/tun", "")
        let check = TUNChecks.device(fixture.root)
        #expect(check.status == .fail)
        #expect(check.found.contains("regular file"))
        #expect(check.remedy?.hasPrefix("rm \(fixture.full("dev/net/tun")) && ") == true)
    }

    @Test(canMakeDevices) func wrongDeviceNumbersFail() throws {
        let fixture = try Fixture()
        try fixture.characterDevice("dev/net/tun", major: 1, minor: 3)
        let check = TUNChecks.device(fixture.root)
        #expect(check.status == .fail)
        #expect(check.found.contains("character device 1:3") && check.found.contains("not character device 10:200"))
    }

    @Test(canMakeDevices) func rightDeviceIsOK() throws {
        let fixture = try Fixture()
        try fixture.characterDevice("dev/net/tun", major: 10, minor: 200, mode: 0o666)
        let check = TUNChecks.device(fixture.root)
        #expect(check.status == .ok)
        #expect(check.found.contains("character device 10:200, crw-rw-rw- root:root"))
    }

    // MARK: tun.driver

    @Test func driverLoadedAsModule() throws {
        let fixture = try Fixture()
        try fixture.write("proc/modules", "bridge 311296 0 - Live 0x0\ntun 61440 2 - Live 0x0\n")
        #expect(TUNChecks.driver(fixture.root, config: nil).found.contains("loaded as a module"))
        #expect(TUNChecks.driver(fixture.root, config: nil).status == .ok)
    }

    @Test func driverBuiltInRegisteredAsMiscDevice() throws {
        let fixture = try Fixture()
        try fixture.kernel(config: nil)
        try fixture.write("sys/class/misc/tun/dev", "10:200\n")
        try fixture.write("usr/lib/modules/6.1.0-test/modules.builtin", "kernel/drivers/net/tun.ko\n")
        let check = TUNChecks.driver(fixture.root, config: nil)
        #expect(check.status == .ok)
        #expect(check.found.hasPrefix("built into the kernel"))
    }

    @Test func driverModuleNotLoadedSaysModprobe() throws {
        let fixture = try Fixture()
        let config = KernelConfig(source: "test", text: "CONFIG_TUN=m\n")
        let check = TUNChecks.driver(fixture.root, config: config)
        #expect(check.status == .fail)
        #expect(check.remedy?.hasPrefix("modprobe tun\n") == true)
    }

    @Test func driverAbsentFromKernelSaysRebuild() throws {
        let fixture = try Fixture()
        let config = KernelConfig(source: "test", text: "# CONFIG_TUN is not set\n")
        let check = TUNChecks.driver(fixture.root, config: config)
        #expect(check.status == .fail)
        #expect(check.remedy?.contains("the kernel must be rebuilt with CONFIG_TUN=y or CONFIG_TUN=m") == true)
    }

    @Test func driverUnknownWithoutConfig() throws {
        let fixture = try Fixture()
        let check = TUNChecks.driver(fixture.root, config: nil)
        #expect(check.status == .fail)
        #expect(check.remedy == "modprobe tun")
    }

    // MARK: tun.config

    @Test func configFromBootFile() throws {
        let fixture = try Fixture()
        for (text, status, found) in [("CONFIG_TUN=y\n", CheckStatus.ok, "CONFIG_TUN=y (built in)"),
                                      ("CONFIG_TUN=m\n", .ok, "CONFIG_TUN=m (module)"),
                                      ("# CONFIG_TUN is not set\n", .fail, "CONFIG_TUN is not set"),
                                      ("CONFIG_OTHER=y\n", .fail, "CONFIG_TUN is not set")] {
            try fixture.kernel(config: text)
            var problems: [String] = []
            let config = KernelConfig.load(root: fixture.root, problems: &problems)
            #expect(config?.source == fixture.full("boot/config-6.1.0-test"))
            let check = TUNChecks.config(config, problems: problems, driverPresent: false)
            #expect(check.status == status, "\(text)")
            #expect(check.found.contains(found), "\(check.found)")
            if status == .fail { #expect(check.remedy?.contains("the kernel must be rebuilt") == true) }
        }
    }

    @Test func configFromProcConfigGz() throws {
        let fixture = try Fixture()
        try fixture.kernel(config: nil)
        try fixture.write("proc/config", "CONFIG_BRIDGE=y\nCONFIG_TUN=m\n")
        let gzip = try run("gzip", [fixture.full("proc/config")])
        #expect(gzip.status == 0)
        var problems: [String] = []
        let config = try #require(KernelConfig.load(root: fixture.root, problems: &problems))
        #expect(config.source == fixture.full("proc/config.gz"))
        #expect(config["CONFIG_TUN"] == .module && config["CONFIG_BRIDGE"] == .builtIn && config["CONFIG_NOPE"] == .notSet)
        #expect(problems == ["no \(fixture.full("boot/config-6.1.0-test"))"])
    }

    @Test func configUnreadable() throws {
        let fixture = try Fixture()
        try fixture.kernel(config: nil)
        var problems: [String] = []
        let config = KernelConfig.load(root: fixture.root, problems: &problems)
        #expect(config == nil)
        let withDriver = TUNChecks.config(config, problems: problems, driverPresent: true)
        #expect(withDriver.status == .ok && withDriver.found.contains("driver is present"))
        let without = TUNChecks.config(config, problems: problems, driverPresent: false)
        #expect(without.status == .warn && without.found.contains("no \(fixture.full("proc/config.gz"))"))
        #expect(without.remedy?.hasPrefix("modprobe configs") == true)
    }

    // MARK: tun.access / tun.access.user

    @Test(canMakeDevices) func rootOnlyDeviceFailsForNobodyWithRemedy() throws {
        let fixture = try Fixture()
        try fixture.characterDevice("dev/net/tun", major: 10, minor: 200, mode: 0o600, owner: 0, group: 0)
        var options = DoctorOptions(root: fixture.root, user: try nobody())
        options.probeKVM = false
        let report = HostDoctor.run(options)
        // The invoking user here is root: the kernel lets root open it.
        #expect(report.check("tun.access")?.status == .ok)
        let check = try #require(report.check("tun.access.user"))
        #expect(check.status == .fail)
        #expect(check.title == "TUN access for nobody")
        #expect(check.found.contains("nobody (uid 65534") && check.found.contains("cannot open") && check.found.contains("crw------- root:root"))
        #expect(check.remedy?.hasPrefix("chmod 0666 \(fixture.full("dev/net/tun"))") == true)
        #expect(check.remedy?.contains("KERNEL==\"tun\", MODE=\"0666\"") == true)
        #expect(!report.passed)
    }

    @Test(canMakeDevices) func groupReadWriteDeviceIsOKForAMember() throws {
        let fixture = try Fixture()
        let member = UserIdentity(name: "member", uid: 4242, gid: 4242, groups: [4242, 4243])
        try fixture.characterDevice("dev/net/tun", major: 10, minor: 200, mode: 0o660, owner: 0, group: 4243)
        var options = DoctorOptions(root: fixture.root, user: member)
        options.invokingIdentity = try nobody()
        options.probeKVM = false
        let report = HostDoctor.run(options)
        #expect(report.check("tun.access.user")?.status == .ok)
        #expect(report.check("tun.access")?.status == .fail)
    }

    @Test(canMakeDevices) func worldReadWriteDeviceIsOKForEveryone() throws {
        let fixture = try Fixture()
        try fixture.characterDevice("dev/net/tun", major: 10, minor: 200, mode: 0o666)
        var options = DoctorOptions(root: fixture.root, user: try nobody())
        options.invokingIdentity = try nobody()
        options.probeKVM = false
        let report = HostDoctor.run(options)
        #expect(report.check("tun.access")?.status == .ok)
        #expect(report.check("tun.access.user")?.status == .ok)
    }

    @Test func accessChecksAreLeftOutWhenTheDeviceIsMissing() throws {
        let fixture = try Fixture()
        var options = DoctorOptions(root: fixture.root, user: try nobody())
        options.probeKVM = false
        let report = HostDoctor.run(options)
        #expect(report.check("tun.device")?.status == .fail)
        #expect(report.check("tun.access") == nil && report.check("tun.access.user") == nil)
    }
}
