import Foundation
import Glibc
import QNetSystem

/// Waits for the machine to be idle before a timed block, so that another user's build
/// does not land in the measurements. Reads /proc/stat: the fraction of CPU time spent
/// idle over a short window (the bench itself only sleeps meanwhile).
final class QuietGate {
    var threshold = 0.5
    var maximumWait = 5.0
    private(set) var waited = 0.0
    private(set) var gaveUp = 0

    private func cpuTimes() -> (idle: Double, total: Double) {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first else { return (0, 0) }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 5 else { return (0, 0) }
        return (fields[3] + fields[4], fields.prefix(8).reduce(0, +))
    }

    /// Idle fraction of all CPUs over `seconds`.
    func idleFraction(over seconds: Double = 0.5) -> Double {
        let before = cpuTimes()
        usleep(useconds_t(seconds * 1_000_000))
        let after = cpuTimes()
        let total = after.total - before.total
        return total > 0 ? (after.idle - before.idle) / total : 1
    }

    /// Returns once two consecutive windows are at least `threshold` idle, or after
    /// `maximumWait` seconds (counted in `gaveUp`).
    func wait(_ what: String) {
        let start = monotonicSeconds()
        var quietWindows = 0
        var announced = false
        while quietWindows < 2 {
            let idle = idleFraction()
            if idle >= threshold {
                quietWindows += 1
                continue
            }
            quietWindows = 0
            if !announced {
                log(String(format: "machine busy (%.0f%% idle) before %@; waiting for it to calm down", idle * 100, what))
                announced = true
            }
            if monotonicSeconds() - start > maximumWait {
                log("still busy after \(Int(maximumWait)) s; measuring anyway")
                gaveUp += 1
                break
            }
            usleep(2_000_000)
        }
        waited += monotonicSeconds() - start
    }
}
