import Foundation
import QNetTestSupport
import Testing

/// Bad input to `qnet net` and `qnet vm`: one line naming the value, exit 2 for bad
/// input and 1 for a failed operation, and nothing made.
@Suite(.serialized, Privileged.enabled)
struct CLINetworkInputTests {
    @Test func badNetworkAndVMInputLeavesNothing() throws {
        let ns = try TestNamespace("netbad")
        try ns.ip("link", "add", "lan0", "type", "veth", "peer", "name", "lan1")
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("qnet-clinet-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let global = ["--netns", ns.name, "--state-dir", state]
        #expect(try qnet(global + ["net", "create", "ok1", "--mode", "nat", "--subnet", "10.41.0.0/24"]).status == 0)
        let linksBefore = try ns.stateSummary()
        let cases: [([String], Int32, String)] = [
            (["net", "create", "a-name-too-long", "--mode", "nat"], 2, "invalid network name 'a-name-too-long'"),
            (["net", "create", "n1", "--mode", "nat", "--subnet", "10.42.0.5/24"], 2, "10.42.0.5/24"),
            (["net", "create", "n1", "--mode", "nat", "--subnet", "10.41.0.0/25"], 2, "10.41.0.0"),
            (["net", "create", "n1", "--mode", "nat", "--subnet", "10.43.0.0/24", "--dhcp-range", "10.44.0.10-10.44.0.20"], 2, "10.44.0.10"),
            (["net", "create", "n1", "--mode", "nat", "--subnet", "10.43.0.0/24", "--dhcp-range", "10.43.0.10"], 2, "invalid DHCP range '10.43.0.10'"),
            (["net", "create", "n1", "--mode", "bridge", "--subnet", "10.43.0.0/24"], 2, "--subnet"),
            (["net", "create", "n1", "--mode", "nat", "--bridge", "lan0"], 2, "lan0"),
            (["net", "create", "ok1", "--mode", "isolated"], 2, "ok1"),
            (["net", "create", "n1", "--mode", "mesh"], 2, "mesh"),
            (["net", "start", "nope"], 1, "no network named 'nope'"),
            (["net", "stop", "ok1"], 1, "not running"),
            (["net", "lease", "add", "ok1", "01:00:5e:00:00:01", "10.41.0.9"], 2, "01:00:5e:00:00:01"),
            (["net", "lease", "add", "ok1", "52:54:00:00:00:09", "10.99.0.9"], 2, "10.99.0.9"),
            (["vm", "run", "v1", "--nic", "user,hostfwd=tcp:8080:80"], 2, "tcp:8080:80"),
            (["vm", "run", "v1", "--nic", "user,backend=vde"], 2, "vde"),
            (["vm", "run", "v1", "--nic", "bridge=br0,model=ne2k"], 2, "ne2k"),
            (["vm", "run", "v1", "--nic", "network=ok1"], 2, "not running"),
            (["vm", "run", "v1", "--cpus", "0"], 2, "'0'"),
            (["vm", "run", "v1", "--memory", "lots"], 2, "invalid memory size 'lots'"),
            (["vm", "run", "v1", "--disk", "/nonexistent.img"], 2, "'/nonexistent.img' does not exist"),
            (["vm", "stop", "ghost"], 1, "no VM named 'ghost'"),
        ]
        for (arguments, status, message) in cases {
            let result = try qnet(global + arguments)
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        // Only ok1 is defined, nothing runs, and the namespace is untouched.
        let list = try qnet(global + ["net", "list", "--json"])
        let networks = (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["networks"] as? [[String: Any]]
        #expect(networks?.compactMap { $0["name"] as? String } == ["ok1"])
        #expect(networks?.first?["active"] as? Bool == false)
        #expect(try ns.stateSummary() == linksBefore)
        #expect(try qnet(global + ["vm", "list"]).stdout.contains("no VMs running"))
    }
}
