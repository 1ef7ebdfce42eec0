import ArgumentParser
import VirtualMachines

/// `qnet vm stop NAME`: ACPI power-off, then quit after the timeout.
struct VMStop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop a VM: ACPI power button (system_powerdown), then QMP quit after --timeout.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The VM.")
    var name: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for the guest to power off before quitting QEMU.", valueName: "seconds"),
            transform: Parse.seconds)
    var timeout: Double = 30

    func run() throws {
        let manager = VMFactory.manager(host: try global.openHost(), global: global)
        switch try manager.stop(name, timeout: timeout) {
        case .poweredOff: print("VM \(name) powered off")
        case .quitAfterTimeout: print("VM \(name) ignored the power button for \(formatted(timeout)) s; QEMU was told to quit")
        }
    }
}
