import ArgumentParser
import HostNetwork
import VirtualMachines

/// `qnet tap delete NAME`: `tunctl -d NAME` / `ip tuntap del NAME mode tap`.
struct TapDelete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a TAP device (ip tuntap del NAME mode tap; tunctl -d NAME).",
        discussion: "Refused for a running VM's TAP, unless --force.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The TAP to delete.", transform: Parse.interfaceName)
    var name: String

    @Flag(help: "Delete it even when it is a running VM's NIC (the VM loses that network).")
    var force = false

    func run() throws {
        let host = try HostChange.begin(global).host
        if !force { try host.checkNoVMUses(name) }
        try host.deleteTAP(name)
        print("deleted TAP \(name)")
    }
}
