import HostNetwork
import QNetSystem
import QNetTypes

/// A vxlan network's tunnel as `qnet net show` reports it: peers and the device's FDB.
public struct VXLANStatus: Codable, Equatable, Sendable {
    /// One remote VTEP: configured (a peer of the definition) and/or present in the FDB.
    public struct Peer: Codable, Equatable, Sendable {
        public var address: String
        public var configured: Bool
        /// The device's FDB entries towards this peer (the all-zero MAC is the flood entry).
        public var fdb: [String]
        /// Of those, the MACs a control plane installed (`extern_learn`: EVPN type-2 routes).
        public var externLearned: [String] = []
    }

    public var device: String
    public var vni: UInt32
    public var port: UInt16
    public var underlay: String
    public var local: String?
    public var mtu: UInt32
    public var dhcpHost: Bool
    /// `static` (flood entries from the configured peers) or `evpn` (BGP EVPN via FRR).
    public var controlPlane: String
    public var peers: [Peer]
    /// evpn networks while running: FRR's sessions, routes and MACs.
    public var evpn: EVPNStatus?
}

extension NetworkNames {
    /// The VXLAN device of a vxlan network: `qx-NAME` (15 bytes at most, like `qn-NAME`).
    public static func vxlanDevice(for network: String) -> String { "qx-\(network)" }
}

extension NetworkManager {
    /// The underlay a vxlan network's tunnel runs over: an interface name (its first global
    /// address, IPv4 first, is the local VTEP address) or a local address (on whichever
    /// interface holds it).
    public struct Underlay: Equatable, Sendable {
        public var device: String
        public var local: IPAddress
        public var mtu: UInt32
    }

    /// Resolves `text` (IFACE or ADDR) in this manager's namespace; throws a one-line usage
    /// error naming the value when no interface or local address matches.
    public func resolveUnderlay(_ text: String) throws -> Underlay {
        let links = try host.links()
        let addresses = try host.addresses().filter { !$0.prefix.address.isLinkLocal }
        if let address = IPAddress(text) {
            guard let held = addresses.first(where: { $0.prefix.address == address }),
                  let link = links.first(where: { $0.index == held.index }) else {
                throw HostNetworkError.invalidValue(what: "underlay", value: text, allowed: "no interface here holds that address; give a local address or an interface")
            }
            return Underlay(device: link.name, local: address, mtu: link.mtu)
        }
        guard let link = links.first(where: { $0.name == text }) else {
            throw HostNetworkError.invalidValue(what: "underlay", value: text, allowed: "no such interface; give an interface or one of its addresses")
        }
        let own = addresses.filter { $0.index == link.index }
        guard let local = (own.first { $0.prefix.address.isIPv4 } ?? own.first)?.prefix.address else {
            throw HostNetworkError.invalidValue(what: "underlay", value: text, allowed: "the interface has no address to send from; add one or give --underlay ADDR")
        }
        return Underlay(device: link.name, local: local, mtu: link.mtu)
    }

    /// Checks a vxlan definition's tunnel settings and fills in the MTU from the underlay:
    /// the underlay's MTU minus 50 (IPv4) or 70 (IPv6) bytes.
    func prepareVXLAN(_ definition: inout NetworkDefinition) throws {
        guard var settings = definition.vxlan else {
            throw HostNetworkError.invalidValue(what: "vxlan settings", value: definition.name, allowed: "--mode vxlan needs --vni and --underlay")
        }
        try VXLANOptions(vni: settings.vni, port: settings.port).validate()
        let device = NetworkNames.vxlanDevice(for: definition.name)
        if try host.linkIfPresent(named: device) != nil { throw HostNetworkError.alreadyExists(device) }
        let underlay = try resolveUnderlay(settings.underlay)
        settings.peers = try settings.peers.map { try Self.checkPeer($0, underlay: underlay).description }
        if var evpn = settings.evpn {
            guard settings.peers.isEmpty else {
                throw HostNetworkError.invalidValue(what: "peers", value: settings.peers.joined(separator: ","),
                                                    allowed: "an evpn network learns its flood list from BGP: give --bgp-peers instead of --peers")
            }
            guard evpn.asn > 0 else { throw HostNetworkError.invalidValue(what: "ASN", value: "0", allowed: "1-4294967295") }
            evpn.bgpPeers = try evpn.bgpPeers.map { try Self.checkPeer($0, underlay: underlay).description }
            settings.evpn = evpn
        }
        settings.mtu = underlay.mtu - VXLANOptions.encapsulationOverhead(ipv6Underlay: !underlay.local.isIPv4)
        definition.vxlan = settings
    }

