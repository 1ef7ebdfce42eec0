import Glibc

/// Seconds on the monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`): never jumps with the
/// wall clock, so deadlines and elapsed times computed from it stay right when NTP or an
/// admin sets the date. Not comparable across boots, nor with another machine.
public func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// A point on the monotonic clock that a bounded wait must not pass.
public struct Deadline: Sendable, Equatable, Comparable {
    /// The monotonic second (see `monotonicSeconds()`) at which the wait ends.
    public var instant: Double

    public init(instant: Double) { self.instant = instant }

    /// `seconds` from now.
    public static func after(seconds: Double) -> Deadline {
        Deadline(instant: monotonicSeconds() + seconds)
    }

    /// `duration` from now.
    public static func after(_ duration: Duration) -> Deadline {
        after(seconds: duration.seconds)
    }

    /// Seconds left (0 once passed).
    public var remaining: Double { max(0, instant - monotonicSeconds()) }

    public var hasPassed: Bool { monotonicSeconds() >= instant }

    /// The time left as a `poll(2)` timeout in milliseconds, rounded up (so a wait never
    /// ends just before the deadline) and capped at `cap` milliseconds.
    public func pollMilliseconds(cap: Int32 = 60_000) -> Int32 {
        Int32(min(Double(cap), (remaining * 1000).rounded(.up)))
    }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.instant < rhs.instant }
}

extension Duration {
    /// The duration in (fractional) seconds.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// A duration for people: whole seconds without a fraction ("15"), others rounded to at most
/// `maximumDecimals` decimals without trailing zeros ("0.5", "2.25"). The unit is the
/// caller's ("… 15 s"). Echoing a value the user typed, pass more decimals so that 1.999 is
/// not shown as the allowed 2.
public func formatSeconds(_ seconds: Double, maximumDecimals: Int = 2) -> String {
    let decimals = min(max(maximumDecimals, 0), 9)
    var scale = 1
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (seconds * Double(scale)).rounded()
    guard scaled.isFinite, abs(scaled) < 1e15 else { return String(seconds) }
    let units = Int(scaled)
    let sign = units < 0 ? "-" : ""
    let whole = abs(units) / scale
    var fraction = abs(units) % scale
    if fraction == 0 { return "\(sign)\(whole)" }
    var width = decimals
    while fraction % 10 == 0 { fraction /= 10; width -= 1 }
    let digits = String(fraction)
    return "\(sign)\(whole).\(String(repeating: "0", count: width - digits.count))\(digits)"
}
