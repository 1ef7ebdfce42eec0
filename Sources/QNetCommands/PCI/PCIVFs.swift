import ArgumentParser
import PCIDevices

/// `qnet pci vfs PF --count N`: `echo N > /sys/bus/pci/devices/PF/sriov_numvfs`.
struct PCIVFs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vfs",
        abstract: "Set the number of SR-IOV virtual functions of a physical function (sriov_numvfs).",
        discussion: """
            The kernel changes a non-zero count only through 0, so every VF is removed and made again (their \
            MACs and VLANs start over). Refused while a VF is bound to vfio-pci or held by a VM, and (unless \
            --force) while the host uses a VF's interface.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The physical function: DDDD:BB:DD.F or BB:DD.F.", valueName: "pf"), transform: Parse.pciAddress)
    var physicalFunction: PCIAddress

    @Option(parsing: .unconditional, help: ArgumentHelp("The number of VFs (0 removes them all; at most sriov_totalvfs).", valueName: "n"),
            transform: Parse.integer("VF count", in: 0...65535))
    var count: Int

    @Flag(help: "Remove VFs even though the host uses their interfaces.")
    var force = false

    func run() throws {
        let change = try PCIAccess.begin(global)
        let previous = try change.run { try change.host.setVFCount(physicalFunction, to: count, force: force, in: $0) }
        if previous == count {
            print("\(physicalFunction) has \(count) VF\(count == 1 ? "" : "s") already")
        } else {
            print("\(physicalFunction): \(previous) → \(count) VF\(count == 1 ? "" : "s")")
        }
        try change.finish()
    }
}
