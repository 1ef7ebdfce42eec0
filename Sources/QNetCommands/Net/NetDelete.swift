import ArgumentParser
import VirtualMachines

/// `qnet net delete NAME`: `virsh net-undefine` / `incus network delete`.
struct NetDelete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a network's definition (stopping it first); refused while VMs use it.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The network.")
    var name: String

    func run() throws {
        let manager = NetworkManager(host: try global.openHost())
        try manager.delete(name)
        print("deleted network \(name)")
        if let interruption = manager.interruption { throw interruption }
    }
}
