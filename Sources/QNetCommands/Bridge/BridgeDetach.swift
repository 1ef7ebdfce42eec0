import ArgumentParser
import HostNetwork

/// `qnet bridge detach BRIDGE IFACE`: `brctl delif`.
struct BridgeDetach: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach",
        abstract: "Detach an interface from a bridge (ip link set IFACE nomaster; brctl delif).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The bridge.", transform: Parse.interfaceName)
    var bridge: String

    @Argument(help: "The interface to detach.", transform: Parse.interfaceName)
    var interface: String

    func run() throws {
        try HostChange.begin(global).host.unsetMaster(interface, bridge: bridge)
        print("detached \(interface) from \(bridge)")
    }
}