    /// The IPv6 /64 of a vxlan host that does not serve DHCP: the segment's prefix (the one
    /// the DHCP host advertises), kept for `net show` and the VMs' anti-spoofing filters
    /// (SLAAC addresses, the DHCPv6 range), checked like any network's prefix. Such a host
    /// never picks one (`auto`): nobody would advertise it.
    func checkSegmentIPv6Prefix(_ definition: inout NetworkDefinition, auto: Bool, otherNetworks: [IPPrefix]) throws {
        if auto { throw NetworkError.badSetting(network: definition.name, .ipv6AutoWithoutDHCPHost) }
        guard let text = definition.ipv6Prefix else { return }
        do {
            let prefix = try AddressPlanner.checkIPv6Prefix(try AddressPlanner.parseIPv6Prefix(text), existing: try hostPrefixes(),
                                                            otherNetworks: otherNetworks)
            definition.ipv6Prefix = prefix.description
        } catch let error as NetworkConfigError {
            throw NetworkError.badSetting(network: definition.name, error)
        }
    }

    /// A peer is a unicast address of the underlay's family, not this host's own.
    static func checkPeer(_ text: String, underlay: Underlay) throws -> IPAddress {
        guard let address = IPAddress(text), !address.isMulticast, !address.isUnspecified,
              address.isIPv4 == underlay.local.isIPv4 else {
            throw HostNetworkError.invalidValue(what: "peer", value: text,
                                                allowed: "give the other host's \(underlay.local.isIPv4 ? "IPv4" : "IPv6") underlay address")
        }
        guard address != underlay.local else {
            throw HostNetworkError.invalidValue(what: "peer", value: text, allowed: "that is this host's own underlay address")
        }
        return address
    }

    /// vxlan mode: the bridge (with the gateway address on the DHCP host) at the reduced
    /// MTU, the VXLAN device on it with learning off, one all-zero FDB entry per peer
    /// (head-end replication), and on the DHCP host dnsmasq handing out the MTU (option 26,
    /// and in its router advertisements when the network has an IPv6 prefix).
    /// Each creation is journaled before it is made.
    func startVXLAN(_ definition: NetworkDefinition, state: inout NetworkRuntimeState, _ transaction: HostTransaction) throws {
        guard let settings = definition.vxlan else {
            throw HostNetworkError.invalidValue(what: "vxlan settings", value: definition.name, allowed: "the definition has no vxlan: section")
        }
        let underlay = try resolveUnderlay(settings.underlay)
        let peers = try settings.peers.map { try Self.checkPeer($0, underlay: underlay) }
        var addressing: NetworkAddressing?
        var gateway: [IPPrefix] = []
        if definition.servesDHCP {
            let planned = try plan(definition, existing: try hostPrefixes(), otherNetworks: try activeSubnets(except: definition.name))
            state.addressing = planned.subnet.description
            gateway = [IPPrefix(address: planned.gateway, length: planned.subnet.length)]
            addressing = planned
        }
        try transaction.record(undo: NetworkBridgeRecord(bridge: definition.bridge, mode: .vxlan))
        _ = try host.createBridge(definition.bridge, mtu: settings.mtu, addresses: gateway, uplink: nil)
        state.bridgeCreated = true
        // Before the VXLAN device joins (no advertisement can arrive yet): the DHCP host's bridge
        // is the segment's IPv6 gateway (PREFIX::1); every other bridge takes no address from the
        // DHCP host's advertisements (the host stays off the guests' segment).
        if let ipv6 = addressing?.ipv6 {
            try addIPv6Gateway(ipv6, network: definition.name, bridge: definition.bridge)
        } else if services.ipv6Disabled() == nil {
            try stopIPv6Autoconfiguration(bridge: definition.bridge)
        }
        let device = NetworkNames.vxlanDevice(for: definition.name)
        try transaction.record(undo: CreatedLinkRecord(links: [.init(name: device, kind: LinkKind.vxlan.kernelName)]))
        // In the network's interface group: `net stop` deletes it with the TAPs, in one request.
        try host.createVXLAN(device, options: VXLANOptions(
            vni: settings.vni, local: underlay.local, underlay: underlay.device, port: settings.port, learning: false,
            mtu: settings.mtu, master: definition.bridge, group: definition.interfaceGroup))
        // With EVPN, zebra installs the flood list from the peers' type-3 routes: no static entries.
        if settings.evpn == nil {
            for peer in peers { try host.appendFDB(device: device, destination: peer) }
        }
        if let addressing { try startDNSMasqStep(definition, addressing: addressing, state: &state, transaction) }
        if let evpn = settings.evpn {
            try startFRRStep(definition, settings: evpn, local: underlay.local, state: &state, transaction)
        }
    }

