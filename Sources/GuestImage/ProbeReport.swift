/// The micro-VM's result protocol: lines on the serial console starting with `QNET `.
///
/// Grammar (one line each; `KEY=VALUE` words separated by single spaces; values have no
/// spaces except `detail`, which is always last and runs to the end of the line). The kernel
/// may prefix a line with its timestamp (`[    2.345678] QNET ...`) and ends it with `\r\n`;
/// both are tolerated, as are any non-`QNET` lines (kernel messages, garbage):
///
///     QNET start version=1 mode=probe|serve kernel=RELEASE tools=iperf3|none ms=UPTIME
///     QNET step=NAME ok=0|1 ms=DURATION [skipped=1] [target=T] [KEY=VALUE...] detail=TEXT
///     QNET ready iface=eth0 addr=A.B.C.D/LEN mac=MAC [addr6=IP6] [dhcp6=IP6] ms=UPTIME   (serve mode)
///     QNET done ok=0|1 ms=UPTIME
///     QNET stop reason=acpi|lifetime ms=UPTIME                           (serve mode)
///
/// Step names, in the order they run: `link` (iface, mac, driver), `address` (method
/// dhcp|static, addr, router, dns, server, lease), `iperf-server` (port; serve mode),
/// `gateway` and `ping` (target, rtt in ms, tries), `dns` (target, server, addrs
/// comma-separated), `iperf` (target HOST:PORT, bps, seconds, reverse). With `qnet.ipv6=1`:
/// `slaac` (addr with its length, router, mtu6: the IPv6 MTU) and `dhcp6` (addr, server) after `address`, then
/// `gateway6` and `ping6` after the IPv4 pings, and `dns6` (AAAA addrs) after `dns`. A step that could
/// not run because an earlier one failed is reported with `ok=0 skipped=1`.
/// `ms` of a step is its duration; `ms` elsewhere is the guest's uptime.
public struct ProbeStep: Equatable, Sendable, Codable {
    public var name: String
    public var ok: Bool
    /// Not attempted because an earlier step failed.
    public var skipped: Bool
    public var milliseconds: Int
    public var target: String?
    /// Every other `KEY=VALUE` of the line (e.g. `addr`, `mac`, `rtt`, `bps`).
    public var fields: [String: String]
    public var detail: String

    public init(name: String, ok: Bool, skipped: Bool = false, milliseconds: Int, target: String? = nil,
                fields: [String: String] = [:], detail: String = "") {
        self.name = name
        self.ok = ok
        self.skipped = skipped
        self.milliseconds = milliseconds
        self.target = target
        self.fields = fields
        self.detail = detail
    }
}

/// The guest's first line: it booted and read its instructions.
public struct ProbeStart: Equatable, Sendable, Codable {
    public var version: Int
    public var mode: String
    public var kernel: String
    public var tools: [String]
    /// Guest uptime when /init started (≈ kernel boot time).
    public var milliseconds: Int?
}

/// Serve mode: the guest has its address and answers pings.
public struct ProbeReady: Equatable, Sendable, Codable {
    public var interface: String
    public var address: String
    public var mac: String
    public var milliseconds: Int?
    /// With IPv6 steps: the SLAAC address and the DHCPv6 address (no prefix length), if any.
    public var address6: String? = nil
    public var dhcp6: String? = nil
}

/// One parsed result line.
public enum ProbeEvent: Equatable, Sendable {
    case start(ProbeStart)
    case step(ProbeStep)
    case ready(ProbeReady)
    case done(ok: Bool, milliseconds: Int?)
    case stop(reason: String, milliseconds: Int?)

