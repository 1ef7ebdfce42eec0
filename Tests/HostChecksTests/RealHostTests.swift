import Foundation
@testable import HostChecks
import HostNetwork
import QNetTestSupport
import Testing

/// `qnet doctor` on the machine the tests run on.
@Suite(.serialized) struct RealHostTests {
    /// The probe runs once (≤ 5 s), then the whole doctor answers from the cache in well
    /// under a second; on this project's machines KVM must come out as "cannot run guests".
    @Test(Privileged.enabled) func doctorOnThisHost() throws {
        var template = Array((NSTemporaryDirectory() + "qnet-kvm-cache.XXXXXX").utf8CString)
        let cache = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: cache) }
        var options = DoctorOptions(network: try HostNetwork())
        options.kvmProbe = { qemu in KVMProbe.cached(qemu: qemu, cacheDirectory: cache) }
        let first = HostDoctor.run(options)
        let start = Date()
        let second = HostDoctor.run(options)
        let elapsed = Date().timeIntervalSince(start)
        print(second.text())
        print("doctor with a cached KVM verdict: \(String(format: "%.3f", elapsed)) s")
        #expect(elapsed < 1, "doctor took \(elapsed) s with the KVM verdict cached")
        #expect(second.check("kvm.runs")?.found.contains("cached for this boot") == true)
        #expect(first.checks.map(\.id) == second.checks.map(\.id))
        #expect(second.check("tun.device")?.status == .ok)
        #expect(second.check("tun.access")?.status == .ok)
        #expect(second.check("net.admin")?.status == .ok)
        #expect(second.check("qemu.binary")?.status == .ok)
        if FileManager.default.fileExists(atPath: "/dev/kvm") && ProcessInfo.processInfo.environment["QNET_KVM_WORKS"] == nil {
            let kvm = try #require(second.check("kvm.runs"))
            #expect(kvm.status == .warn)
            #expect(kvm.found.hasPrefix("KVM cannot run guests here"))
            #expect(kvm.remedy?.contains("TCG") == true)
        }
    }
}
