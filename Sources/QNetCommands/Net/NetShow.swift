import ArgumentParser
import VirtualMachines

/// `qnet net show NAME`: `virsh net-info` + `net-dumpxml`.
struct NetShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one network's settings and state.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The network.")
    var name: String

    @Flag(help: "Print JSON (schema version 1: the fields of one `net list --json` entry).")
    var json = false

    func run() throws {
        let manager = NetworkManager(host: try global.openHost())
        let network = try manager.status(name)
        if json { print(try Output.json(VersionedReport(report: network))); return }
        print("name:     \(network.name)")
        print("mode:     \(network.mode.rawValue)")
        print("state:    \(network.active ? "active" : "inactive")")
        print("bridge:   \(network.bridge)")
        if let subnet = network.subnet { print("subnet:   \(subnet)") }
        if let gateway = network.gateway { print("gateway:  \(gateway)") }
        if let range = network.dhcpRange { print("dhcp:     \(range)") }
        if let prefix = network.ipv6Prefix {
            print("ipv6:     \(prefix)" + (network.ipv6NAT.map { $0 ? " (NAT66)" : " (routed)" } ?? ""))
        }
        if let pid = network.dnsmasqPid, network.active { print("dnsmasq:  pid \(pid)") }
        print("group:    \(network.interfaceGroup)")
        for lease in network.staticLeases { print("lease:    \(lease.mac) → \(lease.address)\(lease.hostname.map { " (\($0))" } ?? "")") }
        print("vms:      \(network.vms.isEmpty ? "none" : network.vms.joined(separator: ", "))")
        if let vxlan = network.vxlan {
            print("vxlan:    \(vxlan.device) VNI \(vxlan.vni), underlay \(vxlan.underlay)\(vxlan.local.map { " (local \($0))" } ?? ""), port \(vxlan.port)")
            print("mtu:      \(vxlan.mtu)")
            print("dhcp host: \(vxlan.dhcpHost ? "this host" : "another host (or none)")")
            print("control:  \(vxlan.controlPlane)")
            if let evpn = vxlan.evpn {
                for session in evpn.sessions {
                    print("bgp:      \(session.peer) \(session.state), \(session.routesReceived.map(String.init) ?? "?") EVPN routes received, \(session.routesSent.map(String.init) ?? "?") sent")
                }
                print("evpn:     AS \(evpn.asn), \(evpn.routesReceived) routes received, MACs \(evpn.localMACs) local, \(evpn.remoteMACs) remote")
                if let frr = evpn.frr, let directory = evpn.vtyDirectory {
                    print("frr:      \(frr == "system" ? "the system's FRR" : "qnet's zebra and bgpd of this namespace"), vty \(directory)")
                }
                if let error = evpn.error { print("frr:      \(error)") }
            }
            for peer in vxlan.peers {
                let fdb = peer.fdb.isEmpty ? (network.active ? "no FDB entries" : "-")
                    : "fdb " + peer.fdb.map { peer.externLearned.contains($0) ? "\($0) (extern_learn)" : $0 }.joined(separator: ", ")
                print("peer:     \(peer.address)\(peer.configured ? "" : " (not configured)"): \(fdb)")
            }
        }
    }
}