    /// Parses one console line; nil when it is not a well-formed `QNET` line.
    public init?(line rawLine: Substring) {
        var line = rawLine
        // "\r\n" is one Character in Swift, so test for newlines, not for "\n".
        while let last = line.last, last.isNewline { line = line.dropLast() }
        // Find "QNET " at the start or after a space / the kernel's "]" timestamp.
        var searchFrom = line.startIndex
        var found: Substring.Index?
        while let range = line[searchFrom...].firstRange(of: "QNET ") {
            if range.lowerBound == line.startIndex || [" ", "]", "\r", "\t"].contains(line[line.index(before: range.lowerBound)]) {
                found = range.upperBound
                break
            }
            searchFrom = range.upperBound
        }
        guard let bodyStart = found else { return nil }
        let body = line[bodyStart...]
        // Split off detail= (rest of line), then KEY=VALUE words.
        var words: Substring = body
        var detail: String?
        if let range = body.firstRange(of: "detail="), range.lowerBound == body.startIndex || body[body.index(before: range.lowerBound)] == " " {
            detail = String(body[range.upperBound...])
            words = body[..<range.lowerBound]
        }
        let tokens = words.split(separator: " ")
        guard let kind = tokens.first else { return nil }
        var fields: [String: String] = [:]
        for token in tokens.dropFirst() {
            guard let equals = token.firstIndex(of: "="), equals != token.startIndex else { return nil }
            fields[String(token[..<equals])] = String(token[token.index(after: equals)...])
        }
        func flag(_ key: String) -> Bool? {
            switch fields[key] { case "1": true; case "0": false; default: nil }
        }
        func number(_ key: String) -> Int? { fields[key].flatMap { Int($0) } }

        if kind.hasPrefix("step=") {
            let name = String(kind.dropFirst(5))
            guard !name.isEmpty, let ok = flag("ok"), let milliseconds = number("ms"), let detail else { return nil }
            let skipped = flag("skipped") ?? false
            let target = fields["target"]
            for key in ["ok", "ms", "skipped", "target"] { fields[key] = nil }
            self = .step(ProbeStep(name: name, ok: ok, skipped: skipped, milliseconds: milliseconds, target: target,
                                   fields: fields, detail: detail))
            return
        }
        switch kind {
        case "start":
            guard let version = number("version"), let mode = fields["mode"] else { return nil }
            let tools = (fields["tools"] ?? "none").split(separator: ",").map(String.init).filter { $0 != "none" }
            self = .start(ProbeStart(version: version, mode: mode, kernel: fields["kernel"] ?? "", tools: tools, milliseconds: number("ms")))
        case "ready":
            guard let interface = fields["iface"], let address = fields["addr"] else { return nil }
            self = .ready(ProbeReady(interface: interface, address: address, mac: fields["mac"] ?? "", milliseconds: number("ms"),
                                     address6: fields["addr6"], dhcp6: fields["dhcp6"]))
        case "done":
            guard let ok = flag("ok") else { return nil }
            self = .done(ok: ok, milliseconds: number("ms"))
        case "stop":
            guard let reason = fields["reason"] else { return nil }
            self = .stop(reason: reason, milliseconds: number("ms"))
        default:
            return nil
        }
    }
}

/// Incremental parser for a serial log that is still growing: feed it whatever bytes
/// arrived; it returns the events of each completed line. A final line without its
/// newline is held back (it may be cut short) until more bytes complete it.
public struct ProbeLogParser: Sendable {
    private var pending: [UInt8] = []
    /// Lines longer than this are dropped (a guest result line is < 1 KiB).
    public static let maximumLineLength = 4096
    private var discardingLongLine = false

    public init() {}

    public mutating func feed(_ text: String) -> [ProbeEvent] { feed(Array(text.utf8)) }

    public mutating func feed(_ bytes: [UInt8]) -> [ProbeEvent] {
        var events: [ProbeEvent] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if !discardingLongLine, let event = ProbeEvent(line: Substring(String(decoding: pending, as: UTF8.self))) {
                    events.append(event)
                }
                pending.removeAll(keepingCapacity: true)
                discardingLongLine = false
            } else if !discardingLongLine {
                pending.append(byte)
                if pending.count > Self.maximumLineLength {
                    pending.removeAll(keepingCapacity: true)
                    discardingLongLine = true
                }
            }
        }
        return events
    }
}

/// Everything the guest reported, in order.
public struct ProbeReport: Equatable, Sendable, Codable {
    public var start: ProbeStart?
    public var steps: [ProbeStep] = []
    public var ready: ProbeReady?
    /// The guest's own verdict from `QNET done`, nil until that line arrives.
    public var done: Bool?
    /// Guest uptime at `QNET done`.
    public var doneMilliseconds: Int?
    public var stopReason: String?

    public init() {}

    /// Whether the guest finished its steps (`QNET done` seen). A log without it is truncated.
    public var isComplete: Bool { done != nil }

    /// True only when the guest finished and every step passed.
    public var ok: Bool { done == true && steps.allSatisfy(\.ok) }

    /// The steps that failed or were skipped.
    public var failedSteps: [ProbeStep] { steps.filter { !$0.ok } }

    /// The first step named `name` (and `target`, when given).
    public func step(_ name: String, target: String? = nil) -> ProbeStep? {
        steps.first { $0.name == name && (target == nil || $0.target == target) }
    }

    public mutating func apply(_ event: ProbeEvent) {
        switch event {
        case .start(let start):
            // A second start means the guest rebooted: keep only the newest run.
            self = ProbeReport()
            self.start = start
        case .step(let step): steps.append(step)
        case .ready(let ready): self.ready = ready
        case .done(let ok, let milliseconds):
            done = ok
            doneMilliseconds = milliseconds
        case .stop(let reason, _): stopReason = reason
        }
    }

    /// Parses complete lines (e.g. a whole serial log split at newlines).
    public static func parse<Lines: Sequence>(lines: Lines) -> ProbeReport where Lines.Element: StringProtocol {
        var report = ProbeReport()
        for line in lines {
            if let event = ProbeEvent(line: Substring(line)) { report.apply(event) }
        }
        return report
    }

    /// Parses a serial log. A last line without a newline is ignored (it may be cut short).
    public static func parse(log: String) -> ProbeReport {
        var parser = ProbeLogParser()
        var report = ProbeReport()
        for event in parser.feed(log) { report.apply(event) }
        return report
    }
}