    /// Adds a peer: its flood entry on the running device (an evpn network: a BGP neighbour of
    /// the running bgpd), then the definition. Equivalent to
    /// `bridge fdb append 00:00:00:00:00:00 dev qx-NAME dst ADDR` (evpn: `vtysh -c 'configure terminal'
    /// -c 'router bgp ASN' -c 'neighbor ADDR remote-as internal' ...`) plus the stored change.
    public func addPeer(_ name: String, address text: String) throws {
        try changePeers(name, command: "net peer add \(name) \(text)") { peers, underlay in
            let peer = try Self.checkPeer(text, underlay: underlay)
            if !peers.contains(peer.description) { peers.append(peer.description) }
            return peer
        }
    }

    /// Removes a peer: every FDB entry of the device towards it (an evpn network: the BGP
    /// neighbour, whose routes and so its FDB entries go with it), then the definition.
    /// Traffic to it stops at once. Equivalent to `bridge fdb del ... dev qx-NAME dst ADDR`
    /// per entry (evpn: `vtysh ... -c 'no neighbor ADDR'`).
    public func removePeer(_ name: String, address text: String) throws {
        try changePeers(name, command: "net peer remove \(name) \(text)") { peers, _ in
            guard let peer = IPAddress(text), peers.contains(peer.description) else {
                throw HostNetworkError.invalidValue(what: "peer", value: text,
                                                    allowed: "not a peer of \(name) (peers: \(peers.joined(separator: ", ")))")
            }
            peers.removeAll { $0 == peer.description }
            return peer
        }
    }

