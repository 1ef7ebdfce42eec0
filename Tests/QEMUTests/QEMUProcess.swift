import Foundation
import QNetTestSupport

/// A QEMU started by a test with its QMP monitor on stdin/stdout (`-qmp stdio`), so the
/// test can question QEMU about what it made of an argv without any qnet code in the way.
/// Killed (SIGKILL) when the value goes away if it is still running.
final class QEMUProcess: @unchecked Sendable {
    let process = Process()
    private let input = Pipe(), output = Pipe()
    let errorLog: String
    private var buffer: [UInt8] = []

    init(_ argv: [String], workingDirectory: String, qmpOnStdio: Bool = true) throws {
        errorLog = workingDirectory + "/qemu.stderr"
        _ = FileManager.default.createFile(atPath: errorLog, contents: nil)
        process.executableURL = URL(fileURLWithPath: argv[0].hasPrefix("/") ? argv[0] : try locate(argv[0]))
        process.arguments = Array(argv.dropFirst()) + (qmpOnStdio ? ["-qmp", "stdio"] : [])
        process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
        process.standardInput = input
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorLog))
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    var stderr: String { (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "" }

    /// Sends one QMP command and returns the next reply (events are skipped).
    func execute(_ command: String, _ arguments: [String: Any]? = nil, timeout: Double = 20) throws -> [String: Any] {
        var message: [String: Any] = ["execute": command]
        if let arguments { message["arguments"] = arguments }
        let data = try JSONSerialization.data(withJSONObject: message) + Data("\n".utf8)
        try input.fileHandleForWriting.write(contentsOf: data)
        while true {
            let line = try readLine(timeout: timeout)
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw TestSupportError("not a JSON object: \(line)")
            }
            if object["return"] != nil || object["error"] != nil { return object }
        }
    }

    /// Like `execute` but returns the "return" value, throwing on an error reply.
    func result(_ command: String, _ arguments: [String: Any]? = nil) throws -> Any {
        let reply = try execute(command, arguments)
        guard let value = reply["return"] else { throw TestSupportError("\(command) failed: \(reply)") }
        return value
    }

    /// Reads the greeting and negotiates capabilities.
    func handshake() throws {
        let greeting = try readLine(timeout: 20)
        guard greeting.contains("\"QMP\"") else { throw TestSupportError("no QMP greeting: \(greeting) \(stderr)") }
        _ = try result("qmp_capabilities")
    }

    func readLine(timeout: Double) throws -> String {
        let fd = output.fileHandleForReading.fileDescriptor
        let deadline = Date().addingTimeInterval(timeout)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw TestSupportError("QEMU said nothing within \(timeout) s; stderr: \(stderr)") }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, Int32(remaining * 1000) + 1) > 0 else { continue }
            let count = read(fd, &chunk, chunk.count)
            guard count > 0 else { throw TestSupportError("QEMU closed its output; stderr: \(stderr)") }
            buffer += chunk[..<count]
        }
    }

    /// Waits (polling, with a deadline) for QEMU to exit; its exit status, or nil on timeout.
    func waitForExit(timeout: Double) -> Int32? {
        guard waitUntil(timeout: timeout, interval: 0.02, { !process.isRunning }) else { return nil }
        return process.terminationStatus
    }
}
