import ArgumentParser
import VirtualMachines

/// `qnet net list`: `virsh net-list --all`.
struct NetList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List networks and whether they run.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print JSON (schema in the README).")
    var json = false

    func run() throws {
        let manager = NetworkManager(host: try global.openHost())
        let networks = try manager.list()
        if json { print(try Output.json(NetListReport(networks: networks))); return }
        if networks.isEmpty { print("no networks defined"); return }
        let rows = networks.map { network in
            [network.name, network.mode.rawValue, network.active ? "active" : "inactive", network.bridge,
             network.subnet ?? "-", network.vms.isEmpty ? "-" : network.vms.joined(separator: ",")]
        }
        print(Table.render(header: ["name", "mode", "state", "bridge", "subnet", "vms"], rows: rows), terminator: "")
    }
}

struct NetListReport: Encodable {
    var schemaVersion = 1
    var networks: [NetworkStatus]
}
