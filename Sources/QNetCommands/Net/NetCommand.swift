import ArgumentParser
import VirtualMachines

/// `qnet net ...`: named networks (virsh net-*, incus network ...).
struct NetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "net",
        abstract: "Named networks: bridge, NAT (masquerade, DHCP/DNS), isolated (host-only) and VXLAN (across hosts) networks.",
        subcommands: [NetCreate.self, NetStart.self, NetStop.self, NetDelete.self, NetList.self, NetShow.self, NetLease.self, NetPeer.self]
    )
}

extension NetworkMode: ExpressibleByArgument {}
