import ArgumentParser
import HostNetwork
import QNetTypes

/// `qnet bridge create NAME`: `brctl addbr` + `brctl stp` + moving an uplink's IP setup.
struct BridgeCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a bridge (ip link add NAME type bridge; brctl addbr), optionally taking over an uplink.",
        discussion: """
            With --uplink, the uplink's addresses and routes (default route included, metrics kept) move to the \
            bridge, the bridge takes the uplink's MAC and MTU, and the uplink becomes its port — as one \
            transaction: if any step fails, every step already done is undone. `qnet bridge delete` gives them back.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Name of the new bridge.", transform: Parse.interfaceName)
    var name: String

    @OptionGroup var bridge: BridgeOptionFlags

    @Option(help: ArgumentHelp("A working interface to enslave; its addresses and routes move to the bridge.", valueName: "iface"),
            transform: Parse.interfaceName)
    var uplink: String?

    @Option(name: .customLong("address"), help: ArgumentHelp("An address for the bridge (repeatable).", valueName: "cidr"),
            transform: Parse.interfaceAddress)
    var addresses: [IPPrefix] = []

    @Option(parsing: .unconditional, help: ArgumentHelp("MTU of the bridge (default: the uplink's, else 1500).", valueName: "bytes"), transform: Parse.mtu)
    var mtu: UInt32?

    func run() throws {
        let options = bridge.options
        try options.withSafeDefaults.validate()
        let change = try HostChange.begin(global)
        let transaction = change.transaction()
        let move = try change.host.createBridge(name, options: options, mtu: mtu, addresses: addresses, uplink: uplink,
                                                transaction: transaction)
        try change.commit(transaction)
        let effective = options.withSafeDefaults
        print("created bridge \(name) (stp \(effective.stp == true ? "on" : "off"), forward delay \(formatted(effective.forwardDelay ?? 0)) s)")
        if effective.stp == true { Output.warnSTPDelay(effective.forwardDelay ?? 15) }
        for prefix in addresses { print("  address \(prefix)") }
        if let move {
            print("enslaved \(move.uplink); moved to \(name):" + (move.addresses.isEmpty && move.routes.isEmpty ? " no addresses or routes to move" : ""))
            for prefix in move.addresses { print("  address \(prefix)") }
            for route in move.routes { print("  route \(route)") }
        }
        try change.finish(transaction)
    }
}
