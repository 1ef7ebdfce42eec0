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
        subcommands: [PCIList.self, PCIBind.self, PCIRelease.self, PCIVFs.self, PCIVF.self]
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

    /// Where `bind` remembers previous drivers: `/run/qnet/pci`.
    static var stateDirectory: String { QNetPaths.runtime + "/pci" }

    static func host(_ global: GlobalOptions, readingHostUse: Bool = true) throws -> PCIHost {
        // --state-dir first: the memory, lock and journal paths follow it.
        if let directory = global.stateDirectory { setenv("QNET_STATE_DIR", directory, 1) }
        let network = readingHostUse ? try global.openHost() : nil
        let pci = PCIHost(sysfs: sysfs, stateDirectory: stateDirectory)
        if let network { pci.hostUse = .rtnetlink(network) }
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
