import Glibc
import HostNetwork
import QNetSystem
import VirtualMachines

/// The three parts of `qnet apply --try`: the waiting qnet, its watchdog, and
/// `qnet apply --confirm` (see `ApplyTrial`).
struct ApplyTrialControl {
    let global: GlobalOptions

    /// How often the waiting qnet and the watchdog look for a confirmation, a signal or
    /// the deadline.
    static let pollInterval: useconds_t = 100_000

    /// Starts the watchdog, then waits for Enter, `qnet apply --confirm`, a signal or the
    /// deadline; commits or rolls back `transaction` accordingly.
    func wait(change: HostChange, transaction: HostTransaction, timeout: Double) throws {
        ApplyTrial.finish()
        guard let owner = ProcessIdentity.current() else { throw OperationFailed(description: "cannot read this process's identity from /proc") }
        var trial = ApplyTrial(owner: owner, journal: transaction.entry.fileName, deadline: monotonicSeconds() + timeout,
                               command: change.command)
        try trial.save()
        let watchdog = try startWatchdog()
        trial.watchdog = ProcessIdentity.of(watchdog)
        try trial.save()
        print("the changes are made; keep them: press Enter, or run `qnet apply --confirm`, within \(formatSeconds(timeout, maximumDecimals: 1)) s; otherwise they are rolled back")
        let outcome = waitForOutcome(deadline: trial.deadline, signals: change.change.signals)
        if case .confirmed = outcome {
            try change.commit(transaction)
            ApplyTrial.finish()
            if let identity = trial.watchdog { _ = Subprocess.stop(identity, grace: .seconds(1)) }
            print("confirmed: the changes stay")
            return
        }
        let failures = transaction.rollBack()
        ApplyTrial.finish()
        if let identity = trial.watchdog { _ = Subprocess.stop(identity, grace: .seconds(1)) }
        guard failures.isEmpty else { throw OperationFailed(description: "rolling back the try failed: \(failures.joined(separator: "; ")) (the journal is kept; run `qnet recover`)") }
        switch outcome {
        case let .signal(signal):
            Output.printError("qnet: \(signalName(signal)): rolled back every change of the try")
            throw Interrupted(signal: signal)
        default:
            throw OperationFailed(description: "not confirmed within \(formatSeconds(timeout, maximumDecimals: 1)) s: rolled back every change of the try")
        }
    }

    enum Outcome { case confirmed, timedOut, signal(Int32) }

    private func waitForOutcome(deadline: Double, signals: DeferredSignals) -> Outcome {
        var terminalOpen = true
        while monotonicSeconds() < deadline {
            if let signal = signals.take() { return .signal(signal) }
            if ApplyTrial.isConfirmed { return .confirmed }
            // Waits up to one poll interval for a key on stdin (Enter is seen at once); a
            // deferred signal and the confirmation file have no descriptor to wait on, so
            // they are checked once per interval. Bounded by the try's deadline (the while).
            let interval = Int32(Self.pollInterval / 1000)
            guard terminalOpen else {
                usleep(Self.pollInterval)  // poll interval, no stdin left to wait on; bounded by the deadline
                continue
            }
            var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, interval) > 0 {
                var byte: UInt8 = 0
                let count = read(0, &byte, 1)
                if count == 1, byte == UInt8(ascii: "\n") { return .confirmed }
                // End of input (stdin is /dev/null, a closed pipe): only the other ways confirm.
                if count <= 0 { terminalOpen = false }
            }
        }
        return .timedOut
    }

    /// `qnet [--netns N] [--state-dir D] apply --watchdog`, in its own session (a closed
    /// terminal's SIGHUP does not reach it), outliving this process.
    private func startWatchdog() throws -> pid_t {
        var arguments: [String] = []
        if let netns = global.netns { arguments += ["--netns", netns] }
        if let stateDirectory = QNetPaths.stateOverride { arguments += ["--state-dir", stateDirectory] }
        var environment: [String: String] = [:]
        for name in ["PATH", "QNET_STATE_DIR"] { if let value = getenv(name) { environment[name] = String(cString: value) } }
        return try Subprocess.startDetached(Command("/proc/self/exe", ["apply", "--watchdog"] + arguments, environment: environment), output: nil)
    }

    /// The watchdog: while the try's qnet lives, it decides; once it is gone, a confirmation
    /// commits the journal on its behalf and the deadline rolls it back (through the
    /// recovery every locking command runs).
    func watch() throws {
        if let stateDirectory = global.stateDirectory { setenv("QNET_STATE_DIR", stateDirectory, 1) }
        while let trial = ApplyTrial.current() {
            if !trial.owner.isRunning {
                if ApplyTrial.isConfirmed {
                    try commitOnBehalf(trial)
                    return
                }
                if trial.secondsLeft <= 0 {
                    let change = try HostChange.begin(global)
                    change.lock.release()
                    ApplyTrial.finish()
                    return
                }
            }
            // The owner's exit (not our child: no wait), the confirmation file and the
            // deadline have no common descriptor, so they are checked once per two poll
            // intervals; bounded by the try's deadline (its owner ends the try by then, or this
            // rolls it back once secondsLeft <= 0).
            usleep(Self.pollInterval * 2)  // poll interval; bounded by the try's deadline (above)
        }
    }

    /// `qnet apply --confirm`.
    func confirm() throws {
        if let stateDirectory = global.stateDirectory { setenv("QNET_STATE_DIR", stateDirectory, 1) }
        guard let trial = ApplyTrial.current() else { throw OperationFailed(description: "no `qnet apply --try` is waiting for confirmation") }
        try ApplyTrial.confirm()
        if trial.owner.isRunning {
            // The waiting qnet commits and removes the files; wait for it (poll every 100 ms, up to 10 s).
            let deadline = Deadline.after(seconds: 10)
            while ApplyTrial.current() != nil, !deadline.hasPassed { usleep(Self.pollInterval) }  // poll interval; bounded by the 10 s deadline
            guard ApplyTrial.current() == nil else { throw OperationFailed(description: "`\(trial.command)` (pid \(trial.owner.pid)) did not take the confirmation within 10 s") }
        } else {
            try commitOnBehalf(trial)
            if let watchdog = trial.watchdog { _ = Subprocess.stop(watchdog, grace: .seconds(1)) }
        }
        print("confirmed `\(trial.command)`: the changes stay")
    }

    /// The try's qnet is gone and the try is confirmed: its journal is removed under the
    /// namespace lock (without recovering it first), which commits its changes.
    private func commitOnBehalf(_ trial: ApplyTrial) throws {
        let change = try HostChange.begin(global, recovering: false)
        try Recovery.journal.discard(fileName: trial.journal)
        change.lock.release()
        ApplyTrial.finish()
    }
}
