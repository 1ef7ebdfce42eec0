// What qnet changes in a running bgpd, planned from its running configuration (pure;
// unit-tested). One namespace runs one bgpd (port 179), so every evpn network of the
// namespace shares it: one `router bgp ASN` whose neighbours are the union of the networks'
// BGP peers, each activated in `address-family l2vpn evpn`, and `advertise-all-vni`, which
// makes zebra announce every VXLAN device's VNI (multi-VNI). The plan is applied with
// `vtysh -c 'configure terminal' -c ...` (no daemon restart, so established sessions stay).

/// The BGP lines qnet wants in a namespace's bgpd (the union over its started evpn networks).
struct FRRWanted: Equatable, Sendable {
    var asn: UInt32
    var peers: [String]
    /// The router ID qnet sets when it makes `router bgp` itself (the local VTEP's last 32 bits);
    /// nil: bgpd picks one.
    var routerID: String?
}

/// The parts of bgpd's running configuration (`show running-config`) qnet reads: the default
/// VRF's `router bgp ASN`, its neighbours and whether `advertise-all-vni` is on.
struct FRRRunningBGP: Equatable, Sendable {
    var asn: UInt32?
    var neighbors: Set<String> = []
    var advertiseAllVNI = false

    /// Reads `router bgp N` (not `router bgp N vrf V`) up to its `exit` at column 0.
    init(parsing text: String) {
        var inside = false
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            let words = line.split(separator: " ").map(String.init)
            if !line.hasPrefix(" ") {
                inside = false
                if words.count == 3, words[0] == "router", words[1] == "bgp", let asn = UInt32(words[2]) {
                    self.asn = asn
                    inside = true
                }
                continue
            }
            guard inside else { continue }
            if words.count >= 3, words[0] == "neighbor", words[2] == "remote-as" { neighbors.insert(words[1]) }
            if words == ["advertise-all-vni"] { advertiseAllVNI = true }
        }
    }

    init(asn: UInt32?, neighbors: Set<String>, advertiseAllVNI: Bool) {
        self.asn = asn
        self.neighbors = neighbors
        self.advertiseAllVNI = advertiseAllVNI
    }
}

/// The lines qnet added to an FRR it shares (the system's): exactly these are removed when
/// the namespace's last evpn network stops; lines that were there before are never touched.
struct FRROwnedLines: Codable, Equatable, Sendable {
    /// The ASN of the `router bgp` qnet configured in.
    var asn: UInt32?
    /// qnet made `router bgp ASN` itself (there was none).
    var router = false
    /// qnet turned `advertise-all-vni` on.
    var advertiseAllVNI = false
    /// Neighbours qnet added (sorted).
    var neighbors: [String] = []

    static let none = FRROwnedLines()
    var isEmpty: Bool { self == .none }
}

/// The vtysh commands that bring a bgpd from its running configuration to what qnet wants,
/// and what qnet owns before (`during`: to be written before the commands run, so a kill
/// mid-way still knows every line it may have added) and after.
struct FRRConfigPlan: Equatable, Sendable {
    var commands: [String]
    var during: FRROwnedLines
    var after: FRROwnedLines

    /// Another AS already runs in the bgpd (one bgpd, one default-VRF AS).
    struct ASNConflict: Error, Equatable {
        var running: UInt32
        var wanted: UInt32
    }

    /// The plan from `current` to `wanted` (nil: remove every line qnet owns). With `wanted`,
    /// neighbours not there yet are added, owned ones no longer wanted are removed (`no
    /// neighbor`), every wanted one is activated for l2vpn evpn. Without, owned neighbours
    /// and `advertise-all-vni` go, and a `router bgp` qnet made goes once no other
    /// neighbour is left in it.
    static func make(current: FRRRunningBGP, owned: FRROwnedLines, wanted: FRRWanted?) throws -> FRRConfigPlan {
        guard let wanted else {
            guard let asn = current.asn, !owned.isEmpty else { return FRRConfigPlan(commands: [], during: owned, after: .none) }
            let others = current.neighbors.subtracting(owned.neighbors)
            if owned.router && others.isEmpty {
                return FRRConfigPlan(commands: ["configure terminal", "no router bgp \(asn)"], during: owned, after: .none)
            }
            var commands = ["configure terminal", "router bgp \(asn)"]
            commands += owned.neighbors.filter(current.neighbors.contains).map { "no neighbor \($0)" }
            if owned.advertiseAllVNI && current.advertiseAllVNI {
                commands += ["address-family l2vpn evpn", "no advertise-all-vni", "exit-address-family"]
            }
            return FRRConfigPlan(commands: commands.count > 2 ? commands : [], during: owned, after: .none)
        }
        if let running = current.asn, running != wanted.asn { throw ASNConflict(running: running, wanted: wanted.asn) }
        var after = owned
        after.asn = wanted.asn
        var commands = ["configure terminal", "router bgp \(wanted.asn)"]
        if current.asn == nil {
            after.router = true
            if let routerID = wanted.routerID { commands.append("bgp router-id \(routerID)") }
            commands.append("no bgp default ipv4-unicast")
        }
        let adding = wanted.peers.filter { !current.neighbors.contains($0) }
        for peer in adding {
            // A peer whose bgpd is not up yet is retried after 5 s (the default is 120 s).
            commands += ["neighbor \(peer) remote-as internal", "neighbor \(peer) timers connect 5"]
        }
        let removing = owned.neighbors.filter { !wanted.peers.contains($0) && current.neighbors.contains($0) }
        commands += removing.map { "no neighbor \($0)" }
        commands.append("address-family l2vpn evpn")
        commands += wanted.peers.map { "neighbor \($0) activate" }
        if !current.advertiseAllVNI {
            after.advertiseAllVNI = true
            commands.append("advertise-all-vni")
        }
        commands.append("exit-address-family")
        var during = after
        during.neighbors = Array(Set(owned.neighbors + adding)).sorted()
        after.neighbors = Array(Set(owned.neighbors + adding).subtracting(removing)).sorted()
        // Nothing to change: every wanted neighbour is there and active already.
        let changes = current.asn == nil || !adding.isEmpty || !removing.isEmpty || !current.advertiseAllVNI
        return FRRConfigPlan(commands: changes ? commands : [], during: during, after: after)
    }
}
