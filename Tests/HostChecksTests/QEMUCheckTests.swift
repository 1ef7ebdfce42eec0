import Foundation
@testable import HostChecks
import QNetTestSupport
import Testing
import QNetSystem

@Suite struct QEMUCheckTests {
    @Test func qemuMissingFailsWithInstallCommands() throws {
        let fixture = try Fixture()
        let (check, path) = QEMUChecks.binary(fixture.root, timeout: .seconds(5))
        #expect(check.status == .fail && path == nil)
        #expect(check.remedy?.contains("apt install qemu-system-x86") == true)
        #expect(check.remedy?.contains("dnf install qemu-kvm") == true)
    }

    @Test func qemuKVMIsPreferredAndItsVersionParsed() throws {
        let fixture = try Fixture()
        try fixture.script("qemu-system-x86_64", "echo 'QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)'")
        let (plain, plainPath) = QEMUChecks.binary(fixture.root, timeout: .seconds(5))
        #expect(plain.status == .ok && plainPath == fixture.full("bin/qemu-system-x86_64"))
        #expect(plain.found == "\(fixture.full("bin/qemu-system-x86_64")), QEMU 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)")
        try fixture.script("qemu-kvm", "echo 'QEMU emulator version 8.2.0 (qemu-kvm-8.2.0-11.el9)'\necho 'Copyright (c) 2003-2023 Fabrice Bellard'")
        let (kvm, kvmPath) = QEMUChecks.binary(fixture.root, timeout: .seconds(5))
        #expect(kvmPath == fixture.full("bin/qemu-kvm"))
        #expect(kvm.found.hasSuffix("QEMU 8.2.0 (qemu-kvm-8.2.0-11.el9)"))
    }

    @Test func qemuThatPrintsNoVersionWarns() throws {
        let fixture = try Fixture()
        try fixture.script("qemu-system-x86_64", "echo garbage; exit 1")
        let (check, path) = QEMUChecks.binary(fixture.root, timeout: .seconds(5))
        #expect(check.status == .warn && path != nil)
    }

    @Test func realQEMUVersion() throws {
        let (check, path) = QEMUChecks.binary(.host, timeout: .seconds(5))
        #expect(check.status == .ok, "\(check)")
        #expect(path != nil && check.found.contains("QEMU 7.") == true)
    }

    @Test func qemuImgPresentOrMissing() throws {
        let fixture = try Fixture()
        let missing = QEMUChecks.image(fixture.root, timeout: .seconds(5))
        #expect(missing.status == .warn && missing.remedy?.contains("apt install qemu-utils") == true)
        try fixture.script("qemu-img", "echo 'qemu-img version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)'")
        let present = QEMUChecks.image(fixture.root, timeout: .seconds(5))
        #expect(present.status == .ok && present.found.contains("version 7.2.19"))
    }

    @Test func versionParsing() {
        #expect(QEMUChecks.parseVersion("QEMU emulator version 7.2.19 (Debian)\nCopyright") == "7.2.19 (Debian)")
        #expect(QEMUChecks.parseVersion("qemu-img version 9.0.0\n") == "9.0.0")
        #expect(QEMUChecks.parseVersion("no version here\n") == nil)
    }

    // MARK: KVM device and access

    @Test func kvmAbsentWarnsAboutTCG() throws {
        let fixture = try Fixture()
        let (check, facts) = QEMUChecks.kvmDevice(fixture.root)
        #expect(check.status == .warn && facts == nil)
        #expect(check.found.contains("TCG"))
        #expect(check.remedy?.hasPrefix("modprobe kvm_intel") == true)
    }

    @Test(canMakeDevices) func kvmDeviceOutcomes() throws {
        let fixture = try Fixture()
        try fixture.characterDevice("dev/kvm", major: 10, minor: 231)
        #expect(QEMUChecks.kvmDevice(fixture.root).0.status == .warn)
        try FileManager.default.removeItem(atPath: fixture.full("dev/kvm"))
        try fixture.characterDevice("dev/kvm", major: 10, minor: 232, mode: 0o660, owner: 0, group: 4300)
        let (check, facts) = QEMUChecks.kvmDevice(fixture.root)
        #expect(check.status == .ok && facts != nil)
    }

