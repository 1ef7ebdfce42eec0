import QNetSystem

/// QEMU binaries, KVM (present, accessible, actually runs guests) and vhost-net.
enum QEMUChecks {
    /// `qemu-kvm` (RHEL, Fedora) else `qemu-system-x86_64`, and its version.
    static func binary(_ root: HostRoot, timeout: Duration) -> (CheckResult, String?) {
        let id = "qemu.binary", title = "QEMU"
        guard let path = root.executable("qemu-kvm") ?? root.executable("qemu-system-x86_64") else {
            return (CheckResult(id: id, status: .fail, title: title,
                                found: "neither qemu-kvm nor qemu-system-x86_64 found in \(root.searchPath.joined(separator: ":"))",
                                remedy: "apt install qemu-system-x86   # Debian, Ubuntu\ndnf install qemu-kvm   # Fedora, RHEL\npacman -S qemu-base   # Arch"), nil)
        }
        guard let result = try? Subprocess.run(Command(path, ["--version"]), timeout: timeout), result.succeeded,
              let version = parseVersion(result.standardOutput) else {
            return (CheckResult(id: id, status: .warn, title: title, found: "\(path) found, but `\(path) --version` did not print a QEMU version",
                                remedy: "reinstall QEMU (apt install --reinstall qemu-system-x86)"), path)
        }
        return (CheckResult(id: id, status: .ok, title: title, found: "\(path), QEMU \(version)"), path)
    }

    /// "QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)" → "7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)";
    /// "qemu-img version 7.2.19 (...)" likewise.
    static func parseVersion(_ output: String) -> String? {
        for line in output.split(separator: "\n") {
            guard let range = line.firstRange(of: " version ") else { continue }
            let rest = line[range.upperBound...].trimmingWhitespace()
            guard let first = rest.first, first.isNumber else { continue }
            return rest
        }
        return nil
    }

    /// qemu-img, for disk images.
    static func image(_ root: HostRoot, timeout: Duration) -> CheckResult {
        let id = "qemu.img", title = "qemu-img"
        guard let path = root.executable("qemu-img") else {
            return CheckResult(id: id, status: .warn, title: title, found: "qemu-img not found: disk images cannot be created or converted",
                               remedy: "apt install qemu-utils   # Debian, Ubuntu\ndnf install qemu-img   # Fedora, RHEL")
        }
        let version = (try? Subprocess.run(Command(path, ["--version"]), timeout: timeout)).flatMap { parseVersion($0.standardOutput) }
        return CheckResult(id: id, status: .ok, title: title, found: "\(path)" + (version.map { ", version \($0)" } ?? ""))
    }

    static func kvmExpected(_ root: HostRoot) -> DeviceChecks.Expected {
        DeviceChecks.Expected(id: "kvm.device", title: "KVM device", path: root.dev + "/kvm", major: 10, minor: 232)
    }

    static let tcgNote = "guests will run under TCG (software emulation, slow)"

    /// /dev/kvm: character device 10:232 (KVM_MINOR).
    static func kvmDevice(_ root: HostRoot) -> (CheckResult, FileFacts?) {
        let expected = kvmExpected(root)
        switch DeviceChecks.presence(of: expected) {
        case .absent:
            let driver = root.exists(root.sys + "/module/kvm")
            return (CheckResult(id: expected.id, status: .warn, title: expected.title,
                                found: "no \(expected.path)\(driver ? " (kvm is loaded, but no CPU-specific module)" : ""): \(tcgNote)",
                                remedy: "modprobe kvm_intel   # or kvm_amd; enable VT-x/AMD-V in the firmware; inside a VM, enable nested virtualization on its host"), nil)
        case let .wrong(facts):
            return (CheckResult(id: expected.id, status: .warn, title: expected.title,
                                found: "\(expected.path) is \(DeviceChecks.describe(facts)), not character device 10:232: \(tcgNote)",
                                remedy: "rm \(expected.path) && mknod \(expected.path) c 10 232 && chgrp kvm \(expected.path) && chmod 0660 \(expected.path)"), nil)
        case let .present(facts):
            return (CheckResult(id: expected.id, status: .ok, title: expected.title, found: "\(expected.path): \(DeviceChecks.describe(facts))"), facts)
        }
    }

