import QNetSystem

/// TUN/TAP: the device node, the driver, the kernel option, and who may open it.
enum TUNChecks {
    static func expected(_ root: HostRoot) -> DeviceChecks.Expected {
        DeviceChecks.Expected(id: "tun.device", title: "TUN device", path: root.dev + "/net/tun", major: 10, minor: 200)
    }

    /// /dev/net/tun exists and is character device 10:200 (MISC_MAJOR, TUN_MINOR).
    static func device(_ root: HostRoot) -> CheckResult {
        let expected = expected(root)
        let path = expected.path
        let create = "mkdir -p \(root.dev)/net && mknod \(path) c 10 200 && chmod 0666 \(path)"
        switch DeviceChecks.presence(of: expected) {
        case .absent:
            let registered = root.readValue(root.sys + "/class/misc/tun/dev")
            if let registered {
                return CheckResult(id: expected.id, status: .fail, title: expected.title,
                                   found: "\(path) is missing, although the TUN driver is registered (\(registered) in /sys/class/misc/tun/dev)",
                                   remedy: create)
            }
            return CheckResult(id: expected.id, status: .fail, title: expected.title,
                               found: "\(path) is missing and the TUN driver is not registered",
                               remedy: "modprobe tun   # creates \(path); if it does not: \(create)")
        case let .wrong(facts):
            return CheckResult(id: expected.id, status: .fail, title: expected.title,
                               found: "\(path) is \(DeviceChecks.describe(facts)), not character device 10:200",
                               remedy: "rm \(path) && \(create)")
        case let .present(facts):
            return CheckResult(id: expected.id, status: .ok, title: expected.title, found: "\(path): \(DeviceChecks.describe(facts))")
        }
    }

    /// The driver is built in or loaded: /sys/class/misc/tun (registered), /sys/module/tun,
    /// /proc/modules, modules.builtin; else what CONFIG_TUN says.
    static func driver(_ root: HostRoot, config: KernelConfig?) -> CheckResult {
        let id = "tun.driver", title = "TUN driver"
        let loaded = KernelModules(root: root)
        let registered = root.exists(root.sys + "/class/misc/tun")
        if loaded.isLoadedModule("tun") {
            return CheckResult(id: id, status: .ok, title: title, found: "loaded as a module (tun in \(root.proc)/modules)")
        }
        if registered || root.exists(root.sys + "/module/tun") {
            let how = loaded.isBuiltIn("tun", config: config?["CONFIG_TUN"]) ? "built into the kernel" : "present"
            return CheckResult(id: id, status: .ok, title: title, found: "\(how), registered as \(root.sys)/class/misc/tun")
        }
        switch config?["CONFIG_TUN"] {
        case .module?:
            return CheckResult(id: id, status: .fail, title: title, found: "not loaded (CONFIG_TUN=m)",
                               remedy: "modprobe tun\necho tun > /etc/modules-load.d/qnet-tun.conf   # load it at every boot")
        case .notSet?:
            return CheckResult(id: id, status: .fail, title: title, found: "absent: this kernel has no TUN/TAP driver (CONFIG_TUN not set)",
                               remedy: rebuildRemedy("CONFIG_TUN", menu: "Device Drivers → Network device support → Universal TUN/TAP device driver support"))
        default:
            return CheckResult(id: id, status: .fail, title: title, found: "not loaded (no \(root.sys)/class/misc/tun, no tun in \(root.proc)/modules)",
                               remedy: "modprobe tun")
        }
    }

    /// CONFIG_TUN: y / m fine, not set means the kernel must be rebuilt.
    static func config(_ config: KernelConfig?, problems: [String], driverPresent: Bool) -> CheckResult {
        KernelOptionCheck.check(id: "tun.config", title: "CONFIG_TUN", option: "CONFIG_TUN", config: config, problems: problems,
                                driverPresent: driverPresent,
                                menu: "Device Drivers → Network device support → Universal TUN/TAP device driver support")
    }

