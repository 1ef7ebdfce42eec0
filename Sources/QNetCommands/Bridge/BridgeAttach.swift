import ArgumentParser
import HostNetwork

/// `qnet bridge attach BRIDGE IFACE`: `brctl addif`.
struct BridgeAttach: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Attach an interface to a bridge (ip link set IFACE master BRIDGE; brctl addif).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The bridge.", transform: Parse.interfaceName)
    var bridge: String

    @Argument(help: "The interface to attach.", transform: Parse.interfaceName)
    var interface: String

    @OptionGroup var port: PortOptionFlags

    func run() throws {
        try port.options.validate()
        try HostChange.begin(global).host.attach(interface, to: bridge, options: port.options)
        print("attached \(interface) to \(bridge)")
    }
}
