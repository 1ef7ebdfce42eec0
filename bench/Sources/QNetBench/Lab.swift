import Foundation
import HostNetwork
import Netlink
import QNetSystem

/// A network namespace the bench creates (with a bridge br0 in it) and deletes. Every
/// measurement happens inside one; the host's own interfaces are never touched.
final class Lab {
    let name: String
    let ip: String
    let bridge = "br0"
    /// Path of `bridge` (iproute2), used to read port states.
    let bridgeTool = (try? Spawn.resolve("bridge")) ?? "/usr/sbin/bridge"
    private(set) var host: HostNetwork?
    private var deleted = false

    /// `ip netns add NAME`, then br0 (STP off, forward delay 0, up) through the library.
    init(name: String, ip: String) throws {
        self.name = name
        self.ip = ip
        if FileManager.default.fileExists(atPath: "/run/netns/\(name)") {
            throw BenchFailure("network namespace \(name) already exists; refusing to reuse it")
        }
        try Spawn.check([ip, "netns", "add", name])
        do {
            let host = try HostNetwork(namespace: NetworkNamespace(name: name))
            self.host = host
            try host.createBridge(bridge)
            try Spawn.check([ip, "-n", name, "link", "set", "lo", "up"])
            guard try host.link(named: bridge).isUp else { throw BenchFailure("\(bridge) in \(name) is not up") }
        } catch {
            delete()
            throw error
        }
    }

    /// The library's handle in this namespace.
    var network: HostNetwork { host! }

    /// `ip netns del NAME` (closes the bench's netlink socket there first). Idempotent.
    func delete() {
        guard !deleted else { return }
        deleted = true
        host = nil
        _ = try? Spawn.run([ip, "netns", "del", name])
    }

    deinit { delete() }

    // MARK: independent witness: `ip -j` output, parsed

    /// `ip -j -n NAME link show ARGS...` as an array of objects.
    func ipLinks(_ arguments: [String]) throws -> [[String: Any]] {
        let output = try Spawn.check([ip, "-j", "-n", name, "link", "show"] + arguments, capture: true)
        let trimmed = output.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return [] }
        guard let array = try JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [[String: Any]] else {
            throw BenchFailure("cannot parse `ip -j link show \(arguments.joined(separator: " "))` output")
        }
        // `ip -j link show group N` prints `{}` for each link the filter skipped.
        return array.filter { $0["ifname"] != nil }
    }

    /// Checks, with `ip -j -n NS link show master br0`, that exactly `names` are ports of
    /// br0 and all are up; with `group`, that `ip link show group G` lists the same set.
    func verifyPorts(_ names: [String], group: UInt32? = nil, step: String) throws {
        let ports = try ipLinks(["master", bridge])
        let found = Set(ports.compactMap { $0["ifname"] as? String })
        guard ports.count == names.count, found == Set(names) else {
            throw BenchFailure("after \(step): expected \(names.count) ports on \(bridge) in \(name), found \(ports.count)")
        }
        let down = ports.filter { !((($0["flags"] as? [String]) ?? []).contains("UP")) }
        guard down.isEmpty else {
            throw BenchFailure("after \(step): \(down.count) ports of \(bridge) are not up (e.g. \(down[0]["ifname"] ?? "?"))")
        }
        let taps = try ipLinks(["type", "tun"])
        guard taps.count == names.count else {
            throw BenchFailure("after \(step): expected \(names.count) TAPs in \(name), found \(taps.count)")
        }
        if let group {
            let members = try ipLinks(["group", String(group)])
            guard Set(members.compactMap { $0["ifname"] as? String }) == found else {
                throw BenchFailure("after \(step): `ip link show group \(group)` lists \(members.count) interfaces, expected the \(names.count) ports")
            }
        }
    }

    /// Waits until the kernel has finished with every port of br0: all in STP state
    /// "disabled" (no carrier). qnet holds each TAP's descriptor while it attaches it, so
    /// the TAPs have a carrier then; closing the descriptors drops it, and the kernel
    /// processes that asynchronously (linkwatch: about 100 devices per second, holding
    /// the RTNL lock). Timed steps must not overlap that work. Returns the seconds waited.
    @discardableResult
    func settle(step: String, timeout: Double = 30) throws -> Double {
        let start = monotonicSeconds()
        while true {
            let output = try Spawn.check([bridgeTool, "-j", "-n", name, "link", "show"], capture: true)
            let ports = ((try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [[String: Any]] ?? [])
                .filter { ($0["master"] as? String) == bridge }
            if ports.allSatisfy({ ($0["state"] as? String) == "disabled" }) { return monotonicSeconds() - start }
            if monotonicSeconds() - start > timeout {
                throw BenchFailure("after \(step): ports of \(bridge) still not disabled after \(Int(timeout)) s")
            }
            usleep(10_000)
        }
    }

    /// Waits for an idle machine before timed steps (shared by every lab of a run).
    var gate: QuietGate?

    /// Before a timed step: waits for an idle machine (when `gated`), then pauses 100 ms so
    /// that RCU callbacks and deferred frees of the previous step do not land in it.
    func quiesce(gated: Bool = true, _ what: String = "a timed step") {
        if gated { gate?.wait(what) }
        usleep(100_000)
    }

    /// Checks that no TAP and no port of br0 is left, and that br0 itself still exists.
    func verifyEmpty(step: String) throws {
        let taps = try ipLinks(["type", "tun"])
        let ports = try ipLinks(["master", bridge])
        guard taps.isEmpty, ports.isEmpty else {
            throw BenchFailure("after \(step): \(taps.count) TAPs and \(ports.count) ports of \(bridge) left in \(name), expected 0")
        }
        guard try ipLinks(["dev", bridge]).count == 1 else { throw BenchFailure("after \(step): \(bridge) is gone") }
    }
}
