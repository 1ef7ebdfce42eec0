import ArgumentParser
import Glibc
import PCIDevices
import QNetSystem
import VirtualMachines

/// `qnet pci ...`: PCI functions for direct assignment (lspci, driverctl, virsh nodedev-*).
struct PCICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pci",
        abstract: "List PCI functions, hand them to vfio-pci and back, set SR-IOV VF counts.",
        subcommands: [PCIList.self, PCIBind.self, PCIRelease.self, PCIVFs.self]
    )
}

/// The CLI's way to PCI functions: the host's sysfs (or `$QNET_SYSFS_ROOT`'s, for tests),
/// what uses an interface asked over rtnetlink in the command's namespace, and the
/// previous-driver memory under the runtime directory.
enum PCIAccess {
    /// A fixture tree instead of /, for tests of the CLI (`QNET_SYSFS_ROOT=DIR`: DIR/sys, DIR/proc, ...).
    static var sysfs: PCISysfs {
        if let root = getenvString("QNET_SYSFS_ROOT"), !root.isEmpty { return PCISysfs(prefix: root) }
        return .host
    }

    static func host(_ global: GlobalOptions, readingHostUse: Bool = true) throws -> PCIHost {
        let pci = PCIHost(sysfs: sysfs, stateDirectory: QNetPaths.runtime + "/pci")
        if readingHostUse { pci.hostUse = .rtnetlink(try global.openHost()) }
        return pci
    }

    /// Locks, recovers and hands out transactions (`PCIChange`).
    static func begin(_ global: GlobalOptions, recovering: Bool = true, readingHostUse: Bool = true) throws -> PCIChange {
        let pci = try host(global, readingHostUse: readingHostUse)
        return try PCIChange.begin(host: pci, command: HostChange.commandLine(), journal: Recovery.journal,
                                   lockDirectory: Recovery.lockDirectory, lockWait: HostChange.lockWait, recovering: recovering)
    }
}

private func getenvString(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

extension Parse {
    /// `DDDD:BB:DD.F` or `BB:DD.F`.
    static func pciAddress(_ text: String) throws -> PCIAddress {
        guard let address = PCIAddress(text) else { throw ValidationError(PCIAddress.invalidMessage(printable(text))) }
        return address
    }
}
