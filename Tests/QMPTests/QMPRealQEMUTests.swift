import Foundation
import QMP
import QNetTestSupport
import Testing

/// A QEMU started for one test (TCG, no privilege), killed when the value goes away.
final class RunningQEMU: @unchecked Sendable {
    let process = Process()
    let directory: TestDirectory
    let socket: String

    /// `monitorAsChardev`: the form qnet's command-line builder emits
    /// (`-chardev socket,... -mon chardev=qmp0,mode=control`) instead of `-qmp unix:...`.
    init(_ arguments: [String], monitorAsChardev: Bool = false) throws {
        directory = try TestDirectory("qmp")
        socket = directory.file("qmp,1.sock")
        let escaped = socket.replacing(",", with: ",,")
        process.executableURL = URL(fileURLWithPath: try locate("qemu-system-x86_64"))
        process.arguments = arguments + (monitorAsChardev
            ? ["-chardev", "socket,id=qmp0,path=\(escaped),server=on,wait=off", "-mon", "chardev=qmp0,mode=control"]
            : ["-qmp", "unix:\(escaped),server=on,wait=off"])
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let log = directory.file("stderr")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    var stderr: String { (try? String(contentsOfFile: directory.file("stderr"), encoding: .utf8)) ?? "" }

    /// Connects while QEMU runs (it creates the socket a moment after starting).
    func connect(timeout: Duration = .seconds(20)) throws -> QMPClient {
        try QMPClient.connect(socketPath: socket, timeout: timeout, keepTrying: { [process] in process.isRunning })
    }

    func exited(within seconds: Double) -> Bool {
        waitUntil(timeout: seconds, interval: 0.01) { !process.isRunning }
    }
}

/// The client against the real QEMU: `-machine none` (no guest) and a paused TCG PC.
@Suite(.timeLimit(.minutes(15)))
struct QMPRealQEMUTests {
    static let machineNone = ["-machine", "none", "-nodefaults", "-display", "none"]
    static let pausedPC = ["-machine", "pc", "-accel", "tcg", "-m", "32", "-nodefaults", "-display", "none", "-S"]

    @Test func handshakeAndQueryVersion() throws {
        let qemu = try RunningQEMU(Self.machineNone)
        let client = try qemu.connect()
        // Witness: what the binary itself prints.
        let printed = try run("qemu-system-x86_64", ["--version"]).stdout
        #expect(printed.contains("version \(client.greeting.version)"), "\(client.greeting) vs \(printed)")
        let version = try client.execute("query-version")
        #expect(version["qemu"]?["major"]?.integerValue == Int64(client.greeting.major))
        #expect(version["qemu"]?["micro"]?.integerValue == Int64(client.greeting.micro))
        #expect(version["package"]?.stringValue == client.greeting.package)
        let status = try client.queryStatus()
        #expect(status.status == "running" || status.status == "prelaunch", "\(status)")
        // An unknown command is a typed failure, and the session goes on.
        #expect(throws: QMPError.commandFailed(command: "no-such-command", class: "CommandNotFound", description: "The command no-such-command has not been found")) {
            try client.execute("no-such-command")
        }
        #expect(try client.execute("query-name") == .object([:]))
        // The largest reply QEMU gives (the whole schema, ~200 KB on one line) decodes fine.
        let start = ContinuousClock.now
        let schema = try client.execute("query-qmp-schema")
        let elapsed = ContinuousClock.now - start
        #expect((schema.arrayValue?.count ?? 0) > 500)
        #expect(schema.arrayValue?.contains { $0["name"] == "getfd" } == true)
        print("query-qmp-schema: \(schema.arrayValue?.count ?? 0) entries in \(elapsed)")
        try client.quit()
        #expect(qemu.exited(within: 10), "QEMU still running after quit")
    }

