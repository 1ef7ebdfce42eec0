#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import QNetSystem

/// Runs a helper program (iptables-save, nft) and returns what it printed. Tests swap
/// it for one that runs the program inside a test namespace.
public typealias CommandRunner = @Sendable (_ executable: String, _ arguments: [String]) throws -> SubprocessResult

/// Traps that silently drop guest traffic: br_netfilter, a FORWARD policy of drop, and
/// IP forwarding being off.
enum ForwardingChecks {
    static let bridgeSysctls = ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables"]

    /// br_netfilter with net.bridge.bridge-nf-call-* = 1 sends bridged frames through the
    /// host firewall. The sysctls exist only while br_netfilter is loaded (or built in).
    static func bridgeNetfilter(_ root: HostRoot) -> CheckResult {
        let id = "bridge.netfilter", title = "br_netfilter"
        let directory = root.proc + "/sys/net/bridge"
        guard root.isDirectory(directory) else {
            return CheckResult(id: id, status: .ok, title: title, found: "not loaded: bridged frames bypass iptables and nftables' ip hooks")
        }
        let values = bridgeSysctls.map { ($0, root.readValue(directory + "/" + $0) ?? "?") }
        let described = values.map { "net.bridge.\($0.0) = \($0.1)" }.joined(separator: ", ")
        let on = values.filter { $0.1 == "1" }
        let module = root.exists(root.sys + "/module/br_netfilter") ? "loaded" : "active (built in)"
        guard !on.isEmpty else {
            return CheckResult(id: id, status: .ok, title: title, found: "\(module), \(described): bridged frames bypass the host firewall")
        }
        let set = on.map { "net.bridge.\($0.0)=0" }
        return CheckResult(id: id, status: .warn, title: title,
                           found: "\(module), \(described): bridged guest traffic goes through the host's firewall (a FORWARD policy of drop blocks guests)",
                           remedy: """
                           sysctl -w \(set.joined(separator: " "))
                           printf '\(set.map { $0.replacing("=", with: " = ") }.joined(separator: "\\n"))\\n' > /etc/sysctl.d/90-qnet-bridge.conf   # keep across reboots
                           (Docker and Kubernetes need these = 1 for their own bridges: if they run here, keep them and add the FORWARD accept rule instead)
                           """)
    }

    /// A forward-hook chain whose policy drops (Docker sets `iptables -P FORWARD DROP`).
    struct DropPolicy: Equatable, Sendable {
        enum Source: Equatable, Sendable {
            /// iptables (legacy or nft backend): the filter table's FORWARD chain.
            case iptables(command: String, hasDockerUser: Bool, acceptsBridge: Bool)
            /// An nftables base chain on the forward hook.
            case nftables(family: String, table: String, chain: String)
        }
        var source: Source
    }

