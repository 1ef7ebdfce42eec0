import ArgumentParser
import QNetTypes
import VirtualMachines

/// `qnet net lease add NAME MAC IP`: `virsh net-update NAME add ip-dhcp-host`.
struct NetLease: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lease", abstract: "Static DHCP leases.", subcommands: [NetLeaseAdd.self])
}

struct NetLeaseAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Give a MAC a fixed address (virsh net-update ... add ip-dhcp-host).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The network.")
    var name: String

    @Argument(help: "The guest's MAC.", transform: Parse.mac)
    var mac: MACAddress

    @Argument(help: "The address it gets.", transform: Parse.ipAddress)
    var address: IPAddress

    @Option(help: ArgumentHelp("A host name for the lease (resolves as NAME.DOMAIN).", valueName: "name"))
    var hostname: String?

    func run() throws {
        let manager = NetworkManager(host: try global.openHost())
        try manager.addLease(name, mac: mac.description, address: address.description, hostname: hostname)
        print("network \(name): \(mac) → \(address)")
    }
}
