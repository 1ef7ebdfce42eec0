import ArgumentParser
import HostNetwork

/// `qnet bridge set NAME ...`: `brctl stp/setfd/sethello/...`.
struct BridgeSet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change a bridge's options (ip link set NAME type bridge ...; brctl stp/setfd).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The bridge to change.", transform: Parse.interfaceName)
    var name: String

    @OptionGroup var bridge: BridgeOptionFlags

    func run() throws {
        let options = bridge.options
        guard !options.isEmpty else {
            throw ValidationError("nothing to change: give at least one of --stp, --forward-delay, --hello-time, --max-age, --ageing-time, --priority, --vlan-filtering")
        }
        let host = try HostChange.begin(global).host
        try host.setBridge(name, options: options)
        let settings = try host.link(named: name).bridge
        print("updated bridge \(name) (stp \(settings?.stpEnabled == true ? "on" : "off"), forward delay \(formatted(settings?.forwardDelay ?? 0)) s)")
        if options.stp == true || (settings?.stpEnabled == true && options.forwardDelay != nil) {
            Output.warnSTPDelay(settings?.forwardDelay ?? 15)
        }
    }
}
