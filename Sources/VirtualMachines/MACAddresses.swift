import QNetTypes

/// Stable guest MACs: QEMU's OUI 52:54:00 and 24 bits from the VM's name and NIC index
/// (FNV-1a), so a VM keeps its MAC — and its DHCP lease — across restarts.
public enum GuestMAC {
    public static func derived(vm: String, nicIndex: Int, attempt: Int = 0) -> MACAddress {
        var hash: UInt32 = 0x811c_9dc5
        for byte in Array("\(vm)/\(nicIndex)\(attempt == 0 ? "" : "#\(attempt)")".utf8) {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        return MACAddress(bytes: [0x52, 0x54, 0x00, UInt8(truncatingIfNeeded: hash >> 16), UInt8(truncatingIfNeeded: hash >> 8), UInt8(truncatingIfNeeded: hash)])!
    }

    /// The MAC for each NIC: `mac=` when given (refused when a running VM uses it), else
    /// derived, re-derived while it collides with a running VM's or an earlier NIC's.
    public static func assign(vm: String, nics: [NICSpec], inUse: [MACAddress: String]) throws -> [MACAddress] {
        var taken = inUse
        var result: [MACAddress] = []
        for (index, nic) in nics.enumerated() {
            if let text = nic.mac {
                let mac = MACAddress(text)!
                if let owner = taken[mac] { throw VMError.macInUse(mac: mac.description, vm: owner) }
                taken[mac] = vm
                result.append(mac)
                continue
            }
            var attempt = 0
            var mac = derived(vm: vm, nicIndex: index)
            while taken[mac] != nil {
                attempt += 1
                mac = derived(vm: vm, nicIndex: index, attempt: attempt)
            }
            taken[mac] = vm
            result.append(mac)
        }
        return result
    }
}
