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
    @OptionGroup var output: ImportOutputOptions

    func run() throws {
        let result = try NetplanImporter.translate(text: try FileSystem.readText(file), file: file)
        try ImportOutput.emit(result, output, global: global)
    }
}
