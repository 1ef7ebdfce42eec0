import ArgumentParser
import VirtualMachines

/// `qnet net start NAME`: `virsh net-start`.
struct NetStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Start a network: bridge, gateway address, dnsmasq, firewall rules (idempotent).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The network.")
    var name: String

    func run() throws {
        let manager = NetworkManager(host: try global.openHost())
        switch try manager.start(name) {
        case .started: print("started network \(name)")
        case .alreadyRunning: print("network \(name) is already running; nothing changed")
        }
        if let interruption = manager.interruption { throw interruption }
    }
}
