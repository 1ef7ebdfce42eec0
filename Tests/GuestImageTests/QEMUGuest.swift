import Foundation
import Glibc
@testable import GuestImage
import QNetTestSupport
import Testing

/// A micro-VM under QEMU TCG for one test: serial console to a file that is polled with
/// deadlines; QEMU is killed (SIGKILL) when the test ends, however it ends.
final class QEMUGuest: @unchecked Sendable {
    let process: Child
    let consoleLog: String
    let errorLog: String
    let monitorSocket: String
    let started = Date()
    private var parser = ProbeLogParser()
    private var consumed: UInt64 = 0
    private(set) var report = ProbeReport()
    /// Seconds from QEMU start to each event, for boot-time measurements.
    private(set) var eventTimes: [(ProbeEvent, Double)] = []

    /// Starts `qemu-system-x86_64 -accel tcg -m 256 -nodefaults -display none -no-reboot
    /// -kernel K -initrd I -append '...' -serial file:LOG` plus `network` arguments
    /// (e.g. `-nic none`), with an HMP monitor on a unix socket.
    init(image: GuestImage, plan: ProbePlan, scratch: ScratchDirectory, name: String, network: [String], memoryMiB: Int = 256) throws {
        consoleLog = "\(scratch.path)/\(name).console"
        errorLog = "\(scratch.path)/\(name).stderr"
        monitorSocket = "\(scratch.path)/\(name).monitor"
        _ = FileManager.default.createFile(atPath: consoleLog, contents: nil)
        _ = FileManager.default.createFile(atPath: errorLog, contents: nil)
        let arguments = ["-accel", "tcg", "-m", String(memoryMiB), "-nodefaults", "-display", "none", "-no-reboot",
                         "-serial", "file:\(consoleLog)", "-monitor", "unix:\(monitorSocket),server=on,wait=off"]
            + (try image.qemuBootArguments(plan: plan)) + network
        process = try Child("qemu-system-x86_64", arguments, stderr: errorLog)
    }

    deinit { process.kill() }

    /// Reads what the console gained since the last call and applies its events.
    func poll() {
        guard let handle = FileHandle(forReadingAtPath: consoleLog) else { return }
        defer { try? handle.close() }
        try? handle.seek(toOffset: consumed)
        let data = handle.readDataToEndOfFile()
        consumed += UInt64(data.count)
        for event in parser.feed([UInt8](data)) {
            report.apply(event)
            eventTimes.append((event, Date().timeIntervalSince(started)))
        }
    }

    /// Polls until `condition` holds for the report, QEMU exits, or `timeout` passes.
    @discardableResult
    func wait(timeout: Double, until condition: (ProbeReport) -> Bool) -> Bool {
        _ = waitUntil(timeout: timeout, interval: 0.05) {
            poll()
            return condition(report) || !process.isRunning
        }
        poll()  // QEMU may have exited with the last lines just written
        return condition(report)
    }

    /// Waits for QEMU to exit by itself (the guest powered off).
    func waitForExit(timeout: Double) -> Bool {
        let exited = waitUntil(timeout: timeout, interval: 0.05) { !process.isRunning }
        poll()
        return exited
    }

    /// Sends an HMP command (e.g. `system_powerdown`) over the monitor socket.
    func monitor(_ command: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            let bytes = Array(monitorSocket.utf8.prefix(buffer.count - 1))
            buffer.copyBytes(from: bytes)
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw TestSupportError("connect \(monitorSocket): errno \(errno)") }
        // Wait for the HMP prompt, then send the command and wait for its echo.
        var buffer = [UInt8](repeating: 0, count: 4096)
        var received = ""
        _ = waitUntil(timeout: 5) {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 { received += String(decoding: buffer[0..<count], as: UTF8.self) }
            return received.contains("(qemu)")
        }
        let line = Array((command + "\n").utf8)
        guard send(fd, line, line.count, 0) == line.count else { throw TestSupportError("monitor send failed") }
        received = ""
        _ = waitUntil(timeout: 5) {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 { received += String(decoding: buffer[0..<count], as: UTF8.self) }
            return received.components(separatedBy: "(qemu)").count > 1
        }
    }

    /// Everything QEMU and the guest wrote, for failure messages.
    var diagnostics: String {
        let console = (try? String(contentsOfFile: consoleLog, encoding: .utf8)) ?? ""
        let errors = (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? ""
        return "console:\n\(console.suffix(3000))\nqemu stderr:\n\(errors.suffix(1000))"
    }

    /// Seconds from QEMU start to the first event matching `predicate`.
    func secondsUntil(_ predicate: (ProbeEvent) -> Bool) -> Double? {
        eventTimes.first { predicate($0.0) }?.1
    }
}

/// A free TCP or UDP port on 127.0.0.1 (bound to port 0, then released).
func freePort(udp: Bool = false) throws -> Int {
    let fd = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw TestSupportError("cannot bind a free port: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something listens on 127.0.0.1:`port` (/proc/net/tcp state 0A, or a bound UDP socket).
func isListening(port: Int, udp: Bool = false) -> Bool {
    let hex = String(format: ":%04X", port)
    for file in udp ? ["/proc/net/udp", "/proc/net/udp6"] : ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 3 else { continue }
            if fields[1].hasSuffix(hex) && (udp || fields[3] == "0A") { return true }
        }
    }
    return false
}

/// A helper process (dnsmasq, iperf3) killed when the test ends.
final class HelperProcess: @unchecked Sendable {
    let process: Child
    init(_ program: String, _ arguments: [String]) throws {
        process = try Child(program, arguments)
    }
}