    /// Runs a peer change under the network's locks as one journaled transaction: the kernel
    /// (static: the device's flood entries; evpn: the running FRR's neighbours) first, then the
    /// stored definition (a failure or a kill before it is stored puts the kernel back as the
    /// definition says). `change` edits the peer list and returns the peer.
    private func changePeers(_ name: String, command: String, _ change: (inout [String], Underlay) throws -> IPAddress) throws {
        try underLocks(name, command: command) { transaction in
            var definition = try store.load(name)
            guard definition.mode == .vxlan, var settings = definition.vxlan else {
                throw HostNetworkError.invalidValue(what: "network", value: name, allowed: "peers belong to vxlan networks only")
            }
            let underlay = try resolveUnderlay(settings.underlay)
            let state = store.runtimeState(name)
            let before = settings.evpn?.bgpPeers ?? settings.peers
            var after = before
            let peer = try change(&after, underlay)
            guard after != before else { return }
            if var evpn = settings.evpn { evpn.bgpPeers = after; settings.evpn = evpn } else { settings.peers = after }
            var changed = definition
            changed.vxlan = settings
            let journal = transaction()
            do {
                if let state, settings.evpn != nil, let directory = state.frrSystem ?? state.frr?.directory {
                    // A kill before the definition is saved: the next command brings FRR back to it.
                    try journal.record(undo: NetworkFRRConfigRecord(directory: directory, system: state.frrSystem != nil, excluding: nil))
                    try reconcileFRR(directory: directory, system: state.frrSystem != nil, excluding: nil, replacing: changed)
                } else if state != nil, settings.evpn == nil {
                    // A kill between the kernel change and the stored one leaves this record: the
                    // next command puts the device's flood entries back as the definition says.
                    let device = NetworkNames.vxlanDevice(for: name)
                    try journal.record(undo: NetworkPeerRecord(network: name, device: device, peers: before))
                    if after.count > before.count {
                        try host.appendFDB(device: device, destination: peer)
                    } else {
                        let index = try host.link(named: device).index
                        for entry in try host.forwardingDatabase(device: index) where entry.destination == peer {
                            try host.deleteFDB(device: device, mac: entry.macAddress ?? FDBEntry.floodMAC, destination: peer)
                        }
                    }
                }
                definition = changed
                try journal.step("save the definition")
                try store.save(definition)
                try journal.commit()
            } catch {
                journal.rollBack()
                throw error
            }
        }
    }

    /// Brings a running vxlan device's flood entries to `peers` (the definition before an
    /// interrupted `net peer add|remove`): appends the missing ones, deletes every entry
    /// towards a VTEP that is not in it. Idempotent. Returns whether anything changed.
    func reconcileFloodEntries(device: String, peers: [String]) throws -> Bool {
        guard let link = try host.linkIfPresent(named: device) else { return false }
        let wanted = peers.compactMap(IPAddress.init)
        var changed = false
        let entries = try host.forwardingDatabase(device: link.index)
        for entry in entries {
            guard let destination = entry.destination, !wanted.contains(destination) else { continue }
            try host.deleteFDB(device: device, mac: entry.macAddress ?? FDBEntry.floodMAC, destination: destination)
            changed = true
        }
        for peer in wanted where !entries.contains(where: { $0.destination == peer && ($0.macAddress ?? FDBEntry.floodMAC) == FDBEntry.floodMAC }) {
            try host.appendFDB(device: device, destination: peer)
            changed = true
        }
        return changed
    }

    /// The tunnel's state for `qnet net show`: configured peers and the FDB grouped by remote.
    func vxlanStatus(_ definition: NetworkDefinition) throws -> VXLANStatus? {
        guard definition.mode == .vxlan, let settings = definition.vxlan else { return nil }
        let device = NetworkNames.vxlanDevice(for: definition.name)
        let link = isActive(definition.name) ? try host.linkIfPresent(named: device) : nil
        let entries = try link.map { try host.forwardingDatabase(device: $0.index) } ?? []
        var peers = (settings.evpn?.bgpPeers ?? settings.peers).map { VXLANStatus.Peer(address: $0, configured: true, fdb: []) }
        for entry in entries {
            guard let remote = entry.destination?.description, let mac = entry.macAddress else { continue }
            if !peers.contains(where: { $0.address == remote }) {
                peers.append(VXLANStatus.Peer(address: remote, configured: false, fdb: []))
            }
            if let index = peers.firstIndex(where: { $0.address == remote }) {
                peers[index].fdb.append(mac.description)
                if entry.externallyLearned { peers[index].externLearned.append(mac.description) }
            }
        }
        let local = try? resolveUnderlay(settings.underlay).local.description
        return VXLANStatus(device: device, vni: settings.vni, port: settings.port, underlay: settings.underlay, local: local,
                           mtu: settings.mtu, dhcpHost: settings.dhcpHost, controlPlane: settings.evpn == nil ? "static" : "evpn",
                           peers: peers, evpn: isActive(definition.name) ? evpnStatus(definition) : nil)
    }
}
