import Foundation
@testable import GuestImage
import Testing

/// The kernel command line qnet writes and the result lines it reads back.
struct ProbePlanTests {
    static let base = "console=ttyS0 quiet printk.devkmsg=on panic=-1 i8042.noaux i8042.nomux i8042.nopnp 8250.nr_uarts=1 cryptomgr.notests random.trust_cpu=on"

    @Test func defaultPlan() throws {
        #expect(try ProbePlan().kernelCommandLine() == Self.base + " qnet.mode=probe qnet.addr=dhcp qnet.timeout=10")
    }

    @Test func fullProbePlan() throws {
        let plan = ProbePlan(interface: "eth0", addressing: .address("192.168.1.50/24"), gateway: .address("192.168.1.254"),
                             targets: ["192.168.1.10", "2001:db8::1"], dnsName: "debian.org", dnsServer: "192.168.1.254:5353",
                             stepTimeout: 4, hostname: "probe-1", iperf: .init(host: "192.168.1.10", port: 5202, seconds: 3, reverse: true),
                             extraKernelArguments: ["loglevel=3"])
        #expect(try plan.kernelCommandLine() == Self.base
            + " qnet.mode=probe qnet.iface=eth0 qnet.addr=192.168.1.50/24 qnet.gw=192.168.1.254 qnet.targets=192.168.1.10,2001:db8::1"
            + " qnet.dns=debian.org qnet.dnsserver=192.168.1.254:5353 qnet.timeout=4 qnet.hostname=probe-1"
            + " qnet.iperf=192.168.1.10:5202 qnet.iperf.time=3 qnet.iperf.reverse=1 loglevel=3")
    }

    @Test func servePlan() throws {
        let plan = ProbePlan(mode: .serve, addressing: .address("10.0.0.1/24"), gateway: .none, iperfServerPort: 5201,
                             acpi: .ignore, lifetime: 30)
        #expect(try plan.kernelCommandLine() == Self.base
            + " qnet.mode=serve qnet.addr=10.0.0.1/24 qnet.gw=none qnet.timeout=10 qnet.iperf.server=5201 qnet.acpi=ignore qnet.lifetime=30")
    }

    @Test(arguments: [
        (ProbePlan(addressing: .address("192.168.1.50")), "invalid address '192.168.1.50': use IPv4ADDRESS/PREFIXLEN, e.g. 192.168.1.50/24, or DHCP"),
        (ProbePlan(addressing: .address("192.168.1.500/24")), "invalid address '192.168.1.500/24': use IPv4ADDRESS/PREFIXLEN, e.g. 192.168.1.50/24, or DHCP"),
        (ProbePlan(addressing: .address("10.0.0.1/33")), "invalid address '10.0.0.1/33': use IPv4ADDRESS/PREFIXLEN, e.g. 192.168.1.50/24, or DHCP"),
        (ProbePlan(gateway: .address("gw")), "invalid gateway 'gw': use an IPv4 address, e.g. 192.168.1.254"),
        (ProbePlan(targets: ["1.2.3.4", "host name"]), "invalid target 'host name': use an IPv4 or IPv6 address, e.g. 192.168.1.254"),
        (ProbePlan(dnsName: "bad name"), "invalid DNS name 'bad name': use a host name of letters, digits, '-' and '.', at most 253 characters"),
        (ProbePlan(dnsName: "-x.org"), "invalid DNS name '-x.org': use a host name of letters, digits, '-' and '.', at most 253 characters"),
        (ProbePlan(dnsServer: "1.2.3.4:0"), "invalid DNS server '1.2.3.4:0': use an IPv4 address with an optional :PORT, e.g. 192.168.1.254 or 10.0.2.2:5353"),
        (ProbePlan(stepTimeout: 0), "invalid timeout '0': use 1 to 600 seconds"),
        (ProbePlan(hostname: "a.b"), "invalid hostname 'a.b': use one label of letters, digits and '-', at most 63 characters"),
        (ProbePlan(interface: "eth 0"), "invalid interface 'eth 0': use 1-15 characters without '/', ':', '=', ',' or whitespace"),
        (ProbePlan(iperf: .init(host: "10.0.0.1", port: 70000)), "invalid iperf3 port '70000': use 1 to 65535"),
        (ProbePlan(iperfServerPort: 5201), "invalid iperf3 server port '5201': only in serve mode"),
        (ProbePlan(mode: .serve, lifetime: 0), "invalid lifetime '0': use at least 1 second, or none for no limit"),
        (ProbePlan(extraKernelArguments: ["a b"]), "invalid kernel argument 'a b': use one word without spaces or quotes"),
    ])
    func invalidPlans(plan: ProbePlan, message: String) {
        #expect { try plan.kernelCommandLine() } throws: { error in
            guard let error = error as? GuestImageError else { return false }
            return error.description == message && error.isUsageError
        }
    }

    @Test func commandLineLimit() {
        let many = (0..<200).map { "10.0.\($0 / 256).\($0 % 256)" }
        #expect { try ProbePlan(targets: many).kernelCommandLine() } throws: { error in
            (error as? GuestImageError)?.description.hasPrefix("invalid kernel command line '") == true
        }
    }

    @Test func worstCase() {
        #expect(ProbePlan(stepTimeout: 5).worstCaseStepSeconds == 5 + 10 + 5)
        #expect(ProbePlan(addressing: .address("10.0.0.1/8"), gateway: .none, targets: ["10.0.0.2"], stepTimeout: 5).worstCaseStepSeconds == 5 + 1 + 5)
    }
}

