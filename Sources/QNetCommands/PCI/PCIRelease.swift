import ArgumentParser
import PCIDevices

/// `qnet pci release ADDR`: `virsh nodedev-reattach`, `driverctl unset-override ADDR`.
struct PCIRelease: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Give a PCI function back from vfio-pci to the driver it had (virsh nodedev-reattach).",
        discussion: """
            Puts driver_override back, unbinds the function from vfio-pci and binds the driver it had before \
            `qnet pci bind` (or, for a function another tool bound, whatever driver the kernel's probe picks). \
            Refused while a process (QEMU) holds its VFIO group open.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The function: DDDD:BB:DD.F or BB:DD.F.", valueName: "address"), transform: Parse.pciAddress)
    var address: PCIAddress

    @Flag(help: "Also release the other functions of its IOMMU group that are on vfio-pci.")
    var group = false

    func run() throws {
        let change = try PCIAccess.begin(global)
        let outcome = try change.run { try change.host.release(address, wholeGroup: group, in: $0) }
        for released in outcome.released {
            print("released \(released.address) from vfio-pci" + (released.driver.map { " to \($0)" } ?? " (no driver took it)"))
        }
        for address in outcome.notBound { print("\(address) is not bound to vfio-pci; nothing to release") }
        try change.finish()
    }
}
