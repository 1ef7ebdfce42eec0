import ArgumentParser

/// `qnet import ...`: other tools' network configuration as qnet configuration files.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Translate ifcfg, ifupdown or netplan files into qnet configuration (printed, or written with --write).",
        discussion: "Every setting is translated or listed as not translated (on stderr, and as comments when printed); nothing is dropped silently.",
        subcommands: [ImportIfcfg.self, ImportInterfaces.self, ImportNetplan.self])
}
