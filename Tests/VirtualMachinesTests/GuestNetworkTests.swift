import Foundation
import GuestImage
import HostNetwork
import Netlink
import QNetTestSupport
import QNetTypes
import Testing
@testable import VirtualMachines

/// The micro-VM image, built once per test process (cached across runs by its inputs).
enum GuestFixture {
    static let image: Result<GuestImage, Error> = Result { try GuestImageBuilder().cached().image }

    static func definition(_ name: String, plan: ProbePlan, bridge: String = "br0") throws -> VMDefinition {
        let image = try image.get()
        return VMDefinition(name: name, memory: 256, nics: [NICSpec(bridge: bridge)], kernel: image.kernel,
                            initrd: image.initramfs, append: try plan.kernelCommandLine(), accel: .tcg, user: "nobody",
                            extraArguments: ["-no-reboot"])
    }

    /// Follows a VM's serial console until `until` holds for the report, or the deadline.
    static func follow(_ state: VMState, timeout: Double, until: (ProbeReport) -> Bool) -> ProbeReport {
        var parser = ProbeLogParser()
        var report = ProbeReport()
        var offset = 0
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: state.consoleLog), data.count > offset {
                for event in parser.feed(Array(data[offset...])) { report.apply(event) }
                offset = data.count
            }
            if until(report) { break }
            usleep(50_000)
        }
        return report
    }
}

/// Real guests under TCG passing real packets across a bridge (tier 4).
@Suite(.serialized, Privileged.enabled)
struct GuestNetworkTests {
    @Test(.timeLimit(.minutes(15)))
    func twoVMsPingEachOtherAndTheHost() throws {
        let fixture = try VMFixture("guests2")
        try fixture.host.addAddress(IPPrefix("10.20.0.1/24")!, to: "br0")
        let server = try fixture.manager.run(try GuestFixture.definition("ping-a", plan: ProbePlan(
            mode: .serve, addressing: .address("10.20.0.11/24"), gateway: .none)))
        defer { try? fixture.manager.kill("ping-a") }
        let client = try fixture.manager.run(try GuestFixture.definition("ping-b", plan: ProbePlan(
            mode: .serve, addressing: .address("10.20.0.12/24"), gateway: .none, targets: ["10.20.0.11", "10.20.0.1"], stepTimeout: 30)))
        defer { try? fixture.manager.kill("ping-b") }

        let serverReport = GuestFixture.follow(server, timeout: 90) { $0.ready != nil }
        #expect(serverReport.ready?.address == "10.20.0.11/24")
        let clientReport = GuestFixture.follow(client, timeout: 90) { $0.isComplete }
        #expect(clientReport.ok, "\(clientReport.failedSteps)")
        #expect(clientReport.step("ping", target: "10.20.0.11")?.ok == true)
        #expect(clientReport.step("ping", target: "10.20.0.1")?.ok == true)
        // And the host reaches both guests.
        for address in ["10.20.0.11", "10.20.0.12"] {
            #expect(try fixture.ns.exec("ping", ["-c", "1", "-W", "5", address]).status == 0, "host → \(address)")
        }
        // Both guests' MACs were learned on their own TAP ports (the bridge saw their frames).
        let fdb = try fixture.ns.ip("-br", "neigh", "show", "dev", "br0")
        #expect(fdb.contains("10.20.0.11") && fdb.contains("10.20.0.12"))
    }

    @Test(.timeLimit(.minutes(15)))
    func fiveVMsStartedTogetherAreAllReachable() throws {
        let fixture = try VMFixture("guests5")
        try fixture.host.addAddress(IPPrefix("10.21.0.1/24")!, to: "br0")
        let names = (1...5).map { "par\($0)" }
        var states: [VMState] = []
        defer { for name in names { try? fixture.manager.kill(name) } }
        for (index, name) in names.enumerated() {
            states.append(try fixture.manager.run(try GuestFixture.definition(name, plan: ProbePlan(
                mode: .serve, addressing: .address("10.21.0.\(21 + index)/24"), gateway: .none))))
        }
        for state in states {
            let report = GuestFixture.follow(state, timeout: 150) { $0.ready != nil }
            #expect(report.ready != nil, "\(state.name) never became ready")
        }
        for index in 0..<5 {
            #expect(try fixture.ns.exec("ping", ["-c", "1", "-W", "5", "10.21.0.\(21 + index)"]).status == 0)
        }
        // (Other suites may run VMs at the same time: look only at this test's.)
        let listed = try fixture.manager.list().filter { names.contains($0.name) }
        #expect(Set(listed.map(\.name)) == Set(names))
        #expect(listed.allSatisfy { $0.runState == "running" })
        let macs = listed.flatMap { $0.nics.map(\.mac) }
        #expect(Set(macs).count == 5)
        // Each guest answered with the MAC qnet gave it.
        let neighbours = try fixture.ns.json("neigh", "show", "dev", "br0")
        for vm in listed {
            guard let position = names.firstIndex(of: vm.name) else { continue }
            let address = "10.21.0.\(21 + position)"
            #expect(neighbours.contains { $0["dst"] as? String == address && $0["lladdr"] as? String == vm.nics[0].mac })
        }
        // (ACPI itself is covered below; here only that every VM goes, and its TAP with it.)
        for name in names { _ = try fixture.manager.stop(name, timeout: 20) }
        #expect(try !fixture.manager.list().contains { names.contains($0.name) })
        #expect(try fixture.tapNames().isEmpty)
    }

