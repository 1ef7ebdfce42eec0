import ArgumentParser

/// `qnet vm ...`: QEMU VMs whose NICs are TAPs qnet opens and hands to QEMU.
struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "Run, list, stop VMs (QEMU with TAP descriptors passed in, over QMP).",
        subcommands: [VMRun.self, VMList.self, VMStatusCommand.self, VMStop.self, VMKill.self, VMConsole.self]
    )
}
