#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How a check came out. `fail` means qnet cannot do its job until it is fixed (exit
/// status 1); `warn` means it works, but worse or with a trap waiting.
public enum CheckStatus: String, Codable, Sendable, CaseIterable, Comparable {
    case ok, warn, fail

    public static func < (lhs: CheckStatus, rhs: CheckStatus) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One check's outcome: what was found, and for warn/fail the exact fix.
public struct CheckResult: Codable, Sendable, Equatable {
    /// Stable identifier ("tun.device"); never renamed once published.
    public var id: String
    public var status: CheckStatus
    /// What is checked, in a few words ("TUN device").
    public var title: String
    /// What was found: values and paths.
    public var found: String
    /// The command or file change that fixes a warn/fail (may span lines); nil for ok.
    public var remedy: String?

    public init(id: String, status: CheckStatus, title: String, found: String, remedy: String? = nil) {
        self.id = id
        self.status = status
        self.title = title
        self.found = found
        self.remedy = remedy
    }

    enum CodingKeys: String, CodingKey { case id, status, title, found, remedy }

    /// `remedy` is always present (null for ok), so the schema has fixed keys.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(status, forKey: .status)
        try container.encode(title, forKey: .title)
        try container.encode(found, forKey: .found)
        try container.encode(remedy, forKey: .remedy)
    }
}

/// Everything `qnet doctor` found. JSON schema (`--json`), version 1:
/// `{"schemaVersion": 1, "checks": [{"id", "status", "title", "found", "remedy"}],
///   "summary": {"ok", "warn", "fail"}}`.
public struct DoctorReport: Codable, Sendable, Equatable {
    public struct Summary: Codable, Sendable, Equatable {
        public var ok: Int
        public var warn: Int
        public var fail: Int
    }

    public var schemaVersion: Int
    public var checks: [CheckResult]
    public var summary: Summary

    public init(checks: [CheckResult]) {
        schemaVersion = 1
        self.checks = checks
        summary = Summary(ok: checks.count { $0.status == .ok },
                          warn: checks.count { $0.status == .warn },
                          fail: checks.count { $0.status == .fail })
    }

    /// Nothing failed (warnings allowed): the exit status is 0.
    public var passed: Bool { summary.fail == 0 }

    public func check(_ id: String) -> CheckResult? { checks.first { $0.id == id } }

    /// Pretty JSON with sorted keys (stable for scripts and tests).
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The human-readable report: one line per check (status, title, what was found),
    /// the fix indented below each warn/fail, and a summary line.
    public func text() -> String {
        let titleWidth = checks.map(\.title.count).max() ?? 0
        var lines: [String] = []
        for check in checks {
            let status = check.status.rawValue.uppercased().padding(toLength: 6)
            let title = check.title.padding(toLength: titleWidth + 2)
            lines.append(status + title + check.found)
            if let remedy = check.remedy, check.status != .ok {
                let indent = String(repeating: " ", count: 6)
                let remedyLines = remedy.split(separator: "\n", omittingEmptySubsequences: false)
                for (index, line) in remedyLines.enumerated() {
                    lines.append(indent + (index == 0 ? "fix: " : "     ") + line)
                }
            }
        }
        lines.append("")
        lines.append("\(summary.ok) ok, \(summary.warn) warn, \(summary.fail) fail")
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
