import HostChecks

/// Whether KVM can run guests here (bridges `--accel auto` to HostChecks' KVM probe,
/// cached per boot, so only the first VM after a reboot pays for it).
enum KVMVerdict {
    static func check(qemu: String) -> (usable: Bool, reason: String) {
        let result = KVMProbe.cached(qemu: qemu)
        return (result.canRunGuests, result.detail)
    }
}
