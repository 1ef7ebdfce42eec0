import ArgumentParser
import VirtualMachines

/// `qnet net stop NAME`: `virsh net-destroy`.
struct NetStop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop a network, removing exactly what start made (TAPs, dnsmasq, firewall rules, bridge, sysctls).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The network.")
    var name: String

    @Flag(help: "Stop even while VMs use it (their NICs lose their TAPs).")
    var force = false

    func run() throws {
        let manager = NetworkManager(host: try global.openHost())
        try manager.stop(name, force: force)
        print("stopped network \(name)")
        if let interruption = manager.interruption { throw interruption }
    }
}
