/// A synchronous QEMU Machine Protocol client for a single-threaded CLI.
///
/// Equivalent to talking to QEMU's monitor by hand with `socat - UNIX-CONNECT:qmp.sock`:
/// read the greeting `{"QMP": {"version": ..., "capabilities": [...]}}`, send
/// `{"execute": "qmp_capabilities"}`, then one command at a time, each tagged with an
/// `"id"` that QEMU echoes in its reply. Asynchronous events (`{"event": "POWERDOWN", ...}`)
/// that arrive meanwhile are queued for `drainEvents()` / `waitForEvent(named:timeout:)`.
///
/// QEMU quirks handled here:
/// - A QMP monitor serves one client at a time; a second client is accepted only when the
///   first disconnects, so its greeting never comes (reported as a timeout that says so).
/// - Until `qmp_capabilities` succeeds QEMU answers every other command with CommandNotFound.
/// - `quit` may close the socket before its reply is read; that counts as success.
///
/// Not thread-safe: use it from one thread.
public final class QMPClient {
    public let transport: QMPTransport
    /// What QEMU announced on connect.
    public let greeting: QMPGreeting
    /// The timeout of a command when none is given.
    public var defaultTimeout: Duration
    /// Events kept at most before the oldest are dropped (nobody drained them).
    public static let maximumQueuedEvents = 4096

    private var nextID: Int64 = 1
    private var events: [QMPEvent] = []

    /// Reads the greeting from `transport` and negotiates capabilities (`qmp_capabilities`).
    /// Throws `QMPError` when no greeting comes within `timeout` or it is not QMP.
    public init(transport: QMPTransport, timeout: Duration = .seconds(10)) throws {
        self.transport = transport
        self.defaultTimeout = timeout
        let deadline = ContinuousClock.now + timeout
        let waitingFor = "QMP greeting (is another client connected? QEMU serves one at a time)"
        switch try transport.receiveLine(before: deadline) {
        case .deadlinePassed:
            throw QMPError.timedOut(waitingFor: waitingFor, seconds: Self.seconds(timeout))
        case .endOfStream:
            throw QMPError.connectionClosed(waitingFor: "the QMP greeting")
        case let .line(line):
            guard let message = try? JSONValue(parsing: line),
                  let greeting = QMPGreeting(message: message) else {
                throw QMPError.unexpectedGreeting(line)
            }
            self.greeting = greeting
        }
        try execute("qmp_capabilities", timeout: timeout)
    }

    /// Connects to the QMP socket at `socketPath` (retrying while QEMU has not created it
    /// yet and `keepTrying` holds) and performs the handshake, all within `timeout`.
    public static func connect(socketPath: String, timeout: Duration = .seconds(10),
                               keepTrying: () -> Bool = { true }) throws -> QMPClient {
        let start = ContinuousClock.now
        let transport = try UnixSocketTransport(connectingTo: socketPath, timeout: timeout, keepTrying: keepTrying)
        let remaining = timeout - (ContinuousClock.now - start)
        return try QMPClient(transport: transport, timeout: max(remaining, .milliseconds(100)))
    }

    deinit { transport.close() }

    /// Closes the connection (idempotent). QEMU keeps running.
    public func close() { transport.close() }

