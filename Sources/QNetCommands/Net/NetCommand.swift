import ArgumentParser
import VirtualMachines

/// `qnet net ...`: named networks (virsh net-*, incus network ...).
struct NetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "net",
        abstract: "Named networks: bridge, NAT (masquerade, DHCP/DNS) and isolated (host-only) networks.",
        subcommands: [NetCreate.self, NetStart.self, NetStop.self, NetDelete.self, NetList.self, NetShow.self, NetLease.self]
    )
}

extension NetworkMode: ExpressibleByArgument {}
