import ArgumentParser
import HostNetwork

/// `qnet bridge set-port IFACE ...`: `bridge link set` / `brctl setpathcost`.
struct BridgeSetPort: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-port",
        abstract: "Change a bridge port's options (ip link set IFACE type bridge_slave ...; bridge link set).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The bridge port.", transform: Parse.interfaceName)
    var interface: String

    @OptionGroup var port: PortOptionFlags

    func run() throws {
        guard !port.options.isEmpty else {
            throw ValidationError("nothing to change: give at least one of --cost, --port-priority, --isolated, --learning, --flood")
        }
        try port.options.validate()
        let host = try HostChange.begin(global).host
        try host.setBridgePort(interface, options: port.options)
        print("updated port \(interface)")
    }
}
