import QMP

/// A scripted QMP peer: records every line (and descriptor) sent, and answers from a
/// script. `incoming` holds what QEMU "already sent"; `replies` maps each sent line to
/// the lines that then become readable. When nothing is left to read, a receive reports
/// the deadline as passed at once (or the end of the stream once `closed` is set).
final class FakeTransport: QMPTransport {
    var incoming: [String]
    var sent: [String] = []
    var sentDescriptors: [Int32?] = []
    var replies: (String) -> [String]
    var closed = false
    var closeCount = 0

    init(incoming: [String] = [FakeTransport.greeting], replies: @escaping (String) -> [String] = FakeTransport.echoReturn) {
        self.incoming = incoming
        self.replies = replies
    }

    static let greeting = #"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18"}, "capabilities": ["oob"]}}"#

    /// Answers every command with `{"return": {}, "id": ID}` (the id copied from the command).
    static func echoReturn(_ line: String) -> [String] {
        [#"{"return": {}, "id": \#(id(of: line))}"#]
    }

    /// The "id" value in a serialized command.
    static func id(of line: String) -> String {
        guard let range = line.firstRange(of: #""id":"#) else { return "null" }
        return String(line[range.upperBound...].prefix { $0.isNumber })
    }

    func sendLine(_ line: String, passing descriptor: Int32?, before deadline: ContinuousClock.Instant) throws {
        if closed { throw QMPError.connectionClosed(waitingFor: "sending a command") }
        sent.append(line)
        sentDescriptors.append(descriptor)
        incoming += replies(line)
    }

    func receiveLine(before deadline: ContinuousClock.Instant) throws -> QMPReceived {
        if !incoming.isEmpty { return .line(incoming.removeFirst()) }
        return closed ? .endOfStream : .deadlinePassed
    }

    func close() {
        closeCount += 1
        closed = true
    }
}
