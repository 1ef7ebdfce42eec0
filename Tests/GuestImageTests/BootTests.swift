import Foundation
@testable import GuestImage
import QNetTestSupport
import Testing

/// Real boots of the micro-VM under QEMU TCG. No root needed: networking is QEMU's
/// user mode (slirp: DHCP from 10.0.2.2, DNS relay on 10.0.2.3, host loopback reachable
/// as 10.0.2.2) or a UDP socket between two QEMUs. Nothing depends on the internet: DNS
/// answers come from a dnsmasq the test starts on a loopback port.
@Suite(Host.needsGuestInputs)
struct BootTests {
    /// Boot allowance under TCG on a loaded two-core machine (a boot alone takes ~5 s).
    static let bootAllowance = 90.0

    static func report(_ guest: QEMUGuest, _ label: String) {
        let done = guest.secondsUntil { if case .done = $0 { true } else { false } }
        let start = guest.report.start?.milliseconds
        print("\(label): QEMU start → QNET done \(done.map { String(format: "%.1f s", $0) } ?? "never"); guest uptime at /init \(start.map { "\($0) ms" } ?? "?"), at done \(guest.report.doneMilliseconds.map { "\($0) ms" } ?? "?"); "
              + guest.report.steps.map { "\($0.name)\($0.target.map { "(\($0))" } ?? "") \($0.ok ? "ok" : "FAIL") \($0.milliseconds) ms" }.joined(separator: ", "))
    }

    /// A DNS server on 127.0.0.1:PORT that knows one name and refuses the rest (no upstream).
    static func startDNS() throws -> (HelperProcess, Int) {
        let port = try freePort(udp: true)
        let dnsmasq = try HelperProcess("dnsmasq", ["--no-daemon", "--conf-file=/dev/null", "--port=\(port)", "--listen-address=127.0.0.1",
                                                    "--bind-interfaces", "--no-resolv", "--no-hosts", "--address=/probe.test/192.0.2.7",
                                                    "--pid-file="])
        guard waitUntil(timeout: 10, { isListening(port: port, udp: true) }) else { throw TestSupportError("dnsmasq did not start on port \(port)") }
        return (dnsmasq, port)
    }

    /// (a) No NIC: the link step fails cleanly, later steps are reported as skipped, and the guest powers itself off.
    @Test func withoutNICReportsLinkFailureAndPowersOff() throws {
        let image = try SharedImage.get()
        let scratch = try ScratchDirectory("boot-nonic")
        let plan = ProbePlan(targets: ["10.0.0.1"], dnsName: "example.org", stepTimeout: 3)
        let guest = try QEMUGuest(image: image, plan: plan, scratch: scratch, name: "nonic", network: ["-nic", "none"])
        #expect(guest.waitForExit(timeout: Self.bootAllowance + Double(plan.worstCaseStepSeconds)), "\(guest.diagnostics)")
        Self.report(guest, "no NIC")
        let report = guest.report
        #expect(report.start?.mode == "probe" && report.start?.version == 1, "\(guest.diagnostics)")
        #expect(report.start?.kernel == Host.release)
        let link = try #require(report.step("link"), "\(guest.diagnostics)")
        #expect(!link.ok && link.detail == "no network interface (the VM has no NIC)")
        #expect(report.steps.map(\.name) == ["link", "address", "ping", "dns"])
        #expect(report.steps.dropFirst().allSatisfy { !$0.ok && $0.skipped })
        #expect(report.step("ping")?.target == "10.0.0.1")
        #expect(report.isComplete && report.done == false && !report.ok)
        #expect(guest.process.exitStatus == 0, "QEMU should exit because the guest powered off")
    }

