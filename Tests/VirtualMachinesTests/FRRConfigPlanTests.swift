import Testing
@testable import VirtualMachines

/// The vtysh plan that brings a running bgpd to what the namespace's evpn networks want
/// (tier 1): shared instance (every line qnet's) and the system's FRR (only qnet's lines go).
struct FRRConfigPlanTests {
    /// A `show running-config` of FRR 8.4 with an admin's neighbour, a VRF instance and EVPN on.
    static let running = """
        Building configuration...

        Current configuration:
        !
        frr version 8.4.4
        frr defaults traditional
        hostname sys
        !
        router bgp 65042
         neighbor 192.0.2.2 remote-as internal
         neighbor 192.0.2.77 remote-as internal
         neighbor 192.0.2.77 timers connect 5
         !
         address-family l2vpn evpn
          neighbor 192.0.2.2 activate
          advertise-all-vni
         exit-address-family
        exit
        !
        router bgp 65042 vrf blue
         neighbor 198.51.100.1 remote-as external
        exit
        !
        end
        """

    @Test("the running configuration: the default VRF's AS, its neighbours, advertise-all-vni")
    func parsesRunningConfiguration() {
        let parsed = FRRRunningBGP(parsing: Self.running)
        #expect(parsed == FRRRunningBGP(asn: 65042, neighbors: ["192.0.2.2", "192.0.2.77"], advertiseAllVNI: true))
        #expect(FRRRunningBGP(parsing: "hostname x\n!\nend\n") == FRRRunningBGP(asn: nil, neighbors: [], advertiseAllVNI: false))
    }

    @Test("an empty system bgpd: qnet makes router bgp and owns all it adds; removing takes the router away again")
    func emptySystemFRR() throws {
        let empty = FRRRunningBGP(asn: nil, neighbors: [], advertiseAllVNI: false)
        let wanted = FRRWanted(asn: 65042, peers: ["192.0.2.2", "192.0.2.3"], routerID: "192.0.2.1")
        let plan = try FRRConfigPlan.make(current: empty, owned: .none, wanted: wanted)
        #expect(plan.commands == [
            "configure terminal", "router bgp 65042", "bgp router-id 192.0.2.1", "no bgp default ipv4-unicast",
            "neighbor 192.0.2.2 remote-as internal", "neighbor 192.0.2.2 timers connect 5",
            "neighbor 192.0.2.3 remote-as internal", "neighbor 192.0.2.3 timers connect 5",
            "address-family l2vpn evpn", "neighbor 192.0.2.2 activate", "neighbor 192.0.2.3 activate", "advertise-all-vni",
            "exit-address-family",
        ])
        let owned = FRROwnedLines(asn: 65042, router: true, advertiseAllVNI: true, neighbors: ["192.0.2.2", "192.0.2.3"])
        #expect(plan.during == owned && plan.after == owned)
        let configured = FRRRunningBGP(asn: 65042, neighbors: ["192.0.2.2", "192.0.2.3"], advertiseAllVNI: true)
        let removal = try FRRConfigPlan.make(current: configured, owned: owned, wanted: nil)
        #expect(removal.commands == ["configure terminal", "no router bgp 65042"] && removal.after == .none)
        // Already as wanted: nothing to run.
        #expect(try FRRConfigPlan.make(current: configured, owned: owned, wanted: wanted).commands.isEmpty)
    }

    @Test("a system bgpd with lines of its own: qnet adds only what is missing and removes exactly that")
    func systemFRRWithAdminLines() throws {
        let current = FRRRunningBGP(parsing: Self.running)
        let wanted = FRRWanted(asn: 65042, peers: ["192.0.2.2", "192.0.2.3"], routerID: "192.0.2.1")
        let plan = try FRRConfigPlan.make(current: current, owned: .none, wanted: wanted)
        #expect(plan.commands == [
            "configure terminal", "router bgp 65042", "neighbor 192.0.2.3 remote-as internal", "neighbor 192.0.2.3 timers connect 5",
            "address-family l2vpn evpn", "neighbor 192.0.2.2 activate", "neighbor 192.0.2.3 activate", "exit-address-family",
        ])
        #expect(plan.after == FRROwnedLines(asn: 65042, router: false, advertiseAllVNI: false, neighbors: ["192.0.2.3"]))
        var after = current
        after.neighbors.insert("192.0.2.3")
        let removal = try FRRConfigPlan.make(current: after, owned: plan.after, wanted: nil)
        #expect(removal.commands == ["configure terminal", "router bgp 65042", "no neighbor 192.0.2.3"])
        // Another AS runs there: refused, nothing planned.
        #expect(throws: FRRConfigPlan.ASNConflict(running: 65042, wanted: 65001)) {
            try FRRConfigPlan.make(current: current, owned: .none, wanted: FRRWanted(asn: 65001, peers: ["192.0.2.3"], routerID: nil))
        }
    }

    @Test("a peer no longer wanted goes; it is still owned while the change runs (a kill there removes it later)")
    func removingAPeer() throws {
        let current = FRRRunningBGP(asn: 65042, neighbors: ["192.0.2.2", "192.0.2.3"], advertiseAllVNI: true)
        let owned = FRROwnedLines(asn: 65042, router: true, advertiseAllVNI: true, neighbors: ["192.0.2.2", "192.0.2.3"])
        let plan = try FRRConfigPlan.make(current: current, owned: owned, wanted: FRRWanted(asn: 65042, peers: ["192.0.2.2", "192.0.2.4"], routerID: nil))
        #expect(plan.commands == [
            "configure terminal", "router bgp 65042", "neighbor 192.0.2.4 remote-as internal", "neighbor 192.0.2.4 timers connect 5",
            "no neighbor 192.0.2.3", "address-family l2vpn evpn", "neighbor 192.0.2.2 activate", "neighbor 192.0.2.4 activate",
            "exit-address-family",
        ])
        #expect(plan.during.neighbors == ["192.0.2.2", "192.0.2.3", "192.0.2.4"])
        #expect(plan.after.neighbors == ["192.0.2.2", "192.0.2.4"])
    }

    @Test("a vty folder from an FRR daemon's command line: --vty_socket, a pathspace, the default")
    func vtyDirectoryFromCommandLine() {
        #expect(NetworkServices.vtyDirectory(arguments: ["/usr/lib/frr/bgpd", "-d", "--vty_socket", "/tmp/x", "-A", "127.0.0.1"]) == "/tmp/x")
        #expect(NetworkServices.vtyDirectory(arguments: ["/usr/lib/frr/bgpd", "-N", "lab"]) == "/run/frr/lab")
        #expect(NetworkServices.vtyDirectory(arguments: ["/usr/lib/frr/bgpd", "--pathspace=lab"]) == "/run/frr/lab")
        #expect(NetworkServices.vtyDirectory(arguments: ["/usr/lib/frr/bgpd", "-d", "-F", "traditional"]) == "/run/frr")
    }
}
