import Glibc
import HostNetwork
import QNetTypes

/// NetworkManager and systemd-networkd: running, and whether they would manage the bridge
/// and qnet's TAPs (a manager that does can take addresses away, bring ports down or
/// detach TAPs from the bridge).
enum ManagerChecks {
    /// An interface the managers should leave alone.
    struct Interface: Sendable {
        var name: String
        /// .bridge, or .tun for qnet's TAPs.
        var kind: LinkKind
        /// The ifindex, when it exists now (for networkd's runtime state).
        var index: InterfaceIndex?
    }

    /// The first process whose /proc/PID/comm is `comm` (15 characters at most: the
    /// kernel truncates, so systemd-networkd shows as "systemd-network").
    static func runningPID(_ root: HostRoot, comm: String) -> Int? {
        for entry in root.list(root.proc) {
            guard let pid = Int(entry) else { continue }
            if root.readValue(root.proc + "/" + entry + "/comm") == comm { return pid }
        }
        return nil
    }

    // MARK: - NetworkManager

    /// NetworkManager's device specs that leave devices unmanaged: `[keyfile]
    /// unmanaged-devices=` and `[device*]` sections with `managed=0` and `match-device=`,
    /// from NetworkManager.conf and conf.d in /usr/lib, /run and /etc.
    static func networkManagerUnmanagedSpecs(_ root: HostRoot) -> [String] {
        var files: [String] = []
        for directory in [root.usrLib + "/NetworkManager/conf.d", root.run + "/NetworkManager/conf.d", root.etc + "/NetworkManager/conf.d"] {
            files += root.list(directory).filter { $0.hasSuffix(".conf") }.map { directory + "/" + $0 }
        }
        files.insert(root.etc + "/NetworkManager/NetworkManager.conf", at: 0)
        var specs: [String] = []
        for file in files {
            guard let text = root.read(file) else { continue }
            var section = ""
            var matchDevice: [String] = [], unmanaged = false
            func flushDeviceSection() {
                if section.hasPrefix("device"), unmanaged { specs += matchDevice }
                matchDevice = []
                unmanaged = false
            }
            for rawLine in text.split(separator: "\n") {
                let line = rawLine.trimmingWhitespace()
                if line.hasPrefix("#") || line.hasPrefix(";") || line.isEmpty { continue }
                if line.hasPrefix("[") {
                    flushDeviceSection()
                    section = String(line.dropFirst().prefix { $0 != "]" })
                    continue
                }
                guard let equals = line.firstIndex(of: "=") else { continue }
                let key = line[..<equals].trimmingWhitespace(), value = line[line.index(after: equals)...].trimmingWhitespace()
                let list = value.split(whereSeparator: { $0 == ";" || $0 == "," }).map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
                if section == "keyfile", key == "unmanaged-devices" { specs += list }
                if section.hasPrefix("device") {
                    if key == "match-device" { matchDevice = list }
                    if key == "managed", ["0", "false", "no"].contains(value.lowercased()) { unmanaged = true }
                }
            }
            flushDeviceSection()
        }
        return specs
    }

    /// Whether one NetworkManager device spec matches (`interface-name:GLOB`,
    /// `interface-name:=NAME`, `type:KIND`, `driver:NAME`, `except:SPEC`, `*`).
    static func networkManagerSpecMatches(_ specs: [String], _ interface: Interface) -> Bool {
        var matched = false
        for spec in specs {
            if spec.hasPrefix("except:") {
                if networkManagerSpecMatches([String(spec.dropFirst(7))], interface) { return false }
                continue
            }
            if spec == "*" { matched = true }
            if spec.hasPrefix("interface-name:") {
                var pattern = String(spec.dropFirst("interface-name:".count))
                if pattern.hasPrefix("=") { if String(pattern.dropFirst()) == interface.name { matched = true }; continue }
                if pattern.hasPrefix("~") { pattern.removeFirst() }
                if fnmatch(pattern, interface.name, 0) == 0 { matched = true }
            }
            if spec == "type:" + interface.kind.kernelName || (interface.kind == .tun && spec == "driver:tun") || (interface.kind == .bridge && spec == "driver:bridge") {
                matched = true
            }
        }
        return matched
    }

    static func networkManager(_ root: HostRoot, interfaces: [Interface]) -> CheckResult {
        let id = "manager.networkmanager", title = "NetworkManager"
        guard let pid = runningPID(root, comm: "NetworkManager") else {
            return CheckResult(id: id, status: .ok, title: title, found: "not running")
        }
        let specs = networkManagerUnmanagedSpecs(root)
        let managed = interfaces.filter { !networkManagerSpecMatches(specs, $0) }
        if managed.isEmpty {
            return CheckResult(id: id, status: .ok, title: title,
                               found: "running (pid \(pid)); unmanaged-devices covers \(interfaces.map(\.name).joined(separator: ", "))")
        }
        let names = managed.map { $0.kind == .tun ? "qnet's TAPs (\($0.name))" : $0.name }
        let entries = managed.map { $0.kind == .tun ? "interface-name:vnet*;interface-name:tap*" : "interface-name:\($0.name)" }
        return CheckResult(id: id, status: .warn, title: title,
                           found: "running (pid \(pid)) and may manage \(names.joined(separator: " and ")): it can take addresses away, take ports down or detach TAPs",
                           remedy: """
                           printf '[keyfile]\\nunmanaged-devices=\(entries.joined(separator: ";"))\\n' > /etc/NetworkManager/conf.d/90-qnet.conf
                           nmcli general reload conf   # or: systemctl reload NetworkManager
                           (leave a bridge out if NetworkManager itself made it: nmcli connection show)
                           """)
    }

