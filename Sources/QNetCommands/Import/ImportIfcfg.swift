import ArgumentParser
import VirtualMachines

/// `qnet import ifcfg DIR`: RHEL network-scripts.
struct ImportIfcfg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ifcfg", abstract: "Import /etc/sysconfig/network-scripts/ifcfg-* files (TYPE=Bridge, BRIDGE=, IPADDR, STP, DELAY, ...).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The directory holding the ifcfg-* files.")
    var directory: String
    @OptionGroup var output: ImportOutputOptions

    func run() throws {
        let result = IfcfgImporter.translate(try IfcfgImporter.load(directory: directory))
        try ImportOutput.emit(result, output, global: global)
    }
}
