import ArgumentParser
import Foundation
import Glibc
import QMP
import QNetCommands
import QNetSystem
import QNetTestSupport
import Testing
import VirtualMachines

/// The CLI's one error mapping: any library error is a `UserFacingError` and gets its own
/// exit status (2 bad input, 1 failed operation); ArgumentParser's errors are bad input.
struct ErrorReportingTests {
    @Test func libraryErrorsMapThroughTheProtocol() {
        let cases: [(any Error, Int32)] = [
            (VMError.noSuchVM("ghost"), 1),
            (VMError.invalidValue(what: "CPU count", value: "0", allowed: "use 1 to 255"), 2),
            (NetworkError.nameTaken("lab"), 2),
            (NetworkError.notRunning("lab"), 1),
            (NetworkConfigError.badSubnet("10.0.0"), 2),
            (SystemError(errno: .permissionDenied, operation: "open", path: "/x"), 1),
            (QMPError.connectionClosed(waitingFor: "the reply to 'cont'"), 1),
            (Interrupted(signal: SIGINT), 130),
            (ValidationError("bad value"), 2),
        ]
        for (error, status) in cases {
            #expect(ErrorReporting.exitCode(for: error) == status, "\(error)")
            #expect(!ErrorReporting.message(for: error).contains("\n"), "\(error)")
        }
        #expect(ErrorReporting.message(for: VMError.noSuchVM("ghost")) == VMError.noSuchVM("ghost").description)
    }

    @Test func parseErrorsAreUsageAndHelpIsSuccess() {
        let unknown = #expect(throws: (any Error).self) { try QNet.parseAsRoot(["frobnicate"]) }
        #expect(unknown.map(ErrorReporting.exitCode(for:)) == 2)
        #expect(ErrorReporting.exitCode(for: CleanExit.helpRequest(QNet.self)) == 0)
    }

    /// The built binary: a sample of failures of each kind, one line each, naming the value.
    @Test func binaryExitsOneForFailedOperationsAndTwoForBadInput() throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-exit-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let global = ["--state-dir", state]
        let created = try qnet(global + ["net", "create", "lan", "--mode", "bridge", "--bridge", "qnetexit0"])
        #expect(created.status == 0, "\(created.stderr)")
        let cases: [([String], Int32, String)] = [
            (global + ["vm", "stop", "ghost"], 1, "no VM named 'ghost'"),
            (global + ["net", "start", "nope"], 1, "no network named 'nope'"),
            (global + ["net", "delete", "nope"], 1, "'nope'"),
            (["--netns", "qnet-no-such-ns-\(getpid())", "show"], 1, "qnet-no-such-ns-\(getpid())"),
            (global + ["net", "create", "Bad", "--mode", "nat"], 2, "invalid network name 'Bad'"),
            (global + ["net", "create", "lan", "--mode", "bridge", "--bridge", "qnetexit1"], 2, "'lan'"),
            (global + ["net", "lease", "add", "lan", "52:54:00:00:00:09", "10.0.0.9"], 2, "'lan'"),
            (global + ["vm", "run", "v1", "--nic", "bridge=br0,network=lab"], 2, "bridge=br0,network=lab"),
        ]
        for (arguments, status, value) in cases {
            let result = try qnet(arguments)
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("qnet: error: ") && result.stderr.contains(value), "\(arguments): \(result.stderr)")
        }
    }
}
