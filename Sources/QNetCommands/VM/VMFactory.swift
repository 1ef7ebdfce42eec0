import HostNetwork
import PCIDevices
import VirtualMachines

/// Builds the VM manager the vm commands share.
enum VMFactory {
    static func manager(host: HostNetwork, global: GlobalOptions) -> VMManager {
        let manager = VMManager(host: host, netns: global.netns, kvmRunsGuests: KVMVerdict.check)
        // Passthrough NICs read and bind PCI functions where `qnet pci` does (QNET_SYSFS_ROOT for tests).
        manager.pciSysfs = PCIAccess.sysfs
        manager.notice = { Output.printError($0) }
        VMStore.notice = { Output.printError($0) }
        return manager
    }
}
