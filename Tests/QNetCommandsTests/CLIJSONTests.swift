import Foundation
import HostNetwork
import Netlink
import QNetTestSupport
import Testing

/// `--json` outputs keep the README's fixed keys (null, never left out) and count what it
/// says, checked against `ip -j` (tier 3).
@Suite(.serialized, Privileged.enabled)
struct CLIJSONTests {
    @Test func showAndTapListWriteNullsAndCountOpenQueues() throws {
        let ns = try TestNamespace("json")
        #expect(try qnet(["bridge", "create", "br0", "--netns", ns.name]).status == 0)
        #expect(try qnet(["tap", "create", "idle0", "--bridge", "br0", "--netns", ns.name]).status == 0)
        // A TAP this process holds open, as QEMU would (one queue attached).
        let host = try HostNetwork(namespace: NetworkNamespace(name: ns.name))
        let held = try host.createTAP(TAPOptions(name: "held0", bridge: "br0"))
        defer { held.close() }

        let show = try qnet(["show", "br0", "--json", "--netns", ns.name])
        #expect(show.status == 0, "\(show.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        let bridge = try #require((report["bridges"] as? [[String: Any]])?.first)
        #expect(bridge["uplink"] is NSNull, "uplink must be null, not left out: \(show.stdout)")
        let ports = try #require(bridge["ports"] as? [[String: Any]])
        #expect(ports.count == 2)
        #expect(ports.allSatisfy { $0["vm"] is NSNull }, "\(show.stdout)")

        let list = try qnet(["tap", "list", "--json", "--netns", ns.name])
        #expect(list.status == 0, "\(list.stderr)")
        let taps = try #require((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["taps"] as? [[String: Any]])
        let byName = Dictionary(taps.compactMap { tap in (tap["name"] as? String).map { ($0, tap) } }, uniquingKeysWith: { first, _ in first })
        // `tap create` makes root the owner; the library's TAP has none.
        #expect(byName["idle0"]?["owner"] as? Int == 0 && byName["idle0"]?["openToAllUsers"] as? Bool == false, "\(list.stdout)")
        for name in ["idle0", "held0"] {
            let tap = try #require(byName[name], "\(list.stdout)")
            #expect(tap["group"] is NSNull, "\(name): \(tap)")
            #expect(tap["bridge"] as? String == "br0")
        }
        // Witness: carrier (`ip -j link` flags) says which TAP a process holds.
        #expect(try (ns.link("idle0")?["flags"] as? [String] ?? []).contains("NO-CARRIER"))
        #expect(try !(ns.link("held0")?["flags"] as? [String] ?? ["NO-CARRIER"]).contains("NO-CARRIER"))
        #expect(byName["idle0"]?["queues"] as? Int == 0)
        #expect(byName["held0"]?["queues"] as? Int == 1)
        #expect(byName["held0"]?["owner"] is NSNull && byName["held0"]?["openToAllUsers"] as? Bool == true, "\(list.stdout)")
        #expect(ports.first { $0["name"] as? String == "held0" }?["openToAllUsers"] as? Bool == true, "\(show.stdout)")
    }

    /// `net show --json` carries the schema version like `net list --json`.
    @Test func netShowHasTheSchemaVersion() throws {
        let ns = try TestNamespace("netjson")
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-netjson-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let create = try qnet(["net", "create", "lab", "--mode", "isolated", "--subnet", "10.77.0.0/24", "--netns", ns.name, "--state-dir", state])
        #expect(create.status == 0, "\(create.stderr)")
        let show = try qnet(["net", "show", "lab", "--json", "--netns", ns.name, "--state-dir", state])
        #expect(show.status == 0, "\(show.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        #expect(report["schemaVersion"] as? Int == 1)
        #expect(report["name"] as? String == "lab" && report["subnet"] as? String == "10.77.0.0/24")
    }
}
