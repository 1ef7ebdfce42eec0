import ArgumentParser
import CLinuxSystem
import Glibc
import QNetSystem
import Topology

/// `qnet top [BRIDGE] [--interval S] [--iterations N]`: live per-port rates.
struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Live per-port traffic: packets/s, bits/s, drops/s and errors/s, busiest first (like iftop for bridge ports).",
        discussion: """
            Reads every port's IFLA_STATS64 counters (ip -s link) each interval and shows the rates, with the VM \
            whose NIC a TAP is. On a terminal the screen refreshes in place and fits its width (plain ANSI, works \
            over SSH); end it with Ctrl-C. --iterations N prints N plain snapshots and exits (for scripts).
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Only this bridge's ports.", transform: Parse.interfaceName)
    var bridge: String?

    @Option(help: ArgumentHelp("Seconds between readings (0.1-3600).", valueName: "seconds"))
    var interval: Double = 1

    @Option(help: ArgumentHelp("Print this many plain snapshots, then exit (default: refresh until Ctrl-C).", valueName: "n"))
    var iterations: Int?

    func validate() throws {
        guard interval.isFinite, (0.1...3600).contains(interval) else {
            throw ValidationError("invalid interval '\(interval)': use 0.1 to 3600 seconds")
        }
        if let iterations, iterations < 1 { throw ValidationError("invalid iterations '\(iterations)': use 1 or more") }
    }

    func run() throws {
        let host = try global.openHost()
        let live = iterations == nil && isatty(1) == 1
        var before = try host.bridgeTraffic(bridge: bridge)
        var readAt = monotonicSeconds()
        var shown = 0
        while iterations.map({ shown < $0 }) ?? true {
            Self.wait(seconds: interval)
            let after = try host.bridgeTraffic(bridge: bridge)
            let now = monotonicSeconds()
            let rates = TrafficRates.between(before, after, seconds: now - readAt)
            (before, readAt) = (after, now)
            shown += 1
            let title = "qnet top — \(bridge ?? "all bridges") — every \(formatted(interval)) s"
                + (iterations.map { " — snapshot \(shown)/\($0)" } ?? "")
            let lines = TopScreen.render(rates, title: title, width: Self.terminalWidth())
            // Live: home the cursor and clear the screen (ESC [H ESC [2J), then the table.
            let text = (live ? "\u{1B}[H\u{1B}[2J" : (shown > 1 ? "\n" : "")) + lines.joined(separator: "\n") + "\n"
            writeStandardOutput(Array(text.utf8))
        }
    }

    /// Waits `seconds` with poll(2) on no descriptors: a timed wait that a signal ends early
    /// (Ctrl-C then ends the process as usual). Poll interval: the whole wait, in one call,
    /// resumed until the deadline when interrupted.
    static func wait(seconds: Double) {
        let deadline = Deadline.after(seconds: seconds)
        while !deadline.hasPassed { _ = poll(nil, 0, deadline.pollMilliseconds()) }
    }

    /// The terminal's width (TIOCGWINSZ on standard output), else $COLUMNS, else 80; at least 40.
    static func terminalWidth() -> Int {
        var size = winsize()
        if qnet_ioctl_ptr(1, QNET_TIOCGWINSZ, &size) == 0, size.ws_col > 0 { return max(40, Int(size.ws_col)) }
        if let columns = getenv("COLUMNS").flatMap({ Int(String(cString: $0)) }), columns > 0 { return max(40, columns) }
        return 80
    }
}
