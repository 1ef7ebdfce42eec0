import Foundation
@testable import HostChecks
import HostNetwork
import QNetTestSupport
import Testing

/// `qnet doctor` on the machine the tests run on.
@Suite(.serialized) struct RealHostTests {
    /// The probe runs once, then the whole doctor answers from the cache. The KVM check says
    /// what the probe found on this machine, whichever verdict that is (the probe itself is
    /// tested with stand-in QEMUs in KVMProbeTests).
    @Test(Privileged.enabled) func doctorOnThisHost() throws {
        var template = Array((NSTemporaryDirectory() + "qnet-kvm-cache.XXXXXX").utf8CString)
        let cache = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: cache) }
        var options = DoctorOptions(network: try HostNetwork())
        options.kvmProbe = { qemu in KVMProbe.cached(qemu: qemu, cacheDirectory: cache) }
        let first = HostDoctor.run(options)
        let start = Date()
        let second = HostDoctor.run(options)
        print(second.text())
        print("doctor with a cached KVM verdict: \(String(format: "%.3f", Date().timeIntervalSince(start))) s")
        #expect(second.check("kvm.runs")?.found.contains("cached for this boot") == true)
        #expect(first.checks.map(\.id) == second.checks.map(\.id))
        #expect(second.check("tun.device")?.status == .ok)
        #expect(second.check("tun.access")?.status == .ok)
        #expect(second.check("net.admin")?.status == .ok)
        #expect(second.check("qemu.binary")?.status == .ok)
        if FileManager.default.fileExists(atPath: "/dev/kvm") {
            let stored = try Data(contentsOf: URL(fileURLWithPath: cache + "/" + KVMProbe.cacheFileName))
            let verdict = try JSONDecoder().decode(KVMProbe.CacheEntry.self, from: stored).result
            let kvm = try #require(second.check("kvm.runs"))
            if verdict.canRunGuests {
                #expect(kvm.status == .ok, "\(kvm)")
            } else {
                #expect(kvm.status == .warn, "\(kvm)")
                #expect(kvm.found.hasPrefix("KVM cannot run guests here"))
                #expect(kvm.remedy?.contains("TCG") == true)
            }
        }
    }
}
