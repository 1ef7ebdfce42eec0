import ArgumentParser
import QNetTypes
import VirtualMachines

/// `qnet net peer add|remove NAME ADDR`: a vxlan network's remote VTEPs
/// (`bridge fdb append|del 00:00:00:00:00:00 dev qx-NAME dst ADDR`), or an evpn network's BGP
/// neighbours (`vtysh -c 'configure terminal' -c 'router bgp ASN' -c '[no] neighbor ADDR ...'`).
struct NetPeer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer", abstract: "A vxlan network's peers (other hosts' underlay addresses; evpn: its BGP neighbours).",
        subcommands: [NetPeerAdd.self, NetPeerRemove.self])
}

/// What both peer verbs take: the network and the peer's underlay address.
struct PeerArguments: ParsableArguments {
    @OptionGroup var global: GlobalOptions

    @Argument(help: "The vxlan network.")
    var name: String

    @Argument(help: "The peer's underlay address.", transform: Parse.ipAddress)
    var address: IPAddress

    func manager() throws -> NetworkManager { NetworkManager(host: try global.openHost()) }
}

struct NetPeerAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a peer; a running network floods to it at once (bridge fdb append; evpn: a BGP neighbour).")

    @OptionGroup var peer: PeerArguments

    func run() throws {
        try peer.manager().addPeer(peer.name, address: peer.address.description)
        print("network \(peer.name): peer \(peer.address) added")
    }
}

struct NetPeerRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a peer and its FDB entries; traffic to it stops at once (bridge fdb del; evpn: no neighbor).")

    @OptionGroup var peer: PeerArguments

    func run() throws {
        try peer.manager().removePeer(peer.name, address: peer.address.description)
        print("network \(peer.name): peer \(peer.address) removed")
    }
}
