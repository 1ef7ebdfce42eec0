import Foundation
@testable import HostChecks
import QNetTestSupport
import Testing

@Suite struct ReportTests {
    let report = DoctorReport(checks: [
        CheckResult(id: "tun.device", status: .ok, title: "TUN device", found: "/dev/net/tun: character device 10:200"),
        CheckResult(id: "kvm.runs", status: .warn, title: "KVM runs guests", found: "no", remedy: "line one\nline two"),
        CheckResult(id: "tun.access", status: .fail, title: "TUN access", found: "denied", remedy: "chmod 0666 /dev/net/tun"),
    ])

    @Test func jsonSchemaVersion1() throws {
        let text = try report.jsonText()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["schemaVersion", "checks", "summary"])
        #expect(object["schemaVersion"] as? Int == 1)
        let summary = try #require(object["summary"] as? [String: Int])
        #expect(summary == ["ok": 1, "warn": 1, "fail": 1])
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.count == 3)
        for check in checks { #expect(Set(check.keys) == ["id", "status", "title", "found", "remedy"]) }
        #expect(checks[0]["remedy"] is NSNull)
        #expect(checks[2]["status"] as? String == "fail")
        #expect(text.contains("\"/dev/net/tun: character device 10:200\""))
        // Decodes back to the same report.
        #expect(try JSONDecoder().decode(DoctorReport.self, from: Data(text.utf8)) == report)
    }

    @Test func textShowsStatusTitleFoundAndFixes() {
        #expect(report.text() == """
            OK    TUN device       /dev/net/tun: character device 10:200
            WARN  KVM runs guests  no
                  fix: line one
                       line two
            FAIL  TUN access       denied
                  fix: chmod 0666 /dev/net/tun

            1 ok, 1 warn, 1 fail

            """)
    }

    @Test func passedMeansNoFailures() {
        #expect(!report.passed)
        #expect(DoctorReport(checks: Array(report.checks.prefix(2))).passed)
    }

    /// Every check id the doctor can emit, in order, on a fixture host with everything.
    @Test(canMakeDevices) func fullFixtureHostAllOK() throws {
        let fixture = try Fixture()
        try fixture.kernel(config: "CONFIG_TUN=y\nCONFIG_BRIDGE=y\nCONFIG_VHOST_NET=m\n")
        try fixture.characterDevice("dev/net/tun", major: 10, minor: 200, mode: 0o666)
        try fixture.characterDevice("dev/kvm", major: 10, minor: 232, mode: 0o666)
        try fixture.characterDevice("dev/vhost-net", major: 10, minor: 238, mode: 0o666)
        try fixture.write("sys/class/misc/tun/dev", "10:200\n")
        try fixture.makeDirectory("sys/module/bridge")
        try fixture.write("proc/self/status", "CapEff:\t000001ffffffffff\n")
        try fixture.write("proc/sys/net/ipv4/ip_forward", "1\n")
        try fixture.write("proc/sys/net/ipv6/conf/all/disable_ipv6", "0\n")
        try fixture.script("qemu-system-x86_64", "echo 'QEMU emulator version 7.2.19'")
        try fixture.script("qemu-img", "echo 'qemu-img version 7.2.19'")
        var options = DoctorOptions(root: fixture.root, user: try nobody())
        options.kvmProbe = { qemu in
            #expect(qemu.hasSuffix("/bin/qemu-system-x86_64"))
            return KVMProbeResult(verdict: .runsGuests, accelerator: "kvm", stagesReached: "3PLE", seconds: 0.02, detail: "ran", fromCache: true)
        }
        let report = HostDoctor.run(options)
        #expect(report.checks.map(\.id) == [
            "tun.device", "tun.driver", "tun.config", "tun.access", "tun.access.user",
            "bridge.driver", "net.admin",
            "qemu.binary", "qemu.img", "kvm.device", "kvm.access", "kvm.access.user", "kvm.runs",
            "vhost.device", "vhost.access", "vhost.access.user",
            "bridge.netfilter", "firewall.forward", "ip.forward", "ipv6.enabled", "ipv6.accept_ra",
            "manager.networkmanager", "manager.networkd", "journal.pending",
        ])
        #expect(report.checks.filter { $0.status != .ok }.isEmpty, "\(report.text())")
        #expect(report.passed)
    }
}
