import Foundation
import GuestImage
@testable import QNetCommands
import QNetTestSupport
import Testing

/// `qnet demo` end to end with a real guest (tier 4).
@Suite(.serialized, Privileged.enabled)
struct CLIDemoTests {
    /// A running `qnet demo` whose output is read as it comes.
    final class RunningDemo {
        let process = Process()
        private let output = Pipe()
        private(set) var text = ""

        init() throws {
            process.executableURL = URL(fileURLWithPath: try qnetExecutable())
            process.arguments = ["demo"]
            process.standardOutput = output
            process.standardError = output
            try process.run()
        }

        /// Reads until `marker` appears or `timeout` seconds pass; whether it appeared.
        func read(until marker: String, timeout: Double) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            let fd = output.fileHandleForReading.fileDescriptor
            var buffer = [UInt8](repeating: 0, count: 65536)
            while !text.contains(marker) {
                let remaining = deadline.timeIntervalSinceNow
                guard remaining > 0 else { return false }
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&entry, 1, Int32(min(remaining, 1) * 1000)) > 0 else { continue }
                let count = Glibc.read(fd, &buffer, buffer.count)
                if count <= 0 { return text.contains(marker) }
                text += String(decoding: buffer[..<count], as: UTF8.self)
            }
            return true
        }

        /// Reads to the end and waits for the exit status.
        func finish() -> Int32 {
            text += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return process.terminationStatus
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }

    /// Nothing a demo run made is left: its namespaces, its work directory, its processes.
    func expectNothingLeft(by pid: Int32, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let namespaces = try run("ip", ["netns", "list"]).stdout
        #expect(!namespaces.contains("qnet-demo-\(pid)-"), "\(namespaces)", sourceLocation: sourceLocation)
        #expect(try run("pgrep", ["-f", "qnet-demo-\(pid)"]).status != 0, "a process of demo \(pid) was left running", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/qnet-demo-\(pid)"), sourceLocation: sourceLocation)
    }

    /// Ctrl-C in the middle: the demo stops, cleans up and exits non-zero. What a killed
    /// demo left (named after a pid that no longer runs) is removed when the next starts.
    @Test(.timeLimit(.minutes(15)))
    func ctrlCInTheMiddleCleansUp() throws {
        let dead = try deadPid()
        try run("ip", ["netns", "add", "qnet-demo-\(dead)-lan"])
        try FileManager.default.createDirectory(atPath: "/tmp/qnet-demo-\(dead)", withIntermediateDirectories: true)
        let demo = try RunningDemo()
        // Interrupt once the VM is being started (the namespaces and dnsmasq exist).
        #expect(demo.read(until: "waiting for the guest", timeout: 120), "\(demo.text)")
        #expect(demo.text.contains("qnet-demo-\(demo.process.processIdentifier)-lan"), "\(demo.text)")
        kill(demo.process.processIdentifier, SIGINT)
        #expect(demo.finish() != 0)
        try expectNothingLeft(by: demo.process.processIdentifier)
        try expectNothingLeft(by: dead)
    }

    /// The pid of a process that has exited (and been reaped).
    func deadPid() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try locate("true"))
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    /// Two demos at once do not disturb each other (each run's names carry its pid): a second
    /// demo started, then interrupted, while the first runs, leaves the first to finish; the
    /// first prints doctor's real verdict and labels qnet's own route dump as such.
    @Test(.timeLimit(.minutes(15)))
    func twoDemosAtOnceLeaveEachOtherAlone() throws {
        let first = try RunningDemo()
        #expect(first.read(until: "waiting for the guest", timeout: 120), "\(first.text)")
        let second = try RunningDemo()
        #expect(second.read(until: "waiting for the guest", timeout: 120), "\(second.text)")
        kill(second.process.processIdentifier, SIGINT)
        #expect(second.finish() != 0)
        #expect(first.finish() == 0, "\(first.text)")
        #expect(first.text.contains("✔ demo finished"), "\(first.text)")
        try expectNothingLeft(by: first.process.processIdentifier)
        try expectNothingLeft(by: second.process.processIdentifier)

        // Doctor's verdict as doctor gave it: its summary line ("N ok, N warn, N fail").
        let doctorSummary = first.text.split(separator: "\n").first { $0.contains(" ok, ") && $0.contains(" warn, ") && $0.contains(" fail") }
        #expect(doctorSummary != nil, "\(first.text)")
        #expect(!first.text.contains("/dev/net/tun ok · bridge ok"))
        // qnet's own dumps are not passed off as `ip` commands.
        #expect(!first.text.contains("$ ip "), "\(first.text)")
        #expect(first.text.contains("qnet's own rtnetlink dump"))
    }
}

/// `qnet demo`'s work directory has a predictable name in /tmp (`/tmp/qnet-demo-PID`):
/// planted there by another user as a symlink to a directory, it is refused before anything
/// is written, named in one line, and left as it is by the demo's cleanup (tier 2: no
/// namespace is made, the demo stops at its first step).
@Suite(.serialized, Privileged.rootEnabled)
struct DemoWorkDirectoryTests {
    @Test func aPlantedWorkDirectoryIsRefusedAndLeftAlone() throws {
        let image = try GuestImageBuilder().cached(in: NSTemporaryDirectory() + "qnet-guest-test-cache").image
        // A run number no process has (pids stop at pid_max, at most 4194304).
        let names = DemoNames(run: 5_000_000 + getpid() % 100_000)
        let target = NSTemporaryDirectory() + "qnet-demotarget-\(getpid())"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: target) }
        try Data("precious".utf8).write(to: URL(fileURLWithPath: target + "/keep"))
        #expect(symlink(target, names.workDirectory) == 0)
        #expect(lchown(names.workDirectory, 65534, 65534) == 0)
        defer { unlink(names.workDirectory) }

        let lines = DemoLines()
        let demo = DemoWalkthrough(qnet: try qnetExecutable(), image: image, names: names)
        demo.say = { lines.append($0) }
        #expect(!demo.run())
        #expect(lines.all.contains { $0.contains(names.workDirectory) && $0.contains("symbolic link") }, "\(lines.all)")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: names.workDirectory)) == target, "the planted link was touched")
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["keep"], "written through the planted link")
        #expect(FileManager.default.contents(atPath: target + "/keep") == Data("precious".utf8))
        #expect(!names.lan.exists && !names.host.exists)
    }
}

/// The demo's output lines, collected.
final class DemoLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