    static func accessDenied(path: String, facts: FileFacts) -> (UserIdentity) -> (CheckStatus, String) {
        { _ in
            (.fail, """
            chmod 0666 \(path)   # the kernel's own default; opening it grants nothing by itself (creating a TAP needs CAP_NET_ADMIN, attaching to one needs to own it: qnet tap create NAME --owner USER)
            echo 'KERNEL=="tun", MODE="0666"' > /etc/udev/rules.d/90-qnet-tun.rules   # keep it across reboots
            """)
        }
    }
}

/// Kernel options that qnet needs: y and m are fine, "not set" needs another kernel.
enum KernelOptionCheck {
    static func check(id: String, title: String, option: String, config: KernelConfig?, problems: [String],
                      driverPresent: Bool, menu: String) -> CheckResult {
        guard let config else {
            let why = problems.joined(separator: "; ")
            if driverPresent {
                return CheckResult(id: id, status: .ok, title: title, found: "kernel configuration not readable (\(why)), but the driver is present")
            }
            return CheckResult(id: id, status: .warn, title: title, found: "cannot tell: kernel configuration not readable (\(why))",
                               remedy: "modprobe configs   # provides /proc/config.gz on kernels built with CONFIG_IKCONFIG=m")
        }
        switch config[option] {
        case .builtIn:
            return CheckResult(id: id, status: .ok, title: title, found: "\(option)=y (built in), \(config.source)")
        case .module:
            return CheckResult(id: id, status: .ok, title: title, found: "\(option)=m (module), \(config.source)")
        case .notSet:
            return CheckResult(id: id, status: .fail, title: title, found: "\(option) is not set in \(config.source): the kernel must be rebuilt",
                               remedy: rebuildRemedy(option, menu: menu))
        case let .value(value):
            return CheckResult(id: id, status: .warn, title: title, found: "\(option)=\(value) in \(config.source) (expected y or m)",
                               remedy: rebuildRemedy(option, menu: menu))
        }
    }
}

func rebuildRemedy(_ option: String, menu: String) -> String {
    "the kernel must be rebuilt with \(option)=y or \(option)=m (make menuconfig: \(menu)), or boot your distribution's stock kernel, which has it"
}

/// Loaded and built-in modules: /proc/modules, /sys/module, modules.builtin.
struct KernelModules {
    var root: HostRoot
    var loaded: Set<String>
    var builtIn: Set<String>

    init(root: HostRoot) {
        self.root = root
        loaded = Set((root.read(root.proc + "/modules") ?? "").split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        var builtIn: Set<String> = []
        if root.kernelRelease != nil {
            for directory in Self.moduleDirectories(root) {
                guard let text = root.read(directory + "/modules.builtin") else { continue }
                for line in text.split(separator: "\n") {
                    guard let file = line.split(separator: "/").last, file.hasSuffix(".ko") else { continue }
                    builtIn.insert(String(file.dropLast(3)).replacing("-", with: "_"))
                }
                break
            }
        }
        self.builtIn = builtIn
    }

    func isLoadedModule(_ name: String) -> Bool { loaded.contains(name) }

    /// /usr/lib/modules/RELEASE and /lib/modules/RELEASE under the root.
    static func moduleDirectories(_ root: HostRoot) -> [String] {
        guard let release = root.kernelRelease else { return [] }
        return [root.usrLib + "/modules/" + release,
                (root.usrLib.hasSuffix("/usr/lib") ? String(root.usrLib.dropLast(8)) : root.usrLib) + "/lib/modules/" + release]
    }

    /// A module file `name.ko` (any compression) is listed in modules.dep: `modprobe NAME` can load it.
    func isAvailable(_ name: String) -> Bool {
        for directory in Self.moduleDirectories(root) {
            if let text = root.read(directory + "/modules.dep") { return text.contains("/\(name).ko") }
        }
        return false
    }

    func isBuiltIn(_ name: String, config: KernelConfig.Setting?) -> Bool {
        builtIn.contains(name) || config == .builtIn
    }

    /// Loaded or built in, as far as /sys/module and /proc/modules tell. Built-in modules
    /// appear in /sys/module only when they have parameters or a version.
    func isPresent(_ name: String) -> Bool {
        loaded.contains(name) || root.exists(root.sys + "/module/" + name)
    }
}
