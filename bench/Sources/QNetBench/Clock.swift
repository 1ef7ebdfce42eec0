import Glibc
import QNetSystem

/// Runs `body` once and returns its result with the elapsed seconds.
func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = monotonicSeconds()
    let result = try body()
    return (result, monotonicSeconds() - start)
}

/// The measured samples (seconds) of one way of doing one job.
struct Series: Codable {
    var label: String
    var samples: [Double] = []

    init(_ label: String, samples: [Double] = []) {
        self.label = label
        self.samples = samples
    }

    var median: Double {
        precondition(!samples.isEmpty, "no samples for \(label)")
        let sorted = samples.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    var minimum: Double { samples.min()! }
    var maximum: Double { samples.max()! }
}

/// Thrown when a step did not do what it should have (the bench stops, loudly).
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
