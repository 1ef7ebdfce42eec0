import Foundation
@testable import HostChecks
import QNetTestSupport
import Testing

/// Whether the built qnet has the doctor command (it is registered in QNet.swift).
let doctorIsRegistered: Bool = {
    guard let qnet = try? qnetExecutable(), let result = try? run(qnet, ["doctor", "--help"]) else { return false }
    return result.status == 0
}()

/// `qnet doctor` run by an unprivileged user (nobody, no groups) against a /dev/net/tun
/// that only root may open. The device is a real node bind-mounted over /dev/net/tun in a
/// private mount namespace, so the host's own device is untouched and the kernel itself
/// answers the access question.
@Suite(.serialized, Privileged.enabled) struct UnprivilegedTests {
    /// Runs `command` (argv) in a new mount namespace where /dev/net/tun is a 0600 root:root node.
    func inNamespaceWithRootOnlyTun(_ command: [String]) throws -> CommandResult {
        let fixture = try Fixture()
        try fixture.characterDevice("tun", major: 10, minor: 200, mode: 0o600, owner: 0, group: 0)
        let quoted = command.map { "'" + $0 + "'" }.joined(separator: " ")
        return try run("unshare", ["--mount", "--propagation", "private", "sh", "-c",
                                   "mount --bind '\(fixture.full("tun"))' /dev/net/tun && exec \(quoted)"])
    }

    @Test(.enabled(if: doctorIsRegistered, "the qnet executable has no doctor command yet (register Doctor.self in QNet.swift)"))
    func nobodySeesTheTunPermissionFailureWithItsRemedy() throws {
        let qnet = try qnetExecutable()
        let result = try inNamespaceWithRootOnlyTun(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", qnet, "doctor", "--json"])
        #expect(result.status == 1, "\(result.stderr)")
        let report = try JSONDecoder().decode(DoctorReport.self, from: Data(result.stdout.utf8))
        let tun = try #require(report.check("tun.access"))
        #expect(tun.status == .fail)
        #expect(tun.found.hasPrefix("nobody (uid 65534") && tun.found.contains("cannot open /dev/net/tun read-write: crw------- root:root"))
        #expect(tun.remedy?.hasPrefix("chmod 0666 /dev/net/tun") == true)
        #expect(report.check("tun.device")?.status == .ok)
        #expect(report.check("net.admin")?.status == .fail)
        // The host's own device is untouched.
        #expect(try #require(FileFacts(path: "/dev/net/tun")).mode == 0o666)
    }

    @Test(.enabled(if: doctorIsRegistered, "the qnet executable has no doctor command yet (register Doctor.self in QNet.swift)"))
    func rootCheckingForUserNobody() throws {
        let qnet = try qnetExecutable()
        let result = try inNamespaceWithRootOnlyTun([qnet, "doctor", "--user", "nobody"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAIL  TUN access for nobody"))
        #expect(result.stdout.contains("fix: chmod 0666 /dev/net/tun"))
        let unknown = try run(qnet, ["doctor", "--user", "no-such-user-qnet"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("unknown user 'no-such-user-qnet'"))
    }

    /// The same through the library, with this process's own kernel answer replaced by
    /// nobody's identity (runs whether or not the command is registered).
    @Test func libraryAsNobody() throws {
        let fixture = try Fixture()
        try fixture.characterDevice("dev/net/tun", major: 10, minor: 200, mode: 0o600, owner: 0, group: 0)
        try fixture.write("proc/self/status", "CapEff:\t0000000000000000\n")
        var options = DoctorOptions(root: fixture.root)
        options.invokingIdentity = try nobody()
        options.probeKVM = false
        let report = HostDoctor.run(options)
        let tun = try #require(report.check("tun.access"))
        #expect(tun.status == .fail && tun.remedy?.hasPrefix("chmod 0666 ") == true)
        #expect(report.check("net.admin")?.status == .fail)
        #expect(!report.passed)
    }
}