    /// (b) virtio-net on user networking: DHCP lease from slirp, ping to its gateway and DNS
    /// relay (slirp answers ICMP echo for 10.0.2.2 and 10.0.2.3 itself), a name resolved by
    /// a dnsmasq on the host, and iperf3 in the guest against an iperf3 server on the host.
    @Test func virtioNetOnUserNetworking() throws {
        let image = try SharedImage.get()
        let scratch = try ScratchDirectory("boot-virtio")
        let (dnsmasq, dnsPort) = try Self.startDNS()
        defer { withExtendedLifetime(dnsmasq) {} }
        let iperfPort = try freePort()
        let iperfServer = try HelperProcess("iperf3", ["-s", "-1", "-B", "127.0.0.1", "-p", "\(iperfPort)"])
        defer { withExtendedLifetime(iperfServer) {} }
        #expect(waitUntil(timeout: 10) { isListening(port: iperfPort) })

        let plan = ProbePlan(targets: ["10.0.2.3"], dnsName: "probe.test", dnsServer: "10.0.2.2:\(dnsPort)", stepTimeout: 10,
                             hostname: "qnet-probe", iperf: image.tools.contains("iperf3") ? .init(host: "10.0.2.2", port: iperfPort, seconds: 2) : nil)
        let guest = try QEMUGuest(image: image, plan: plan, scratch: scratch, name: "virtio", network: [
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:99",
        ])
        #expect(guest.waitForExit(timeout: Self.bootAllowance + Double(plan.worstCaseStepSeconds)), "\(guest.diagnostics)")
        Self.report(guest, "virtio-net, user networking")
        let report = guest.report
        let link = try #require(report.step("link"), "\(guest.diagnostics)")
        #expect(link.ok && link.fields["driver"] == "virtio_net" && link.fields["mac"] == "52:54:00:12:34:99" && link.fields["iface"] == "eth0")
        let address = try #require(report.step("address"))
        #expect(address.ok && address.fields["method"] == "dhcp" && address.fields["addr"] == "10.0.2.15/24", "\(address)")
        #expect(address.fields["router"] == "10.0.2.2" && address.fields["dns"] == "10.0.2.3")
        #expect(report.step("gateway", target: "10.0.2.2")?.ok == true, "\(guest.diagnostics)")
        #expect(report.step("ping", target: "10.0.2.3")?.ok == true)
        let dns = try #require(report.step("dns"))
        #expect(dns.ok && dns.fields["addrs"] == "192.0.2.7" && dns.target == "probe.test", "\(dns)")
        if plan.iperf != nil {
            let iperf = try #require(report.step("iperf"), "\(guest.diagnostics)")
            #expect(iperf.ok && (Int(iperf.fields["bps"] ?? "") ?? 0) > 1_000_000, "\(iperf)")
        }
        #expect(report.ok, "\(guest.diagnostics)")
    }

    /// The e1000 and rtl8139 models load their drivers (and mii), and a name the DNS
    /// server refuses is a failed step with the reason, not a hang.
    @Test(arguments: [("e1000", "e1000"), ("rtl8139", "8139cp")])
    func otherNICModels(model: String, driver: String) throws {
        let image = try SharedImage.get()
        let scratch = try ScratchDirectory("boot-\(model)")
        let (dnsmasq, dnsPort) = try Self.startDNS()
        defer { withExtendedLifetime(dnsmasq) {} }
        let plan = ProbePlan(dnsName: "nothing.invalid", dnsServer: "10.0.2.2:\(dnsPort)", stepTimeout: 10)
        let guest = try QEMUGuest(image: image, plan: plan, scratch: scratch, name: model,
                                  network: ["-netdev", "user,id=n0", "-device", "\(model),netdev=n0"])
        #expect(guest.waitForExit(timeout: Self.bootAllowance + Double(plan.worstCaseStepSeconds)), "\(guest.diagnostics)")
        Self.report(guest, model)
        let report = guest.report
        #expect(report.step("link")?.fields["driver"] == driver, "\(guest.diagnostics)")
        #expect(report.step("address")?.fields["addr"] == "10.0.2.15/24")
        #expect(report.step("gateway")?.ok == true)
        let dns = try #require(report.step("dns"))
        #expect(!dns.ok && dns.detail.contains("REFUSED"), "\(dns)")
        #expect(report.failedSteps.map(\.name) == ["dns"] && report.done == false)
    }

