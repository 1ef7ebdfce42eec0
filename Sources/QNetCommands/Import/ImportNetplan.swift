import ArgumentParser
import QNetSystem
import VirtualMachines

/// `qnet import netplan FILE`: netplan YAML.
struct ImportNetplan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netplan", abstract: "Import a netplan YAML file (bridges: interfaces, addresses, routes, parameters).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The netplan file.")
    var file: String
    @Flag(help: "Write the files under CONFIG_DIR instead of printing them.")
    var write = false
    @Option(name: .customLong("config-dir"), help: ArgumentHelp("Where --write puts them (default /etc/qnet).", valueName: "dir"))
    var configDirectory: String?

    func run() throws {
        let result = try NetplanImporter.translate(text: try FileSystem.readText(file), file: file)
        try ImportOutput.emit(result, write: write, global: global, configDirectory: configDirectory)
    }
}
