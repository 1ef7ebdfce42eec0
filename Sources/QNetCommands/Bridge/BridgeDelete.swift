import ArgumentParser
import HostNetwork

/// `qnet bridge delete NAME`: `brctl delbr`, giving a moved uplink its setup back.
struct BridgeDelete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a bridge (ip link delete NAME; brctl delbr); an uplink gets its addresses and routes back.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The bridge to delete.", transform: Parse.interfaceName)
    var name: String

    func run() throws {
        let host = try global.openHost()
        let move = try host.deleteBridge(name)
        print("deleted bridge \(name)")
        if let move {
            print("gave back to \(move.uplink):" + (move.addresses.isEmpty && move.routes.isEmpty ? " no addresses or routes to move" : ""))
            for prefix in move.addresses { print("  address \(prefix)") }
            for route in move.routes { print("  route \(route)") }
        }
    }
}