struct ProbeReportTests {
    /// A serial log captured from a real boot (virtio-net on QEMU user networking), with
    /// the kernel's timestamps and CRLF line ends, kernel noise and a garbage line added.
    static let capturedLog = """
        \u{1b}c\u{1b}[?7l\u{1b}[2J\u{1b}[0mSeaBIOS (version 1.16.2-debian-1.16.2-1)\r
        [    0.912345] ACPI Error: something noisy\r
        [    2.105182] QNET start version=1 mode=probe kernel=6.1.0-56-amd64 tools=iperf3 ms=2080\r
        [    2.662272] QNET step=link ok=1 ms=540 iface=eth0 mac=52:54:00:12:34:56 driver=virtio_net detail=carrier up\r
        \u{00}\u{ff}garbage QNET QNETstep=x\r
        [    2.832949] QNET step=address ok=1 ms=160 method=dhcp addr=10.0.2.15/24 router=10.0.2.2 dns=10.0.2.3 server=10.0.2.2 lease=86400 detail=lease from 10.0.2.2\r
        [    2.888916] QNET step=gateway ok=1 ms=40 target=10.0.2.2 rtt=12.779 tries=1 detail=reply from 10.0.2.2\r
        [    2.925020] QNET step=ping ok=1 ms=10 target=10.0.2.3 rtt=0.813 tries=1 detail=reply from 10.0.2.3\r
        [    2.978721] QNET step=dns ok=0 ms=40 target=nothing.invalid server=10.0.2.3 detail=** server can't find nothing.invalid: NXDOMAIN\r
        [    7.309793] QNET step=iperf ok=1 ms=4320 target=10.0.2.2:5299 bps=335345610 seconds=3 reverse=0 detail=335 Mbit/s\r
        [    7.313598] QNET done ok=0 ms=7290\r
        [    7.320804] reboot: Power down\r

        """