    /// Finds `:FORWARD DROP` in the filter table of `iptables-save` output, whether a
    /// DOCKER-USER chain exists, and whether FORWARD/DOCKER-USER already accept `bridge`.
    static func parseIptablesSave(_ text: String, command: String, bridge: String) -> DropPolicy? {
        var table = ""
        var drop = false, dockerUser = false, accepts = false
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.trimmingWhitespace()
            if line.hasPrefix("*") { table = String(line.dropFirst()); continue }
            guard table == "filter" else { continue }
            if line.hasPrefix(":FORWARD ") { drop = line.split(separator: " ").dropFirst().first == "DROP" }
            if line.hasPrefix(":DOCKER-USER ") { dockerUser = true }
            if line.hasPrefix("-A FORWARD ") || line.hasPrefix("-A DOCKER-USER ") {
                let words = line.split(separator: " ").map(String.init)
                func value(after flag: String) -> String? {
                    guard let index = words.firstIndex(of: flag), index + 1 < words.count else { return nil }
                    return words[index + 1]
                }
                if value(after: "-i") == bridge, value(after: "-o") == bridge, value(after: "-j") == "ACCEPT" { accepts = true }
            }
        }
        return drop ? DropPolicy(source: .iptables(command: command, hasDockerUser: dockerUser, acceptsBridge: accepts)) : nil
    }

    /// Base chains on the forward hook with policy drop, from `nft -j list chains`.
    static func parseNftChains(_ json: String) -> [DropPolicy] {
        struct Listing: Decodable {
            struct Item: Decodable { var chain: Chain? }
            struct Chain: Decodable {
                var family: String
                var table: String
                var name: String
                var hook: String?
                var policy: String?
            }
            var nftables: [Item]
        }
        guard let listing = try? JSONDecoder().decode(Listing.self, from: Data(json.utf8)) else { return [] }
        return listing.nftables.compactMap(\.chain).filter { $0.hook == "forward" && $0.policy == "drop" }.map {
            DropPolicy(source: .nftables(family: $0.family, table: $0.table, chain: $0.name))
        }
    }

    static func firewallForward(_ root: HostRoot, bridge: String?, runner: CommandRunner) -> CheckResult {
        let id = "firewall.forward", title = "FORWARD policy"
        let name = bridge ?? "br0"
        var drops: [DropPolicy] = []
        var consulted: [String] = []
        var unreadable: [String] = []
        func collect(_ program: String, _ arguments: [String], _ parse: (String) -> [DropPolicy]) {
            guard let path = root.executable(program) else { return }
            let command = ([program] + arguments).joined(separator: " ")
            do {
                let result = try runner(path, arguments)
                if result.succeeded {
                    consulted.append(command)
                    drops += parse(result.standardOutput)
                } else {
                    let message = KVMProbe.firstMeaningfulLine(result.standardError) ?? result.termination.description
                    unreadable.append("\(command): \(message)")
                }
            } catch {
                unreadable.append("\(command): \(error)")
            }
        }
        collect("iptables-save", ["-t", "filter"]) { text in parseIptablesSave(text, command: "iptables", bridge: name).map { [$0] } ?? [] }
        // Rules made with iptables-legacy live outside nftables; look when legacy tables exist.
        if let names = root.read(root.proc + "/net/ip_tables_names"), names.split(separator: "\n").contains("filter") {
            collect("iptables-legacy-save", ["-t", "filter"]) { text in parseIptablesSave(text, command: "iptables-legacy", bridge: name).map { [$0] } ?? [] }
        }
        collect("nft", ["-j", "list", "chains"], parseNftChains)
        // iptables-nft's FORWARD chain is also an nftables chain (ip filter FORWARD): report it once.
        if drops.contains(where: { if case .iptables(command: "iptables", _, _) = $0.source { true } else { false } }) {
            drops.removeAll { $0.source == .nftables(family: "ip", table: "filter", chain: "FORWARD") }
        }
        if consulted.isEmpty && unreadable.isEmpty {
            return CheckResult(id: id, status: .ok, title: title, found: "neither iptables nor nft is installed: no firewall tool has set a FORWARD policy")
        }
        if drops.isEmpty {
            if !unreadable.isEmpty {
                return CheckResult(id: id, status: .warn, title: title, found: "cannot read the firewall: \(unreadable.joined(separator: "; "))",
                                   remedy: "run `sudo qnet doctor` to check the FORWARD policy")
            }
            return CheckResult(id: id, status: .ok, title: title, found: "no forward chain drops by default (\(consulted.joined(separator: ", ")))")
        }
        let acceptedAlready = drops.allSatisfy { if case .iptables(_, _, true) = $0.source { true } else { false } }
        let descriptions = drops.map { drop -> String in
            switch drop.source {
            case let .iptables(command, _, _): "\(command): filter FORWARD policy DROP"
            case let .nftables(family, table, chain): "nftables: \(family) \(table) \(chain) (forward hook) policy drop"
            }
        }
        if acceptedAlready && bridge != nil {
            return CheckResult(id: id, status: .ok, title: title,
                               found: "\(descriptions.joined(separator: "; ")), but an ACCEPT rule for \(name) ↔ \(name) is in place")
        }
        let rules = drops.map { drop -> String in
            switch drop.source {
            case let .iptables(command, dockerUser, _):
                dockerUser ? "\(command) -I DOCKER-USER -i \(name) -o \(name) -j ACCEPT   # Docker evaluates DOCKER-USER first"
                           : "\(command) -I FORWARD -i \(name) -o \(name) -j ACCEPT"
            case let .nftables(family, table, chain):
                "nft insert rule \(family) \(table) \(chain) iifname \"\(name)\" oifname \"\(name)\" accept"
            }
        }
        let bridgeNote = root.readValue(root.proc + "/sys/net/bridge/bridge-nf-call-iptables") == "1"
            ? "bridged guest traffic passes these chains while br_netfilter's bridge-nf-call-iptables = 1"
            : "blocks routed and NAT guest traffic (bridged traffic too if br_netfilter's bridge-nf-call-iptables is turned on)"
        return CheckResult(id: id, status: .warn, title: title, found: "\(descriptions.joined(separator: "; ")): \(bridgeNote)",
                           remedy: rules.joined(separator: "\n") + (bridge == nil ? "\n(br0 stands for your bridge)" : ""))
    }

    /// net.ipv4.ip_forward: needed to route guests out of NAT networks, not for bridging.
    static func ipForward(_ root: HostRoot) -> CheckResult {
        let id = "ip.forward", title = "IPv4 forwarding"
        let path = root.proc + "/sys/net/ipv4/ip_forward"
        switch root.readValue(path) {
        case "1"?:
            return CheckResult(id: id, status: .ok, title: title, found: "net.ipv4.ip_forward = 1: NAT networks can route guests out")
        case let value?:
            return CheckResult(id: id, status: .warn, title: title,
                               found: "net.ipv4.ip_forward = \(value): fine for bridged guests, but NAT networks cannot route guests out",
                               remedy: "sysctl -w net.ipv4.ip_forward=1   # only for NAT networks\necho 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/90-qnet-forward.conf   # keep across reboots")
        case nil:
            return CheckResult(id: id, status: .warn, title: title, found: "cannot read \(path)",
                               remedy: "check that /proc is mounted (mount -t proc proc /proc)")
        }
    }
}