    @Test(.timeLimit(.minutes(15)))
    func stopUsesACPIAndFallsBackToQuitForAGuestThatIgnoresIt() throws {
        let fixture = try VMFixture("acpi")
        let polite = try fixture.manager.run(try GuestFixture.definition("polite", plan: ProbePlan(
            mode: .serve, addressing: .address("10.22.0.2/24"), gateway: .none, acpi: .poweroff)))
        let stubborn = try fixture.manager.run(try GuestFixture.definition("stubborn", plan: ProbePlan(
            mode: .serve, addressing: .address("10.22.0.3/24"), gateway: .none, acpi: .ignore)))
        defer { try? fixture.manager.kill("polite"); try? fixture.manager.kill("stubborn") }
        for state in [polite, stubborn] {
            #expect(GuestFixture.follow(state, timeout: 90) { $0.ready != nil }.ready != nil)
        }
        #expect(try fixture.manager.stop("polite", timeout: 30) == .poweredOff)
        let started = Date()
        #expect(try fixture.manager.stop("stubborn", timeout: 3) == .quitAfterTimeout)
        #expect(Date().timeIntervalSince(started) >= 3)
        #expect(try fixture.tapNames().isEmpty)
    }

    @Test(.timeLimit(.minutes(15)))
    func probeReportsEachStepAndFailsOnAnUnreachableTarget() throws {
        let fixture = try VMFixture("probe")
        try fixture.host.addAddress(IPPrefix("10.23.0.1/24")!, to: "br0")
        let prober = Prober(manager: fixture.manager, image: try GuestFixture.image.get())
        var seen: [String] = []
        let good = try prober.run(ProbeRequest(bridge: "br0", address: "10.23.0.9/24", gateway: "10.23.0.1",
                                               targets: ["10.23.0.1"], timeout: 90, accel: .tcg)) { seen.append($0.name) }
        #expect(good.ok, "\(good)")
        #expect(seen == ["link", "address", "gateway", "ping"])
        let bad = try prober.run(ProbeRequest(bridge: "br0", address: "10.23.0.9/24", gateway: "10.23.0.1",
                                              targets: ["10.23.0.200"], timeout: 90, accel: .tcg))
        #expect(!bad.ok)
        #expect(bad.steps.first { $0.name == "ping" }?.ok == false)
        #expect(try !fixture.manager.list().contains { $0.name.hasPrefix("probe-\(getpid())-") })
        #expect(try fixture.tapNames().isEmpty)
    }

    /// The probe's guest image may sit where QEMU's user cannot go (under a 0700 state
    /// directory): it gets the kernel and initrd as descriptors.
    @Test(.timeLimit(.minutes(15)))
    func probeBootsAnImageFromADirectoryQEMUCannotEnter() throws {
        let fixture = try VMFixture("probepriv")
        try fixture.host.addAddress(IPPrefix("10.24.0.1/24")!, to: "br0")
        let shared = try GuestFixture.image.get()
        let directory = try PrivateDirectory()
        defer { withExtendedLifetime(directory) {} }
        try FileManager.default.copyItem(atPath: shared.directory, toPath: "\(directory.path)/guest")
        let image = try #require(GuestImage.load(from: "\(directory.path)/guest"))
        let user = try #require(UserAccount.lookup("nobody"))
        #expect(!user.canAccess(image.kernel) && !user.canAccess(image.initramfs))
        let outcome = try Prober(manager: fixture.manager, image: image).run(ProbeRequest(
            bridge: "br0", address: "10.24.0.9/24", gateway: "10.24.0.1", timeout: 90, accel: .tcg, user: "nobody"))
        #expect(outcome.ok, "\(outcome)")
        #expect(outcome.steps.map(\.name) == ["link", "address", "gateway"])
        #expect(try fixture.tapNames().isEmpty)
    }
}
