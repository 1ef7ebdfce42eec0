import ArgumentParser
import HostNetwork
import VirtualMachines

/// `qnet bridge delete NAME`: `brctl delbr`, giving a moved uplink its setup back.
struct BridgeDelete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a bridge (ip link delete NAME; brctl delbr); an uplink gets its addresses and routes back.",
        discussion: "Refused while a running VM has a NIC on the bridge, unless --force.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The bridge to delete.", transform: Parse.interfaceName)
    var name: String

    @Flag(help: "Delete it even while running VMs have NICs on it (they lose their network).")
    var force = false

    func run() throws {
        let change = try HostChange.begin(global)
        if !force { try change.host.checkNoVMUses(name) }
        let transaction = change.transaction()
        let move = try change.host.deleteBridge(name, transaction: transaction)
        try change.commit(transaction)
        print("deleted bridge \(name)")
        if let move {
            print("gave back to \(move.uplink):" + (move.addresses.isEmpty && move.routes.isEmpty ? " no addresses or routes to move" : ""))
            for prefix in move.addresses { print("  address \(prefix)") }
            for route in move.routes { print("  route \(route)") }
        }
        try change.finish(transaction)
    }
}
