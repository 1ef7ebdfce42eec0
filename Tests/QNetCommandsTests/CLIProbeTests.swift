import Foundation
import GuestImage
@testable import QNetCommands
import QNetTestSupport
import Testing

/// What `qnet probe` prints, without running anything (tier 1).
struct ProbeOutputTests {
    /// A DHCP step's line names the address the guest got and the server that gave it, as
    /// the guest reported them (the guest's own detail only says "lease from SERVER").
    @Test func anAddressLineNamesTheLeasedAddressAndItsServer() throws {
        let line = "QNET step=address ok=1 ms=812 method=dhcp addr=10.99.7.50/24 router=10.99.7.1 dns=10.99.7.1 server=10.99.7.1 lease=3600 detail=lease from 10.99.7.1"
        guard case let .step(step)? = ProbeEvent(line: Substring(line)) else { Issue.record("the guest's line did not parse"); return }
        let printed = ProbeFormatting.line(step)
        #expect(printed.contains("10.99.7.50/24 leased from 10.99.7.1"), "\(printed)")
        #expect(printed.contains("812 ms"))

        let staticLine = "QNET step=address ok=1 ms=3 method=static addr=10.23.0.9/24 detail=static address"
        guard case let .step(staticStep)? = ProbeEvent(line: Substring(staticLine)) else { Issue.record("the guest's line did not parse"); return }
        #expect(ProbeFormatting.line(staticStep).contains("10.23.0.9/24 (static address)"))
    }
}

/// `qnet probe` end to end (tiers 3 and 4).
@Suite(.serialized, Privileged.enabled)
struct CLIProbeTests {
    /// A probe of a name that is neither a bridge nor a network fails on the name (exit 1,
    /// one line) before anything is built: no guest image appears in the state directory.
    @Test func probeOfAMissingBridgeBuildsNothing() throws {
        let ns = try TestNamespace("probenone")
        let state = try PrivateStateDirectory()
        let result = try qnet(["--netns", ns.name, "--state-dir", state.path, "probe", "nosuch"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("'nosuch'"), "\(result.stderr)")
        #expect(result.stdout.isEmpty, "\(result.stdout)")
        #expect(!FileManager.default.fileExists(atPath: "\(state.path)/guest"), "an image was built before the name was checked")
    }
}

extension CLIProbeTests {
    /// The whole probe with its state directory inside a 0700 directory (as `mktemp -d`
    /// makes) that QEMU's user cannot enter, on a NAT network: it passes, and the address
    /// line names the leased address and the DHCP server.
    @Test(.timeLimit(.minutes(15)))
    func probeOfANetworkUnderAPrivateStateDirectoryPrintsTheLease() throws {
        let ns = try TestNamespace("probelease")
        let state = try PrivateStateDirectory()
        // The guest image the other suites build (cached by its inputs), copied into the
        // state directory's cache, where `qnet probe` looks for it.
        let image = try GuestImageBuilder().cached(in: NSTemporaryDirectory() + "qnet-guest-test-cache").image
        try FileManager.default.createDirectory(atPath: "\(state.path)/guest", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: image.directory, toPath: "\(state.path)/guest/\(image.kernelRelease)")
        let global = ["--netns", ns.name, "--state-dir", state.path]
        #expect(try qnet(global + ["net", "create", "lab", "--mode", "nat", "--subnet", "10.47.0.0/24"]).status == 0)
        let started = try qnet(global + ["net", "start", "lab"])
        #expect(started.status == 0, "\(started.stderr)")
        defer { _ = try? qnet(global + ["net", "stop", "lab"]) }

        let result = try qnet(global + ["probe", "lab", "--accel", "tcg", "--timeout", "120"])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let addressLine = result.stdout.split(separator: "\n").first { $0.contains("✔ address") }
        #expect(addressLine?.contains(" leased from 10.47.0.1") == true, "\(result.stdout)")
        #expect(addressLine?.contains("10.47.0.") == true && addressLine?.contains("/24") == true, "\(result.stdout)")
    }
}

/// A state directory inside a directory only root can enter (0700, as `mktemp -d` makes).
final class PrivateStateDirectory {
    let root: String
    var path: String { "\(root)/state" }
    init() throws {
        var template = Array("/tmp/qnet-clistate-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestSupportError("mkdtemp failed") }
        root = String(cString: made)
    }
    deinit { try? FileManager.default.removeItem(atPath: root) }
}
