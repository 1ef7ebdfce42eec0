import ArgumentParser

/// `qnet tap ...`: persistent TAP devices (tunctl, ip tuntap).
struct TapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tap",
        abstract: "Create, delete and list TAP devices.",
        subcommands: [TapCreate.self, TapDelete.self, TapList.self]
    )
}