    @Test func getfdAcceptsAPassedDescriptorAndCloseFdReleasesIt() throws {
        let qemu = try RunningQEMU(Self.machineNone)
        let client = try qemu.connect()
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        // Without a descriptor QEMU refuses getfd: proof the next success is the passed one.
        let missing = #expect(throws: QMPError.self) { try client.execute("getfd", arguments: ["fdname": "tap0"]) }
        guard case let .commandFailed(_, errorClass, description)? = missing else { return }
        #expect(errorClass == "GenericError" && description.contains("SCM_RIGHTS"), "\(description)")
        try client.execute("getfd", arguments: ["fdname": "tap0"], passing: ends[1])
        try client.execute("closefd", arguments: ["fdname": "tap0"])
        // Closed: a second closefd finds nothing.
        #expect(throws: QMPError.self) { try client.execute("closefd", arguments: ["fdname": "tap0"]) }

        // add-fd: the descriptor shows up in query-fdsets under the set asked for.
        let added = try client.execute("add-fd", arguments: ["fdset-id": 7, "opaque": "qnet-test"], passing: ends[0])
        #expect(added["fdset-id"]?.integerValue == 7)
        let qemuFD = try #require(added["fd"]?.integerValue)
        let sets = try client.execute("query-fdsets")
        let set = sets.arrayValue?.first { $0["fdset-id"]?.integerValue == 7 }
        #expect(set?["fds"]?[0]?["fd"]?.integerValue == qemuFD)
        #expect(set?["fds"]?[0]?["opaque"]?.stringValue == "qnet-test")
        // And it is our pipe: QEMU's copy is a pipe in /proc/PID/fd.
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(qemu.process.processIdentifier)/fd/\(qemuFD)")
        let ours = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(ends[0])")
        #expect(link == ours && link.hasPrefix("pipe:"), "\(link) vs \(ours)")
        try client.quit()
        #expect(qemu.exited(within: 10))
    }

    @Test func pausedVMContinuesPowersDownAndQuits() throws {
        let qemu = try RunningQEMU(Self.pausedPC)
        let client = try qemu.connect()
        #expect(try client.queryStatus() == QMPStatus(running: false, status: "prelaunch"))
        try client.cont()
        #expect(try client.queryStatus() == QMPStatus(running: true, status: "running"))
        #expect(try client.waitForEvent(named: "RESUME", timeout: .seconds(5)).name == "RESUME")
        try client.systemPowerdown()
        let powerdown = try client.waitForEvent(named: "POWERDOWN", timeout: .seconds(10))
        #expect(powerdown.timestamp.map { abs($0 - Date().timeIntervalSince1970) < 60 } == true)
        try client.stop()
        #expect(try client.queryStatus() == QMPStatus(running: false, status: "paused"))
        try client.quit()
        // QEMU announces its own end, then closes the socket.
        let shutdown = try? client.waitForEvent(named: "SHUTDOWN", timeout: .seconds(5))
        #expect(shutdown?.data["reason"]?.stringValue == "host-qmp-quit")
        #expect(qemu.exited(within: 10))
        #expect(qemu.process.terminationStatus == 0, "\(qemu.stderr)")
        #expect(throws: QMPError.self) { try client.queryStatus(timeout: .seconds(2)) }
    }

    /// QEMU quirk: one client per QMP monitor. A second connection is accepted by the
    /// kernel but QEMU sends it no greeting until the first leaves.
    @Test func secondClientWaitsForTheFirst() throws {
        let qemu = try RunningQEMU(Self.machineNone)
        let first = try qemu.connect()
        let error = #expect(throws: QMPError.self) { try QMPClient.connect(socketPath: qemu.socket, timeout: .milliseconds(500)) }
        #expect(error?.description.contains("QEMU serves one at a time") == true, "\(String(describing: error))")
        first.close()
        let second = try qemu.connect()
        #expect(try second.execute("query-name") == .object([:]))
        try second.quit()
        #expect(qemu.exited(within: 10))
    }

    @Test func monitorOnAChardevLikeTheBuilderMakesIt() throws {
        let qemu = try RunningQEMU(Self.pausedPC, monitorAsChardev: true)
        let client = try qemu.connect()
        #expect(try client.queryStatus() == QMPStatus(running: false, status: "prelaunch"))
        try client.quit()
        #expect(qemu.exited(within: 10))
    }

    @Test func qemuDyingMidSessionIsConnectionClosed() throws {
        let qemu = try RunningQEMU(Self.machineNone)
        let client = try qemu.connect()
        kill(qemu.process.processIdentifier, SIGKILL)
        #expect(qemu.exited(within: 10))
        let error = #expect(throws: QMPError.self) { try client.execute("query-status", timeout: .seconds(5)) }
        #expect(error == .connectionClosed(waitingFor: "the reply to 'query-status'") || error == .connectionClosed(waitingFor: "sending a command"),
                "\(String(describing: error))")
    }
}