    /// Serve mode: `QNET ready` once addressed, iperf3 server reachable from the host, and
    /// the ACPI power button (`system_powerdown`) powers the guest off.
    @Test func serveModeStopsOnACPIPowerButton() throws {
        let image = try SharedImage.get()
        try #require(image.tools.contains("iperf3") || !Privileged.required, "iperf3 missing from the image")
        let scratch = try ScratchDirectory("boot-serve")
        let forwarded = try freePort()
        let plan = ProbePlan(mode: .serve, stepTimeout: 10, iperfServerPort: image.tools.contains("iperf3") ? 5201 : nil)
        let guest = try QEMUGuest(image: image, plan: plan, scratch: scratch, name: "serve", network: [
            "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:\(forwarded)-:5201", "-device", "virtio-net-pci,netdev=n0",
        ])
        #expect(guest.wait(timeout: Self.bootAllowance + Double(plan.worstCaseStepSeconds)) { $0.isComplete }, "\(guest.diagnostics)")
        Self.report(guest, "serve")
        #expect(guest.report.ready?.address == "10.0.2.15/24" && guest.report.ok, "\(guest.diagnostics)")
        if plan.iperfServerPort != nil {
            let client = try run("iperf3", ["-c", "127.0.0.1", "-p", "\(forwarded)", "-t", "1", "--connect-timeout", "5000"])
            #expect(client.status == 0 && client.stdout.contains("receiver"), "\(client.stdout)\(client.stderr)")
        }
        #expect(guest.process.isRunning, "serve mode must stay up")
        let pressed = Date()
        try guest.monitor("system_powerdown")
        #expect(guest.waitForExit(timeout: 30), "\(guest.diagnostics)")
        #expect(guest.report.stopReason == "acpi")
        print("serve: ACPI power button → QEMU exit \(String(format: "%.1f s", Date().timeIntervalSince(pressed)))")
    }

    /// `qnet.acpi=ignore`: the power button does nothing (a guest that needs QMP `quit`);
    /// the lifetime still ends it.
    @Test func serveModeCanIgnoreACPI() throws {
        let image = try SharedImage.get()
        let scratch = try ScratchDirectory("boot-ignore")
        let plan = ProbePlan(mode: .serve, addressing: .address("10.0.2.20/24"), gateway: .none, stepTimeout: 5, acpi: .ignore, lifetime: 12)
        let guest = try QEMUGuest(image: image, plan: plan, scratch: scratch, name: "ignore",
                                  network: ["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"])
        #expect(guest.wait(timeout: Self.bootAllowance + Double(plan.worstCaseStepSeconds)) { $0.isComplete }, "\(guest.diagnostics)")
        #expect(guest.report.ready?.address == "10.0.2.20/24" && guest.report.step("address")?.fields["method"] == "static", "\(guest.diagnostics)")
        try guest.monitor("system_powerdown")
        #expect(!guest.wait(timeout: 4) { $0.stopReason != nil }, "the power button must be ignored")
        #expect(guest.process.isRunning)
        #expect(guest.waitForExit(timeout: 60), "\(guest.diagnostics)")
        #expect(guest.report.stopReason == "lifetime")
    }

    /// Two guests on one wire (a UDP socket between two QEMUs) with static addresses ping
    /// each other while both stay up.
    @Test func twoGuestsPingEachOther() throws {
        let image = try SharedImage.get()
        let scratch = try ScratchDirectory("boot-pair")
        let portA = try freePort(udp: true), portB = try freePort(udp: true)
        func plan(_ mine: String, _ peer: String) -> ProbePlan {
            ProbePlan(mode: .serve, addressing: .address("192.168.77.\(mine)/24"), gateway: .none, targets: ["192.168.77.\(peer)"],
                      stepTimeout: 60, lifetime: 600)
        }
        let a = try QEMUGuest(image: image, plan: plan("1", "2"), scratch: scratch, name: "a", network: [
            "-netdev", "socket,id=n0,udp=127.0.0.1:\(portB),localaddr=127.0.0.1:\(portA)", "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:77:00:01",
        ])
        let b = try QEMUGuest(image: image, plan: plan("2", "1"), scratch: scratch, name: "b", network: [
            "-netdev", "socket,id=n0,udp=127.0.0.1:\(portA),localaddr=127.0.0.1:\(portB)", "-device", "e1000,netdev=n0,mac=52:54:00:77:00:02",
        ])
        let deadline = Self.bootAllowance + 60
        #expect(a.wait(timeout: deadline) { $0.isComplete }, "\(a.diagnostics)")
        #expect(b.wait(timeout: deadline) { $0.isComplete }, "\(b.diagnostics)")
        Self.report(a, "pair A")
        Self.report(b, "pair B")
        #expect(a.report.step("ping", target: "192.168.77.2")?.ok == true, "\(a.diagnostics)")
        #expect(b.report.step("ping", target: "192.168.77.1")?.ok == true, "\(b.diagnostics)")
        #expect(a.report.ready?.mac == "52:54:00:77:00:01" && b.report.ready?.mac == "52:54:00:77:00:02")
        #expect(a.process.isRunning && b.process.isRunning)
    }
}
