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
    @OptionGroup var output: ImportOutputOptions

    func run() throws {
        let result = InterfacesImporter.translate(text: try FileSystem.readText(file), file: file)
        try ImportOutput.emit(result, output, global: global)
    }
}