    /// Runs `command` and returns its `"return"` value (often `{}`).
    ///
    /// `descriptor` is passed with the command as SCM_RIGHTS, for `getfd` (then referred to
    /// by `fdname`) and `add-fd`; the caller still owns and closes its copy.
    /// Throws `QMPError.commandFailed` for an `{"error": ...}` reply, `.timedOut` when no
    /// reply comes within `timeout` (default `defaultTimeout`), `.connectionClosed` when QEMU
    /// goes away. A reply that arrives after its command timed out is discarded later.
    @discardableResult
    public func execute(_ command: String, arguments: [String: JSONValue]? = nil, passing descriptor: Int32? = nil,
                        timeout: Duration? = nil) throws -> JSONValue {
        let timeout = timeout ?? defaultTimeout
        let deadline = ContinuousClock.now + timeout
        let id = nextID
        nextID += 1
        var message: [String: JSONValue] = ["execute": .string(command), "id": .integer(id)]
        if let arguments { message["arguments"] = .object(arguments) }
        try transport.sendLine(try JSONValue.object(message).serialized(), passing: descriptor, before: deadline)

        while true {
            switch try transport.receiveLine(before: deadline) {
            case .deadlinePassed:
                throw QMPError.timedOut(waitingFor: "reply to '\(command)'", seconds: Self.seconds(timeout))
            case .endOfStream:
                throw QMPError.connectionClosed(waitingFor: "the reply to '\(command)'")
            case let .line(line):
                switch try classify(line) {
                case let .event(event):
                    enqueue(event)
                case .greeting:
                    continue
                case let .reply(replyID, result):
                    // A reply without id answers a command QEMU could not parse: with one
                    // command in flight, that is ours. Other ids are late replies to
                    // commands that timed out.
                    guard replyID == nil || replyID == .integer(id) else { continue }
                    switch result {
                    case let .success(value): return value
                    case let .failure(error):
                        throw QMPError.commandFailed(command: command, class: error.errorClass, description: error.description)
                    }
                }
            }
        }
    }

    /// Every queued event plus those that have already arrived on the socket (without
    /// waiting), oldest first; the queue is then empty. Read errors are left for the next
    /// command to report.
    public func drainEvents() -> [QMPEvent] {
        while case let .line(line)? = try? transport.receiveLine(before: ContinuousClock.now) {
            if case let .event(event)? = try? classify(line) { enqueue(event) }
        }
        defer { events.removeAll() }
        return events
    }

    /// The first event called `name` (e.g. "POWERDOWN", "SHUTDOWN", "STOP"), from the queue
    /// or arriving within `timeout`. Other events stay queued in order.
    public func waitForEvent(named name: String, timeout: Duration? = nil) throws -> QMPEvent {
        if let index = events.firstIndex(where: { $0.name == name }) {
            return events.remove(at: index)
        }
        let timeout = timeout ?? defaultTimeout
        let deadline = ContinuousClock.now + timeout
        while true {
            switch try transport.receiveLine(before: deadline) {
            case .deadlinePassed:
                throw QMPError.timedOut(waitingFor: "\(name) event", seconds: Self.seconds(timeout))
            case .endOfStream:
                throw QMPError.connectionClosed(waitingFor: "the \(name) event")
            case let .line(line):
                if case let .event(event) = try classify(line) {
                    if event.name == name { return event }
                    enqueue(event)
                }
            }
        }
    }

    // MARK: - Convenience commands

    /// `query-status`: whether the CPUs run, and QEMU's run state (`prelaunch` before the
    /// first `cont` of a `-S` VM, `running`, `paused`, `shutdown`, `guest-panicked`...).
    public func queryStatus(timeout: Duration? = nil) throws -> QMPStatus {
        let reply = try execute("query-status", timeout: timeout)
        guard let running = reply["running"]?.boolValue, let status = reply["status"]?.stringValue else {
            throw QMPError.malformedMessage(reply.description, reason: "query-status reply without running/status")
        }
        return QMPStatus(running: running, status: status)
    }

    /// `cont`: start (or resume) the CPUs — the end of `-S`.
    public func cont(timeout: Duration? = nil) throws {
        try execute("cont", timeout: timeout)
    }

    /// `stop`: pause the CPUs.
    public func stop(timeout: Duration? = nil) throws {
        try execute("stop", timeout: timeout)
    }

    /// `system_powerdown`: press the ACPI power button (the guest decides whether to shut
    /// down; QEMU emits POWERDOWN).
    public func systemPowerdown(timeout: Duration? = nil) throws {
        try execute("system_powerdown", timeout: timeout)
    }

    /// `quit`: QEMU exits at once, like pulling the plug. A connection closed before the
    /// reply counts as success.
    public func quit(timeout: Duration? = nil) throws {
        do {
            try execute("quit", timeout: timeout)
        } catch QMPError.connectionClosed {
            return
        }
    }

