import Glibc
import SystemPackage

/// A termination signal that arrived while it was deferred, taken at a safe point.
public struct Interrupted: Error, Equatable, Sendable, CustomStringConvertible {
    public var signal: Int32

    public init(signal: Int32) { self.signal = signal }

    /// `interrupted by SIGTERM`.
    public var description: String { "interrupted by \(signalName(signal))" }
}

/// Holds SIGINT, SIGTERM and SIGHUP back while a multi-step operation runs, so that
/// Ctrl-C or `kill` takes effect only at the points where the operation can stop cleanly
/// (its undo steps run, nothing is left half-done).
///
/// Blocking, not handling: the signals are blocked with pthread_sigmask(2) (`trap '' ...`
/// in a shell would ignore them; this keeps them pending instead), `pending()` asks
/// sigpending(2), `take()` consumes one with sigtimedwait(2) and a zero timeout, and
/// `restore()` puts the previous mask back, at which point a signal still pending is
/// delivered with its usual effect.
///
/// The mask is per thread. Block on the main thread before other threads start (new
/// threads copy their creator's mask); a signal sent to the whole process goes to any thread
/// that does not block it. Children started with `Subprocess` get an empty mask back.
/// Not Sendable: use it on the thread that created it.
public final class DeferredSignals {
    /// The signals that ask a process to stop.
    public static let termination: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    private var set = sigset_t()
    private var previous = sigset_t()
    private var restored = false
    public let signals: [Int32]

    /// Blocks `signals` on the calling thread until `restore()`.
    public init(_ signals: [Int32] = DeferredSignals.termination) throws {
        self.signals = signals
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        let result = pthread_sigmask(SIG_BLOCK, &set, &previous)
        guard result == 0 else { throw SystemError(errno: Errno(rawValue: result), operation: "block signals") }
    }

    deinit { restore() }

    /// The first deferred signal that is pending (sent, not yet taken), without taking it.
    public func pending() -> Int32? {
        var waiting = sigset_t()
        guard sigpending(&waiting) == 0 else { return nil }
        return signals.first { sigismember(&waiting, $0) == 1 }
    }

    /// Takes one pending deferred signal, so it will not be delivered on `restore()`; nil
    /// when none is pending.
    public func take() -> Int32? {
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        while true {
            let signal = sigtimedwait(&set, nil, &zero)
            if signal > 0 { return signal }
            if errno == EINTR { continue }
            return nil  // EAGAIN: nothing pending
        }
    }

    /// Takes every pending deferred signal (each signal is pending at most once), so none
    /// is delivered on `restore()`; the first in `signals` order, or nil when none was.
    public func takeAll() -> Int32? {
        var first: Int32?
        while let signal = take() { first = first ?? signal }
        return first
    }

    /// A safe point: throws `Interrupted` (taking the signal) when one arrived since the
    /// operation began, so the caller's undo steps run and the error reaches the top.
    public func checkpoint() throws {
        if let signal = take() { throw Interrupted(signal: signal) }
    }

    /// Puts back the signal mask from before `init`. Idempotent; a signal still pending and
    /// not blocked by the old mask is delivered now (one the old mask blocked stays pending).
    public func restore() {
        guard !restored else { return }
        restored = true
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
}

/// "SIGTERM", or "signal 42" for one without a common name.
public func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGHUP: "SIGHUP"
    case SIGINT: "SIGINT"
    case SIGQUIT: "SIGQUIT"
    case SIGKILL: "SIGKILL"
    case SIGSEGV: "SIGSEGV"
    case SIGPIPE: "SIGPIPE"
    case SIGALRM: "SIGALRM"
    case SIGTERM: "SIGTERM"
    case SIGUSR1: "SIGUSR1"
    case SIGUSR2: "SIGUSR2"
    case SIGABRT: "SIGABRT"
    default: "signal \(signal)"
    }
}
