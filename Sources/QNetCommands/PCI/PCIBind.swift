import ArgumentParser
import PCIDevices

/// `qnet pci bind ADDR`: `virsh nodedev-detach`, `driverctl set-override ADDR vfio-pci`.
struct PCIBind: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bind",
        abstract: "Hand a PCI function to vfio-pci for direct assignment (virsh nodedev-detach).",
        discussion: """
            Sets driver_override to vfio-pci, unbinds the function from its driver (remembered for `qnet pci release`) \
            and has the kernel probe it again. VFIO assigns whole IOMMU groups: other functions of the group that have \
            a host driver are refused by name, or bound too with --group. A function whose interface the host uses \
            (addresses, routes, a bridge port) is refused, naming the use, unless --force. Journaled: an interrupted \
            bind is undone by the next qnet command that changes PCI functions (or `qnet recover`).
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The function: DDDD:BB:DD.F or BB:DD.F (see `qnet pci list`).", valueName: "address"),
              transform: Parse.pciAddress)
    var address: PCIAddress

    @Flag(help: "Also bind the other functions of its IOMMU group that have a host driver.")
    var group = false

    @Flag(help: "Bind it even though the host uses its interface (the host loses that connectivity).")
    var force = false

    func run() throws {
        let change = try PCIAccess.begin(global)
        let outcome = try change.run { try change.host.bind(address, wholeGroup: group, force: force, in: $0) }
        for use in outcome.overriddenUses { Output.printError("warning: --force: \(use)") }
        for bound in outcome.bound {
            print("bound \(bound.address) to vfio-pci (was \(bound.previousDriver ?? "no driver"))"
                  + (outcome.group.map { "; QEMU: -device vfio-pci,host=\(bound.address) with /dev/vfio/\($0)" } ?? ""))
        }
        for address in outcome.alreadyBound { print("\(address) is already bound to vfio-pci") }
        try change.finish()
    }
}
