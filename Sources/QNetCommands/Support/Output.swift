import HostNetwork
import QNetSystem
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

enum Output {
    /// Warns about STP's forwarding delay, which outlasts many DHCP clients' first tries.
    static func warnSTPDelay(_ forwardDelay: Double) {
        printError("warning: STP is on: each new port waits 2 × forward_delay = \(formatted(2 * forwardDelay)) s (listening, then learning) before it forwards; guests' DHCP may time out meanwhile")
    }

    static func printError(_ line: String) {
        var standardError = StandardError()
        print(line, to: &standardError)
    }

    /// JSON with sorted keys (stable output for scripts and tests).
    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return String(decoding: data, as: UTF8.self)
    }
}

/// An optional field of a `--json` report that is written as `null` when absent. Synthesised
/// `Encodable` leaves nil optionals out (`encodeIfPresent`); the README's schemas have fixed keys.
@propertyWrapper
struct NullWhenAbsent<Value: Encodable>: Encodable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

/// A library value printed as a `--json` document of its own: its keys plus
/// `"schemaVersion": 1`, like every other JSON output. (JSONEncoder merges the two keyed
/// containers asked of one encoder into one object.)
struct VersionedReport<Report: Encodable>: Encodable {
    var report: Report

    private enum Keys: String, CodingKey { case schemaVersion }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(1, forKey: .schemaVersion)
        try report.encode(to: encoder)
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { writeStandardError(string) }
}

func formatted(_ seconds: Double) -> String {
    seconds == seconds.rounded() && abs(seconds) < 1e9 ? String(Int(seconds)) : String(seconds)
}

/// write(2) on fd 1, for raw bytes (console logs) that need not be UTF-8.
func writeStandardOutput(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = Glibc.write(1, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}