    @Test func parsesCapturedLog() {
        let report = ProbeReport.parse(log: Self.capturedLog)
        #expect(report.start == ProbeStart(version: 1, mode: "probe", kernel: "6.1.0-56-amd64", tools: ["iperf3"], milliseconds: 2080))
        #expect(report.steps.map(\.name) == ["link", "address", "gateway", "ping", "dns", "iperf"])
        #expect(report.step("link") == ProbeStep(name: "link", ok: true, milliseconds: 540,
                                                  fields: ["iface": "eth0", "mac": "52:54:00:12:34:56", "driver": "virtio_net"],
                                                  detail: "carrier up"))
        #expect(report.step("address")?.fields["addr"] == "10.0.2.15/24")
        #expect(report.step("gateway")?.target == "10.0.2.2")
        #expect(report.step("ping", target: "10.0.2.3")?.fields["rtt"] == "0.813")
        #expect(report.step("dns")?.ok == false)
        #expect(report.step("dns")?.detail == "** server can't find nothing.invalid: NXDOMAIN")
        #expect(report.step("iperf")?.fields["bps"] == "335345610")
        #expect(report.isComplete && report.done == false && !report.ok)
        #expect(report.failedSteps.map(\.name) == ["dns"])
        #expect(report.doneMilliseconds == 7290)
        // Same result from the line-based entry point.
        #expect(ProbeReport.parse(lines: Self.capturedLog.split(whereSeparator: \.isNewline)) == report)
    }

    /// Feeding the log in every possible two-piece split gives the same events.
    @Test func incrementalParserIsSplitInvariant() {
        let bytes = Array(Self.capturedLog.utf8)
        var whole = ProbeLogParser()
        let expected = whole.feed(bytes)
        #expect(expected.count == 8)
        for cut in stride(from: 0, through: bytes.count, by: 7) {
            var parser = ProbeLogParser()
            let events = parser.feed(Array(bytes[..<cut])) + parser.feed(Array(bytes[cut...]))
            #expect(events == expected, "split at \(cut)")
        }
        var byteByByte = ProbeLogParser()
        #expect(bytes.flatMap { byteByByte.feed([$0]) } == expected)
    }

    @Test func truncatedLog() {
        let cut = Self.capturedLog.range(of: "QNET step=ping")!.upperBound
        let report = ProbeReport.parse(log: String(Self.capturedLog[..<cut]))
        #expect(report.steps.map(\.name) == ["link", "address", "gateway"])  // the cut line is not guessed at
        #expect(!report.isComplete && !report.ok)
        #expect(ProbeReport.parse(log: "").start == nil)
    }

    @Test(arguments: [
        "QNET step=link ok=2 ms=1 detail=x",           // ok must be 0 or 1
        "QNET step=link ok=1 detail=x",                // ms missing
        "QNET step=link ok=1 ms=abc detail=x",
        "QNET step=link ok=1 ms=5",                    // no detail: cut short
        "QNET step= ok=1 ms=5 detail=x",
        "QNET done",                                   // ok missing
        "QNET done ok=",                               // cut mid-value
        "QNET start mode=probe",                       // version missing
        "QNET ready addr=1.2.3.4/24",                  // iface missing
        "QNET bogus ok=1",
        "QNET step=link ok=1 ms=5 junk detail=x",      // a word without '='
        "xQNET done ok=1",                             // not at a word boundary
        "QNETdone ok=1",
        "",
    ])
    func malformedLinesAreIgnored(line: String) {
        #expect(ProbeEvent(line: Substring(line)) == nil)
    }

    @Test func detailKeepsSpacesAndEquals() {
        let event = ProbeEvent(line: "QNET step=dns ok=0 ms=3 target=a.b detail=timed out; server=1.2.3.4 said no\r\n")
        #expect(event == .step(ProbeStep(name: "dns", ok: false, milliseconds: 3, target: "a.b", detail: "timed out; server=1.2.3.4 said no")))
        #expect(ProbeEvent(line: "QNET step=address ok=0 ms=0 skipped=1 detail=skipped: no link")
            == .step(ProbeStep(name: "address", ok: false, skipped: true, milliseconds: 0, detail: "skipped: no link")))
    }

    @Test func serveEventsAndReboot() {
        var parser = ProbeLogParser()
        var report = ProbeReport()
        let log = """
            QNET start version=1 mode=serve kernel=k tools=none ms=1
            QNET ready iface=eth0 addr=10.0.0.1/24 mac=52:54:00:00:00:01 ms=2
            QNET done ok=1 ms=3
            QNET stop reason=acpi ms=9
            QNET start version=1 mode=serve kernel=k tools=none ms=1

            """
        let events = parser.feed(log)
        for event in events.prefix(4) { report.apply(event) }
        #expect(report.ready == ProbeReady(interface: "eth0", address: "10.0.0.1/24", mac: "52:54:00:00:00:01", milliseconds: 2))
        #expect(report.ok && report.stopReason == "acpi" && report.start?.tools == [])
        report.apply(events[4])
        #expect(report.ready == nil && !report.isComplete, "a new start is a new run")
    }

    @Test func overlongLinesAreDropped() {
        var parser = ProbeLogParser()
        let long = "QNET done ok=1 " + String(repeating: "x", count: 10_000) + "\nQNET done ok=1\n"
        #expect(parser.feed(long) == [.done(ok: true, milliseconds: nil)])
    }
}
