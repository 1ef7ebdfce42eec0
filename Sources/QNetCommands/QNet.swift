import ArgumentParser

/// The `qnet` command tree. Commands live in one folder per noun, one file per verb;
/// each parses its options into typed values and calls HostNetwork.
public struct QNet: ParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "qnet",
        abstract: "QEMU virtual-machine networking for Linux: bridges, TAPs and hooks, done in-process over rtnetlink.",
        discussion: """
            qnet replaces brctl, tunctl, ifconfig and hand-written qemu-ifup scripts. It never runs ip, brctl, \
            tunctl or ifconfig: every change goes through rtnetlink and /dev/net/tun.

            Exit status: 0 success, 1 the operation failed, 2 bad usage or input.
            """,
        version: version,
        subcommands: [BridgeCommand.self, TapCommand.self, PCICommand.self, Show.self, Top.self, Ifup.self, Ifdown.self, DiskCommand.self, NetCommand.self, Doctor.self, Recover.self, GuestCommand.self, VMCommand.self, Probe.self, DemoCommand.self, Apply.self, Export.self, ImportCommand.self]
    )

    /// Shown in `qnet --help` (the options may come first: `qnet --netns lab show`); Entry
    /// moves them behind the subcommand, whose own copy of GlobalOptions reads them.
    @OptionGroup(title: "Global options (every command takes them)")
    var global: GlobalOptions

    public init() {}
}
