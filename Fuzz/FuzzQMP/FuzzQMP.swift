// libFuzzer target: what QEMU's monitor could send. The input is parsed as one JSON text
// (JSONValue, then serialized again), and played line by line as a QMP server to a
// QMPClient: greeting, the capabilities reply, `query-status` and its events. Anything may
// throw; a trap is a finding. Seeds: Fuzz/Seeds/qmp (greetings, replies, errors, events).
import FuzzSupport
import QMP

/// A QMP server that says the input's lines, then hangs up; what the client sends is ignored.
final class ScriptedServer: QMPTransport {
    var lines: [String]
    init(_ bytes: [UInt8]) {
        lines = bytes.split(separator: 0x0a, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }
    func sendLine(_ line: String, passing descriptor: Int32?, before deadline: ContinuousClock.Instant) throws {}
    func receiveLine(before deadline: ContinuousClock.Instant) throws -> QMPReceived {
        lines.isEmpty ? .endOfStream : .line(lines.removeFirst())
    }
    func close() {}
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzQMP(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = fuzzInput(data, size)
    if let value = try? JSONValue(parsing: bytes) { _ = try? value.serialized() }
    if let client = try? QMPClient(transport: ScriptedServer(bytes), timeout: .seconds(1)) {
        _ = try? client.queryStatus()
        _ = client.drainEvents()
    }
    return 0
}

@main struct Main {
    static func main() { fuzzMain(fuzzQMP) }
}
