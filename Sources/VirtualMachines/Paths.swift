import Glibc
import QNetSystem

/// Where qnet keeps state: runtime state under /run/qnet (gone at reboot, like the VMs),
/// persistent definitions under /var/lib/qnet. `QNET_STATE_DIR` moves both under one
/// directory (for tests, and for users without root).
public enum QNetPaths {
    public static var stateOverride: String? {
        guard let value = getenv("QNET_STATE_DIR") else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    public static var runtime: String { stateOverride.map { "\($0)/run" } ?? "/run/qnet" }
    public static var persistent: String { stateOverride.map { "\($0)/lib" } ?? "/var/lib/qnet" }
    public static var vms: String { "\(runtime)/vms" }
    /// Host lock files (`HostLock`).
    public static var locks: String { "\(runtime)/locks" }
    /// Host-transaction journals (`Journal`).
    public static var journal: String { "\(runtime)/journal" }
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }
