import CLinuxSystem
import Foundation
import QMP
import QNetTestSupport
import Testing

/// The real transport over kernel sockets: line framing, poll deadlines, SCM_RIGHTS,
/// connection retries and the 107-byte path limit.
struct UnixSocketTransportTests {
    /// A connected pair: the transport on one end, a raw descriptor (the "QEMU") on the other.
    func pair() throws -> (UnixSocketTransport, Int32) {
        var fds: [Int32] = [-1, -1]
        guard qnet_unix_stream_pair(&fds) == 0 else { throw TestSupportError("socketpair: \(errno)") }
        return (UnixSocketTransport(adopting: fds[0]), fds[1])
    }

    func write(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }

    func readAll(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &buffer, buffer.count)
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
    }

    @Test func framesLinesAcrossPartialWritesAndCRLF() throws {
        let (transport, peer) = try pair()
        defer { close(peer) }
        write(peer, "{\"a\":")
        #expect(try transport.receiveLine(before: .now + .milliseconds(50)) == .deadlinePassed)
        write(peer, "1}\r\n{\"b\":2}\n{\"c\"")
        #expect(try transport.receiveLine(before: .now + .seconds(1)) == .line("{\"a\":1}"))
        #expect(try transport.receiveLine(before: .now + .seconds(1)) == .line("{\"b\":2}"))
        #expect(try transport.receiveLine(before: .now + .milliseconds(20)) == .deadlinePassed)
        close(peer)
        #expect(try transport.receiveLine(before: .now + .seconds(1)) == .endOfStream)
    }

    @Test func deadlinesAreKeptByPoll() throws {
        let (transport, peer) = try pair()
        defer { close(peer) }
        write(peer, FakeTransport.greeting + "\n" + #"{"return": {}, "id": 1}"# + "\n")
        let client = try QMPClient(transport: transport)
        #expect(readAll(peer) == #"{"execute":"qmp_capabilities","id":1}"# + "\n")
        let start = ContinuousClock.now
        #expect(throws: QMPError.timedOut(waitingFor: "reply to 'query-status'", seconds: 0.3)) {
            try client.execute("query-status", timeout: .milliseconds(300))
        }
        let elapsed = ContinuousClock.now - start
        // The deadline was kept, not cut short (how late the answer came is the machine's business).
        #expect(elapsed >= .milliseconds(300), "\(elapsed)")
        // The late reply is discarded; the next command gets its own.
        write(peer, #"{"return": {"running": false, "status": "prelaunch"}, "id": 2}"# + "\n" + #"{"return": {"running": true, "status": "running"}, "id": 3}"# + "\n")
        #expect(try client.queryStatus() == QMPStatus(running: true, status: "running"))
    }

    @Test func passesADescriptorWithSCMRights() throws {
        let (transport, peer) = try pair()
        defer { close(peer) }
        var pipeEnds: [Int32] = [-1, -1]
        #expect(pipe(&pipeEnds) == 0)
        defer { close(pipeEnds[0]); close(pipeEnds[1]) }
        try transport.sendLine(#"{"execute":"getfd"}"#, passing: pipeEnds[1], before: .now + .seconds(1))
        var buffer = [UInt8](repeating: 0, count: 256)
        var received: Int32 = -1
        let count = qnet_receive_with_descriptor(peer, &buffer, buffer.count, &received)
        #expect(String(decoding: buffer[..<max(count, 0)], as: UTF8.self) == "{\"execute\":\"getfd\"}\n")
        #expect(received >= 0 && received != pipeEnds[1])
        // The received descriptor is the same pipe: what goes in comes out of our end.
        write(received, "through")
        close(received)
        #expect(readAll(pipeEnds[0]) == "through")
    }

    @Test func connectRetriesUntilTheSocketAppearsOrGivesUp() throws {
        let directory = try TestDirectory("sock")
        let path = directory.file("late.sock")
        // Nobody there, no retrying: ENOENT after one attempt, one clear line.
        nonisolated(unsafe) var asked = 0
        let error = #expect(throws: QMPError.self) {
            try UnixSocketTransport(connectingTo: path, timeout: .seconds(5), keepTrying: { asked += 1; return false })
        }
        #expect(error == .connectFailed(path: path, errno: .noSuchFileOrDirectory))
        #expect(error?.description == "cannot connect to QMP socket '\(path)': No such file or directory (is QEMU running with this QMP socket?)")
        #expect(asked == 1, "asked \(asked) times whether to keep trying")
        // Gives up at the deadline.
        #expect(throws: QMPError.connectFailed(path: path, errno: .noSuchFileOrDirectory)) {
            try UnixSocketTransport(connectingTo: path, timeout: .milliseconds(100))
        }
        // Appears while retrying: connected.
        nonisolated(unsafe) var attempts = 0
        nonisolated(unsafe) var listener: Int32 = -1
        let transport = try UnixSocketTransport(connectingTo: path, timeout: .seconds(5), keepTrying: {
            attempts += 1
            if attempts == 3 { listener = qnet_unix_listen(path) }
            return true
        })
        defer { close(listener) }
        #expect(listener >= 0 && transport.descriptor >= 0 && attempts >= 3)
    }

    /// Kernel quirk: sun_path holds 107 bytes. A longer path is reached through
    /// /proc/self/fd/N/NAME of its directory.
    @Test func socketPathsLongerThanSunPath() throws {
        let base = try TestDirectory("long")
        let directory = base.path + "/" + String(repeating: "d", count: 60) + "/" + String(repeating: "e", count: 60)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/qmp.sock"
        #expect(path.utf8.count > 107)
        let directoryFD = open(directory, O_RDONLY | O_CLOEXEC)
        defer { close(directoryFD) }
        let listener = qnet_unix_listen("/proc/self/fd/\(directoryFD)/qmp.sock")
        #expect(listener >= 0)
        defer { close(listener) }
        let transport = try UnixSocketTransport(connectingTo: path, timeout: .seconds(2), keepTrying: { false })
        let accepted = accept(listener, nil, nil)
        defer { close(accepted) }
        #expect(accepted >= 0)
        try transport.sendLine("hello", passing: nil, before: .now + .seconds(1))
        #expect(readAll(accepted) == "hello\n")
    }

    @Test func sendingToAClosedPeerIsConnectionClosedNotSIGPIPE() throws {
        let (transport, peer) = try pair()
        close(peer)
        #expect(throws: QMPError.connectionClosed(waitingFor: "sending a command")) {
            try transport.sendLine("{}", passing: nil, before: .now + .seconds(1))
        }
        transport.close()
        transport.close()
        #expect(transport.descriptor == -1)
    }
}

/// A fresh directory under /tmp, removed afterwards; short, for socket paths.
final class TestDirectory: @unchecked Sendable {
    let path: String

    init(_ label: String) throws {
        var template = Array("/tmp/qnt-\(label)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestSupportError("mkdtemp failed") }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}
