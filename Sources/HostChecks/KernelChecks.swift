/// The bridge driver and the capability to create links.
enum KernelChecks {
    /// CONFIG_BRIDGE and the bridge module: loaded/built in, loadable, or missing.
    static func bridgeDriver(_ root: HostRoot, config: KernelConfig?, problems: [String]) -> CheckResult {
        let id = "bridge.driver", title = "Bridge driver"
        let modules = KernelModules(root: root)
        let setting = config?["CONFIG_BRIDGE"]
        let source = config.map { " (\($0.source))" } ?? ""
        if modules.isLoadedModule("bridge") {
            return CheckResult(id: id, status: .ok, title: title, found: "loaded as a module (bridge in \(root.proc)/modules)")
        }
        if modules.isPresent("bridge") {
            let how = modules.isBuiltIn("bridge", config: setting) ? "built into the kernel" : "loaded"
            return CheckResult(id: id, status: .ok, title: title, found: "\(how): \(root.sys)/module/bridge, CONFIG_BRIDGE=\(setting?.description ?? "?")\(source)")
        }
        switch setting {
        case .builtIn?:
            return CheckResult(id: id, status: .ok, title: title, found: "built into the kernel (CONFIG_BRIDGE=y\(source))")
        case .module?:
            return CheckResult(id: id, status: .ok, title: title,
                               found: "module not loaded yet (CONFIG_BRIDGE=m\(source)): the kernel loads it when the first bridge is created")
        case .notSet?:
            return CheckResult(id: id, status: .fail, title: title, found: "absent: CONFIG_BRIDGE is not set\(source): the kernel must be rebuilt",
                               remedy: rebuildRemedy("CONFIG_BRIDGE", menu: "Networking support → Networking options → 802.1d Ethernet Bridging"))
        case .value?, nil:
            return CheckResult(id: id, status: .warn, title: title,
                               found: "not loaded, and the kernel configuration does not say whether it can be (\(problems.joined(separator: "; ")))",
                               remedy: "modprobe bridge")
        }
    }

    /// CAP_NET_ADMIN in this process's effective set (`CapEff` bit 12 in /proc/self/status):
    /// needed to create bridges and TAPs. Reads only; changes nothing.
    static func netAdmin(_ root: HostRoot) -> CheckResult {
        let id = "net.admin", title = "CAP_NET_ADMIN"
        let path = root.proc + "/self/status"
        guard let status = root.read(path),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingWhitespace(), radix: 16) else {
            return CheckResult(id: id, status: .warn, title: title, found: "cannot read CapEff from \(path)",
                               remedy: "run qnet as root (sudo qnet ...) to create bridges and TAPs")
        }
        let capNetAdmin: UInt64 = 12
        let hex = String(mask, radix: 16)
        if mask & (1 << capNetAdmin) != 0 {
            return CheckResult(id: id, status: .ok, title: title, found: "present (CapEff \(hex)): this process can create and change links")
        }
        return CheckResult(id: id, status: .fail, title: title,
                           found: "missing (CapEff \(hex)): qnet bridge/tap commands will be refused with EPERM",
                           remedy: "run qnet as root (sudo qnet ...); or let root create a TAP you own: sudo qnet tap create tap0 --owner $USER --bridge br0")
    }
}