    static func kvmDenied(path: String, facts: FileFacts) -> (UserIdentity) -> (CheckStatus, String) {
        { who in (.warn, DeviceChecks.joinGroupRemedy(path: path, facts: facts, user: who, chmodMode: "0666") + "\nuntil then \(tcgNote)") }
    }

    /// The KVM probe's verdict as a check.
    static func kvmRuns(_ probe: KVMProbeResult?, skipped: String?) -> CheckResult {
        let id = "kvm.runs", title = "KVM runs guests"
        guard let probe else {
            return CheckResult(id: id, status: .warn, title: title, found: "not probed: \(skipped ?? "no KVM")", remedy: "none needed: \(tcgNote)")
        }
        let cached = probe.fromCache ? " (result cached for this boot)" : ""
        switch probe.verdict {
        case .runsGuests:
            return CheckResult(id: id, status: .ok, title: title, found: "yes: \(probe.detail)\(cached)")
        case .stalled:
            return CheckResult(id: id, status: .warn, title: title,
                               found: "KVM cannot run guests here: \(probe.detail)\(cached)",
                               remedy: "none needed: \(tcgNote); `--accel auto` picks TCG on this host. For KVM: on a nested VM, enable nested virtualization on the outer host (kvm_intel nested=1 / kvm_amd nested=1)")
        case .failed:
            return CheckResult(id: id, status: .warn, title: title, found: "KVM cannot run guests: \(probe.detail)",
                               remedy: "\(tcgNote) until this is fixed; check `dmesg | grep -i kvm` and the firmware's virtualization setting")
        }
    }

    static func vhostExpected(_ root: HostRoot) -> DeviceChecks.Expected {
        DeviceChecks.Expected(id: "vhost.device", title: "vhost-net device", path: root.dev + "/vhost-net", major: 10, minor: 238)
    }

    /// /dev/vhost-net: character device 10:238 (VHOST_NET_MINOR). Without it virtio-net
    /// still works, with QEMU's own thread moving every packet (slower).
    static func vhostDevice(_ root: HostRoot, config: KernelConfig?) -> (CheckResult, FileFacts?) {
        let expected = vhostExpected(root)
        let slower = "virtio-net still works, but QEMU's main loop moves every packet (slower than the in-kernel vhost-net)"
        switch DeviceChecks.presence(of: expected) {
        case .absent:
            let remedy: String = switch config?["CONFIG_VHOST_NET"] {
            case .notSet?: "nothing to do short of another kernel: this one is built without CONFIG_VHOST_NET (\(config!.source))"
            default: "modprobe vhost_net\necho vhost_net > /etc/modules-load.d/qnet-vhost.conf   # load it at every boot"
            }
            return (CheckResult(id: expected.id, status: .warn, title: expected.title, found: "no \(expected.path): \(slower)", remedy: remedy), nil)
        case let .wrong(facts):
            return (CheckResult(id: expected.id, status: .warn, title: expected.title,
                                found: "\(expected.path) is \(DeviceChecks.describe(facts)), not character device 10:238: \(slower)",
                                remedy: "rm \(expected.path) && mknod \(expected.path) c 10 238 && chgrp kvm \(expected.path) && chmod 0660 \(expected.path)"), nil)
        case let .present(facts):
            return (CheckResult(id: expected.id, status: .ok, title: expected.title, found: "\(expected.path): \(DeviceChecks.describe(facts))"), facts)
        }
    }

    static func vhostDenied(path: String, facts: FileFacts) -> (UserIdentity) -> (CheckStatus, String) {
        { who in (.warn, DeviceChecks.joinGroupRemedy(path: path, facts: facts, user: who, chmodMode: "0666") + "\nuntil then virtio-net runs without vhost-net (slower)") }
    }
}