    // MARK: - Messages

    enum Message {
        case greeting
        case event(QMPEvent)
        case reply(id: JSONValue?, Result<JSONValue, ErrorReply>)
    }

    struct ErrorReply: Error {
        var errorClass: String
        var description: String
    }

    func classify(_ line: String) throws -> Message {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: line)
        } catch {
            throw QMPError.malformedMessage(line, reason: "not JSON")
        }
        guard case let .object(members) = value else {
            throw QMPError.malformedMessage(line, reason: "not a JSON object")
        }
        if let result = members["return"] {
            return .reply(id: members["id"], .success(result))
        }
        if let error = members["error"] {
            let errorClass = error["class"]?.stringValue ?? "UnknownError"
            let description = error["desc"]?.stringValue ?? error.description
            return .reply(id: members["id"], .failure(ErrorReply(errorClass: errorClass, description: description)))
        }
        if let name = members["event"]?.stringValue {
            var timestamp: Double?
            if let seconds = value["timestamp"]?["seconds"]?.doubleValue,
               let microseconds = value["timestamp"]?["microseconds"]?.doubleValue {
                timestamp = seconds + microseconds / 1_000_000
            }
            return .event(QMPEvent(name: name, data: members["data"] ?? .object([:]), timestamp: timestamp))
        }
        if members["QMP"] != nil { return .greeting }
        throw QMPError.malformedMessage(line, reason: "neither a reply, an error nor an event")
    }

    private func enqueue(_ event: QMPEvent) {
        events.append(event)
        if events.count > Self.maximumQueuedEvents { events.removeFirst(events.count - Self.maximumQueuedEvents) }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// The greeting: QEMU's version and the optional capabilities it offers (e.g. "oob").
public struct QMPGreeting: Equatable, Sendable {
    public var major: Int
    public var minor: Int
    public var micro: Int
    /// The distribution's package string, e.g. "Debian 1:7.2+dfsg-7+deb12u18".
    public var package: String
    public var capabilities: [String]

    public init(major: Int, minor: Int, micro: Int, package: String = "", capabilities: [String] = []) {
        self.major = major
        self.minor = minor
        self.micro = micro
        self.package = package
        self.capabilities = capabilities
    }

    /// Reads `{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": "..."}, "capabilities": [...]}}`.
    public init?(message: JSONValue) {
        guard let qmp = message["QMP"], let qemu = qmp["version"]?["qemu"],
              let major = qemu["major"]?.integerValue, let minor = qemu["minor"]?.integerValue,
              let micro = qemu["micro"]?.integerValue else { return nil }
        self.major = Int(major)
        self.minor = Int(minor)
        self.micro = Int(micro)
        package = qmp["version"]?["package"]?.stringValue ?? ""
        capabilities = qmp["capabilities"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// "7.2.22".
    public var version: String { "\(major).\(minor).\(micro)" }
}

/// An asynchronous QMP event: `{"event": NAME, "data": {...}, "timestamp": {...}}`.
public struct QMPEvent: Equatable, Sendable {
    /// e.g. "POWERDOWN", "SHUTDOWN", "STOP", "RESUME", "RESET", "NIC_RX_FILTER_CHANGED".
    public var name: String
    /// The event's data (an empty object when it has none).
    public var data: JSONValue
    /// When QEMU emitted it, in seconds since the epoch.
    public var timestamp: Double?

    public init(name: String, data: JSONValue = .object([:]), timestamp: Double? = nil) {
        self.name = name
        self.data = data
        self.timestamp = timestamp
    }
}

/// The answer to `query-status`.
public struct QMPStatus: Equatable, Sendable {
    /// Whether the virtual CPUs are running.
    public var running: Bool
    /// QEMU's RunState: "prelaunch", "running", "paused", "shutdown", "inmigrate"...
    public var status: String

    public init(running: Bool, status: String) {
        self.running = running
        self.status = status
    }
}
