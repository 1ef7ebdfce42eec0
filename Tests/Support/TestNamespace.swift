import Foundation
import Testing

/// Whether the privileged suites can run, and whether they must.
///
/// Outside CI a machine without root skips them (and says so); with `CI=true` (or
/// `QNET_REQUIRE_PRIVILEGED=1`) they always run, so a missing capability is a failure.
public enum Privileged {
    public static let required: Bool =
        ProcessInfo.processInfo.environment["CI"] == "true" || ProcessInfo.processInfo.environment["QNET_REQUIRE_PRIVILEGED"] == "1"

    public static let available: Bool = geteuid() == 0 && FileManager.default.fileExists(atPath: "/dev/net/tun")

    /// Trait for privileged tests: enabled when possible or required.
    public static var enabled: ConditionTrait {
        .enabled(if: available || required, "needs root and /dev/net/tun (set CI=true to make this a failure instead of a skip)")
    }

    /// Trait for tests that need root but no network device (chown, mknod): enabled as root
    /// or when required, so under CI=true a run without root fails instead of skipping.
    public static var rootEnabled: ConditionTrait {
        .enabled(if: geteuid() == 0 || required, "needs root (set CI=true to make this a failure instead of a skip)")
    }
}

/// A result of running a command: status and captured output.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program and waits for it (tests only; qnet itself never runs ip).
@discardableResult
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : try locate(executable))
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read both pipes fully before waiting, so a chatty child cannot block on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

public func locate(_ program: String) throws -> String {
    for directory in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] {
        let path = "\(directory)/\(program)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw TestSupportError("\(program) not found; `make test` installs it")
}

public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A network namespace made for one test and removed after it. Its contents are
/// checked through `ip -n NAME -j ...`, a witness independent of qnet's own netlink code.
public final class TestNamespace: @unchecked Sendable {
    public let name: String
    private static let counter = Counter()

    public init(_ label: String = "t") throws {
        let serial = TestNamespace.counter.next()
        name = "qnt-\(getpid() % 100000)-\(serial)-\(label)".prefix(40).description
        let result = try run("ip", ["netns", "add", name])
        guard result.status == 0 else {
            throw TestSupportError("cannot create network namespace \(name): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        try ip("link", "set", "lo", "up")
    }

    deinit { remove() }

    /// Deletes the namespace (idempotent). Devices inside go with it.
    public func remove() {
        _ = try? run("ip", ["netns", "del", name])
    }

    /// `ip -n NAME ARGS...`; throws with ip's stderr when it fails.
    @discardableResult
    public func ip(_ arguments: String...) throws -> String {
        try ip(arguments)
    }

    @discardableResult
    public func ip(_ arguments: [String]) throws -> String {
        let result = try run("ip", ["-n", name] + arguments)
        guard result.status == 0 else {
            throw TestSupportError("ip -n \(name) \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        }
        return result.stdout
    }

    /// `ip -n NAME -j ARGS...` parsed as a JSON array of objects.
    public func json(_ arguments: String...) throws -> [[String: Any]] {
        let text = try ip(["-j"] + arguments)
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return [] }
        guard let array = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
            throw TestSupportError("unexpected ip -j output: \(text)")
        }
        // iproute2 quirk: objects a filter (e.g. `group 7`) rejects still print as {}.
        return array.filter { !$0.isEmpty }
    }

    /// A stable description of every link (name, flags, MTU, MAC, master, group) and every
    /// address, for before/after comparisons. `ip -d` is avoided: it includes bridge timers
    /// that tick between two readings.
    /// IPv6 link-local addresses and their routes are left out: the kernel adds them on
    /// its own schedule (after DAD, when carrier appears), independent of the test.
    ///
    /// Kernel quirk: a new bridge reports operstate UNKNOWN until linkwatch (which batches
    /// events for up to a second) marks it DOWN/NO-CARRIER or UP, so the summary waits
    /// for every bridge to leave UNKNOWN first (polling, with a deadline).
    public func stateSummary() throws -> String {
        _ = try waitUntil(timeout: 3, interval: 0.02) {
            try json("link", "show", "type", "bridge").allSatisfy { ($0["operstate"] as? String) != "UNKNOWN" }
        }
        let addresses = try ip("-o", "addr", "show").split(separator: "\n").filter { !$0.contains(" fe80::") }
        let routes6 = try ip("-6", "route", "show").split(separator: "\n").filter { !$0.hasPrefix("fe80::") }
        return try ip("-o", "link", "show") + addresses.joined(separator: "\n") + "\n" + ip("route", "show")
            + routes6.joined(separator: "\n")
    }

    /// One link as `ip -d -j link show dev NAME` reports it, or nil when absent.
    public func link(_ device: String) throws -> [String: Any]? {
        let result = try run("ip", ["-n", name, "-d", "-j", "link", "show", "dev", device])
        guard result.status == 0 else { return nil }
        return (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])?.first
    }

    /// The names of every interface in the namespace.
    public func linkNames() throws -> Set<String> {
        Set(try json("link", "show").compactMap { $0["ifname"] as? String })
    }

    /// Runs a command inside the namespace (`ip netns exec`).
    @discardableResult
    public func exec(_ program: String, _ arguments: [String]) throws -> CommandResult {
        try run("ip", ["netns", "exec", name, try locate(program)] + arguments)
    }
}

final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}

/// The host namespace's interfaces, to prove a test touched none of them.
public func hostLinkNames() throws -> Set<String> {
    let result = try run("ip", ["-j", "link", "show"])
    let array = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] ?? []
    return Set(array.compactMap { $0["ifname"] as? String })
}

/// Polls `condition` until it holds or `timeout` passes (no sleep-and-hope).
public func waitUntil(timeout: Double, interval: Double = 0.01, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(UInt32(interval * 1_000_000))
    }
    return try condition()
}