    // MARK: - systemd-networkd

    /// One .network file's [Match] and [Link] Unmanaged=.
    struct NetworkFile {
        var path: String
        var names: [String] = []
        var negateNames = false
        var kinds: [String] = []
        var types: [String] = []
        /// [Match] keys this reader does not evaluate (MACAddress=, Driver=, Path=, ...):
        /// such a file is assumed not to match.
        var otherMatchKeys = false
        var unmanaged = false

        func matches(_ interface: Interface) -> Bool {
            if otherMatchKeys { return false }
            if !names.isEmpty {
                let hit = names.contains { fnmatch($0, interface.name, 0) == 0 }
                if hit == negateNames { return false }
            }
            if !kinds.isEmpty && !kinds.contains(interface.kind.kernelName) { return false }
            // networkd's Type= for a bridge is "bridge"; a TAP is "ether" (no DEVTYPE).
            if !types.isEmpty && !types.contains(interface.kind == .bridge ? "bridge" : "ether") { return false }
            return true
        }
    }

    /// The .network files in the order networkd reads them: by file name across
    /// /etc, /run and /usr/lib (a name in /etc hides the same name further down).
    static func networkFiles(_ root: HostRoot) -> [NetworkFile] {
        var byName: [String: String] = [:]
        for directory in [root.usrLib + "/systemd/network", root.run + "/systemd/network", root.etc + "/systemd/network"] {
            for name in root.list(directory) where name.hasSuffix(".network") { byName[name] = directory + "/" + name }
        }
        return byName.keys.sorted().compactMap { name in
            guard let path = byName[name], let text = root.read(path) else { return nil }
            var file = NetworkFile(path: path)
            var section = ""
            for rawLine in text.split(separator: "\n") {
                let line = rawLine.trimmingWhitespace()
                if line.hasPrefix("#") || line.hasPrefix(";") || line.isEmpty { continue }
                if line.hasPrefix("[") { section = String(line.dropFirst().prefix { $0 != "]" }); continue }
                guard let equals = line.firstIndex(of: "=") else { continue }
                let key = line[..<equals].trimmingWhitespace()
                var value = line[line.index(after: equals)...].trimmingWhitespace()
                switch (section, key) {
                case ("Match", "Name"):
                    if value.hasPrefix("!") { file.negateNames = true; value.removeFirst() }
                    file.names += value.split(separator: " ").map(String.init)
                case ("Match", "Kind"): file.kinds += value.split(separator: " ").map(String.init)
                case ("Match", "Type"): file.types += value.split(separator: " ").map(String.init)
                case ("Match", _): file.otherMatchKeys = true
                case ("Link", "Unmanaged"): file.unmanaged = ["yes", "true", "1", "on"].contains(value.lowercased())
                default: break
                }
            }
            return file
        }
    }

    static func networkd(_ root: HostRoot, interfaces: [Interface]) -> CheckResult {
        let id = "manager.networkd", title = "systemd-networkd"
        guard let pid = runningPID(root, comm: "systemd-network") else {
            return CheckResult(id: id, status: .ok, title: title, found: "not running")
        }
        let files = networkFiles(root)
        var managed: [(Interface, String)] = []
        for interface in interfaces {
            // The runtime state, when the interface exists, is the final word.
            if let index = interface.index,
               let state = root.read(root.run + "/systemd/netif/links/\(index)")?.split(separator: "\n")
                   .first(where: { $0.hasPrefix("ADMIN_STATE=") })?.dropFirst("ADMIN_STATE=".count) {
                if state != "unmanaged" && state != "linger" { managed.append((interface, "ADMIN_STATE=\(state)")) }
                continue
            }
            if let file = files.first(where: { $0.matches(interface) }), !file.unmanaged {
                managed.append((interface, "matched by \(file.path)"))
            }
        }
        if managed.isEmpty {
            return CheckResult(id: id, status: .ok, title: title,
                               found: "running (pid \(pid)); no .network file manages \(interfaces.map(\.name).joined(separator: ", "))")
        }
        let names = managed.map { $0.0.kind == .tun ? "vnet* tap*" : $0.0.name }
        return CheckResult(id: id, status: .warn, title: title,
                           found: "running (pid \(pid)) and manages \(managed.map { "\($0.0.name) (\($0.1))" }.joined(separator: ", "))",
                           remedy: """
                           printf '[Match]\\nName=\(names.joined(separator: " "))\\n\\n[Link]\\nUnmanaged=yes\\n' > /etc/systemd/network/10-qnet-unmanaged.network
                           networkctl reload
                           """)
    }
}
