/// Whether KVM can run guests here (bridges `--accel auto` to HostChecks' KVM probe).
enum KVMVerdict {
    static func check(qemu: String) -> (usable: Bool, reason: String) {
        (false, "KVM probe pending")
    }
}
