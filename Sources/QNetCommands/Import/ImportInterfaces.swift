import ArgumentParser
import QNetSystem
import VirtualMachines

/// `qnet import interfaces FILE`: Debian ifupdown / Proxmox ifupdown2.
struct ImportInterfaces: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interfaces", abstract: "Import a Debian /etc/network/interfaces file (bridge_ports, bridge_stp, bridge_fd, address, gateway, post-up routes).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The interfaces file.")
    var file: String
    @Flag(help: "Write the files under CONFIG_DIR instead of printing them.")
    var write = false
    @Option(name: .customLong("config-dir"), help: ArgumentHelp("Where --write puts them (default /etc/qnet).", valueName: "dir"))
    var configDirectory: String?

    func run() throws {
        let result = InterfacesImporter.translate(text: try FileSystem.readText(file), file: file)
        try ImportOutput.emit(result, write: write, global: global, configDirectory: configDirectory)
    }
}
