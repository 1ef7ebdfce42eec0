import Foundation
import Glibc
import QNetSystem

// MARK: - (g) `qnet probe`: a micro-VM booted on br0, from command to verdict

/// What (g) measured.
struct ProbeResults: Codable {
    /// Whole `qnet probe` processes, and the boot part each reported.
    var series: [Series]
    /// The accelerator the probes used (`tcg` where KVM is missing or its verdict says it stalls).
    var accel: String
    /// The per-boot KVM verdict (`/run/qnet/kvm-probe.json`) as the runs found it.
    var kvmVerdict: String
    /// Whether that file was left unchanged by all timed runs (so no run probed KVM again).
    var kvmVerdictReused: Bool
}

/// (g): `qnet probe br0 --address 10.77.0.2/24 --gateway 10.77.0.1` in the lab's namespace
/// (br0 given 10.77.0.1/24), the state dir alternating between two folders (each with its
/// guest cache built beforehand, untimed), so every timed run follows a state-dir change.
/// The KVM verdict is cached per boot outside the state dir; its file must not change.
func benchProbe(lab: Lab, tools: Tools, reps: Int) throws -> ProbeResults {
    try Spawn.check([tools.ip, "-n", lab.name, "addr", "add", "10.77.0.1/24", "dev", lab.bridge])
    let stateDirectories = ["\(tools.workDirectory)/state-a", "\(tools.workDirectory)/state-b"]
    for directory in stateDirectories {
        try Spawn.check([tools.qnet, "--state-dir", directory, "guest", "build"])
    }
    func probe(_ stateDirectory: String) throws -> (seconds: Double, boot: Double, accel: String) {
        let argv = [tools.qnet, "--netns", lab.name, "--state-dir", stateDirectory, "probe", lab.bridge,
                    "--address", "10.77.0.2/24", "--gateway", "10.77.0.1", "--json"]
        let start = monotonicSeconds()
        let (status, output) = try Spawn.run(argv, capture: true)
        let seconds = monotonicSeconds() - start
        guard status == 0, let report = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
              report["ok"] as? Bool == true else {
            throw BenchFailure("`\(argv.joined(separator: " "))` failed (status \(status)): \(output.prefix(600))")
        }
        return (seconds, Double(report["bootMilliseconds"] as? Int ?? 0) / 1000, report["accel"] as? String ?? "?")
    }
    // Warm-up (untimed): page cache, and the KVM verdict if this boot has none yet.
    _ = try probe(stateDirectories[0])
    let verdictPath = "/run/qnet/kvm-probe.json"
    let verdictBefore = FileManager.default.contents(atPath: verdictPath)
    var whole = Series("`qnet --netns NS --state-dir DIR probe br0 --address 10.77.0.2/24 --gateway 10.77.0.1`, DIR alternating between two state dirs")
    var boot = Series("  of which the guest's boot (QEMU started to its first result line, as the probe reports it)")
    var accel = "?"
    for rep in 0..<(2 * reps) {
        tools.gate.wait("(g) probe \(rep)")
        let run = try probe(stateDirectories[(rep + 1) % 2])
        whole.samples.append(run.seconds)
        boot.samples.append(run.boot)
        accel = run.accel
    }
    let verdictAfter = FileManager.default.contents(atPath: verdictPath)
    var verdict = "none"
    if let verdictAfter, let entry = try? JSONSerialization.jsonObject(with: verdictAfter) as? [String: Any],
       let result = entry["result"] as? [String: Any] {
        verdict = "\(result["accelerator"] as? String ?? "?") \(result["verdict"] as? String ?? "?")"
    }
    return ProbeResults(series: [whole, boot], accel: accel, kvmVerdict: verdict,
                        kvmVerdictReused: verdictBefore != nil && verdictBefore == verdictAfter)
}