    @Test(canMakeDevices) func kvmAccessDeniedSaysJoinItsGroup() throws {
        let fixture = try Fixture()
        try fixture.characterDevice("dev/kvm", major: 10, minor: 232, mode: 0o660, owner: 0, group: 4300)
        var options = DoctorOptions(root: fixture.root, user: UserIdentity(name: "member", uid: 4301, gid: 4301, groups: [4300]))
        options.invokingIdentity = UserIdentity(name: "outsider", uid: 4302, gid: 4302, groups: [])
        options.kvmProbe = { _ in Issue.record("the probe must not run without KVM access"); return KVMProbeResult(verdict: .failed, accelerator: "kvm", stagesReached: "", seconds: 0, detail: "") }
        try fixture.script("qemu-system-x86_64", "echo 'QEMU emulator version 7.2.0'")
        let report = HostDoctor.run(options)
        let denied = try #require(report.check("kvm.access"))
        #expect(denied.status == .warn)
        #expect(denied.remedy?.hasPrefix("usermod -aG 4300 outsider") == true)
        #expect(report.check("kvm.access.user")?.status == .ok)
        let runs = try #require(report.check("kvm.runs"))
        #expect(runs.status == .warn && runs.found.contains("outsider cannot open"))
    }

    @Test(canMakeDevices) func kvmAccessWithoutGroupBitsSaysChmod() throws {
        let fixture = try Fixture()
        try fixture.characterDevice("dev/kvm", major: 10, minor: 232, mode: 0o600, owner: 0, group: 0)
        let facts = try #require(FileFacts(path: fixture.full("dev/kvm")))
        let (status, remedy) = QEMUChecks.kvmDenied(path: fixture.full("dev/kvm"), facts: facts)(try nobody())
        #expect(status == .warn)
        #expect(remedy.hasPrefix("chmod 0666 \(fixture.full("dev/kvm"))"))
    }

    @Test func kvmRunsForEachVerdict() {
        let ok = QEMUChecks.kvmRuns(KVMProbeResult(verdict: .runsGuests, accelerator: "kvm", stagesReached: "3PLE", seconds: 0.1, detail: "ran", fromCache: true), skipped: nil)
        #expect(ok.status == .ok && ok.found.contains("cached for this boot") && ok.remedy == nil)
        let stalled = QEMUChecks.kvmRuns(KVMProbeResult(verdict: .stalled, accelerator: "kvm", stagesReached: "3PL", seconds: 5, detail: "slow"), skipped: nil)
        #expect(stalled.status == .warn && stalled.found.hasPrefix("KVM cannot run guests here") && stalled.remedy?.contains("TCG") == true)
        let failed = QEMUChecks.kvmRuns(KVMProbeResult(verdict: .failed, accelerator: "kvm", stagesReached: "", seconds: 0, detail: "Permission denied"), skipped: nil)
        #expect(failed.status == .warn && failed.found.contains("Permission denied"))
        let skipped = QEMUChecks.kvmRuns(nil, skipped: "no QEMU to run it with")
        #expect(skipped.status == .warn && skipped.found == "not probed: no QEMU to run it with")
    }

    // MARK: vhost-net

    @Test func vhostAbsentRemedyDependsOnTheKernel() throws {
        let fixture = try Fixture()
        let notBuilt = QEMUChecks.vhostDevice(fixture.root, config: KernelConfig(source: "/proc/config.gz", text: "# CONFIG_VHOST_NET is not set\n")).0
        #expect(notBuilt.status == .warn && notBuilt.remedy?.contains("built without CONFIG_VHOST_NET") == true)
        let module = QEMUChecks.vhostDevice(fixture.root, config: KernelConfig(source: "cfg", text: "CONFIG_VHOST_NET=m\n")).0
        #expect(module.status == .warn && module.remedy?.hasPrefix("modprobe vhost_net") == true)
    }

    @Test(canMakeDevices) func vhostPresentAndAccess() throws {
        let fixture = try Fixture()
        try fixture.characterDevice("dev/vhost-net", major: 10, minor: 238, mode: 0o660, owner: 0, group: 4400)
        let (check, facts) = QEMUChecks.vhostDevice(fixture.root, config: nil)
        #expect(check.status == .ok && facts != nil)
        var options = DoctorOptions(root: fixture.root, user: try nobody())
        options.probeKVM = false
        let report = HostDoctor.run(options)
        #expect(report.check("vhost.access")?.status == .ok)
        let user = try #require(report.check("vhost.access.user"))
        #expect(user.status == .warn && user.remedy?.hasPrefix("usermod -aG 4400 nobody") == true)
    }
}
