import Glibc
import HostNetwork
import QNetSystem
import QNetTypes

/// The anti-spoofing side of a VM's TAP NICs: which NICs are filtered and with which
/// addresses, the DHCP reservation that fixes a NAT or isolated network guest's address, and
/// applying or removing the rules (`PortFilterRuleset`, one `nft -f` transaction each).
///
/// A NIC on a NAT or isolated network is filtered unless it says `filter=off`; its IPv4
/// address is decided when the VM starts, before the guest runs: its static lease (`qnet net
/// lease add`), else the address dnsmasq last leased to its MAC, else the first free address
/// of the DHCP range. qnet writes it as a `dhcp-host=MAC,ADDRESS` reservation into the
/// network's dhcp-hosts folder, which dnsmasq watches (`dhcp-hostsdir`, inotify), so the lease
/// the guest is granted is that address and the filter allows exactly it from its first frame
/// (Incus does the same for `ipv4_filtering`). A NIC on a plain bridge or a bridge-mode network
/// is filtered only with `filter=on`; its addresses are its `ip=` values (none given: sources
/// are not checked, only MACs). Needs CAP_NET_ADMIN (nft).
enum VMPortFilters {
    /// The file that reserves `vm`'s NIC `index` an address on `network`.
    static func reservationFile(network: String, vm: String, nic index: Int, store: NetworkStore = NetworkStore()) -> String {
        "\(DnsmasqPaths.hostsDirectory(runtime: store.runtimePath(network)))/\(vm)-nic\(index)"
    }

    /// The filters for a starting VM's TAP NICs (by NIC index), writing the DHCP reservations
    /// they rely on (each removed by `undo` should the start fail).
    static func prepare(_ definition: VMDefinition, macs: [MACAddress], taps: [Int: String], undo: UndoStack,
                        store: NetworkStore = NetworkStore()) throws -> [PortFilter] {
        var filters: [PortFilter] = []
        for (index, nic) in definition.nics.enumerated() {
            guard let tap = taps[index] else { continue }
            let mac = macs[index]
            let given = nic.addresses.compactMap(IPAddress.init)
            var ipv4: [IPAddress]? = given.contains(where: \.isIPv4) ? given.filter(\.isIPv4) : nil
            var ipv6: [IPAddress]? = given.isEmpty ? nil : given.filter { !$0.isIPv4 }
            if let network = nic.network {
                let definitionOfNetwork = try store.load(network)
                let served = definitionOfNetwork.servesDHCP
                guard nic.filter ?? served else { continue }
                if served && ipv4 == nil {
                    let file = reservationFile(network: network, vm: definition.name, nic: index, store: store)
                    let (address, addressing) = try reserve(mac: mac, network: definitionOfNetwork, file: file, store: store)
                    undo.push("remove DHCP reservation \(file)") { unlink(file) }
                    ipv4 = [address]
                    if ipv6 == nil, let v6 = addressing.ipv6 {
                        // Its SLAAC address, and the DHCPv6 range (dnsmasq leases those per client, not per MAC).
                        var filter = PortFilter(tap: tap, mac: mac, ipv4: ipv4, ipv6: [], ipv6Ranges: [[v6.dhcpStart, v6.dhcpEnd]],
                                                dhcpv6Servers: [v6.gateway])
                        filter.ipv6 = [filter.slaacAddress(in: v6.prefix)]
                        filters.append(filter)
                        continue
                    }
                    ipv6 = ipv6 ?? []  // an IPv4-only network: link-local only
                }
            } else {
                guard nic.filter == true else { continue }
            }
            filters.append(PortFilter(tap: tap, mac: mac, ipv4: ipv4, ipv6: ipv6))
        }
        return filters
    }

    /// The IPv4 address `mac` gets on `network` for this VM run, written as a dnsmasq
    /// `dhcp-host` reservation into `file`. Under the network's reservation lock, so two VMs
    /// starting at once never pick the same free address.
    static func reserve(mac: MACAddress, network: NetworkDefinition, file: String,
                        store: NetworkStore) throws -> (IPAddress, NetworkAddressing) {
        let runtime = store.runtimePath(network.name)
        guard let state = store.runtimeState(network.name), let subnet = state.addressing else {
            throw NetworkError.nicOnStoppedNetwork(network.name)
        }
        var withSubnet = network
        withSubnet.subnet = subnet
        let addressing = try AddressPlanner.resolve(withSubnet, existing: [], otherNetworks: [])
        if let lease = network.staticLeases.first(where: { MACAddress($0.mac) == mac }), let address = IPAddress(lease.address) {
            return (address, addressing)  // already a dhcp-host line of dnsmasq.conf
        }
        let directory = DnsmasqPaths.hostsDirectory(runtime: runtime)
        guard let hosts = try DirectoryDescriptor.openState(directory) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open", path: directory)
        }
        let lock = try FileLock.acquire(".lock", in: hosts, timeout: .seconds(10), note: "qnet: DHCP reservation")
        defer { lock.release() }

        // Addresses taken: dnsmasq's leases (other MACs), static leases, other reservations.
        var taken = Set(network.staticLeases.compactMap { IPAddress($0.address) })
        var previous: IPAddress?
        for line in ((try? FileSystem.readText("\(runtime)/dnsmasq.leases")) ?? "").split(separator: "\n") {
            // "EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID"
            let words = line.split(separator: " ")
            guard words.count >= 3, let address = IPAddress(String(words[2])) else { continue }
            if MACAddress(String(words[1])) == mac { previous = address } else { taken.insert(address) }
        }
        for entry in (try? hosts.names()) ?? [] where entry != ".lock" && "\(directory)/\(entry)" != file {
            let text = String(decoding: (try? hosts.readBytes(entry)) ?? [], as: UTF8.self)
            if let address = text.split(whereSeparator: { $0 == "," || $0 == "\n" }).dropFirst().first.flatMap({ IPAddress(String($0)) }) {
                taken.insert(address)
            }
        }
        var chosen = previous.flatMap { taken.contains($0) ? nil : $0 }
        if chosen == nil, let first = IPv4Block.value(addressing.dhcpStart), let last = IPv4Block.value(addressing.dhcpEnd) {
            chosen = (first...last).lazy.map(IPv4Block.address).first { !taken.contains($0) }
        }
        guard let address = chosen else { throw NetworkError.noFreeAddress(network: network.name) }
        // Readable by dnsmasq, which reads it after dropping root.
        try hosts.writeAtomically(String(file.split(separator: "/").last ?? ""), Array("\(mac),\(address)\n".utf8), mode: 0o644)
        return (address, addressing)
    }

    /// Serializes changes of qnet's bridge table, so that removing the table once its last
    /// port is gone never races another VM's start adding one.
    static func withTableLock<T>(_ body: () throws -> T) throws -> T {
        guard let locks = try DirectoryDescriptor.openState(QNetPaths.locks) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open lock directory", path: QNetPaths.locks)
        }
        let lock = try FileLock.acquire("port-filters.lock", in: locks, timeout: .seconds(30), note: "qnet: anti-spoofing rules")
        defer { lock.release() }
        return try body()
    }

    /// Installs the filters (one transaction). Equivalent to `nft -f -` with `PortFilterRuleset.add`.
    static func apply(_ filters: [PortFilter], host: HostNetwork) throws {
        guard !filters.isEmpty else { return }
        try withTableLock {
            try NetworkServices(namespace: host.namespace, store: NetworkStore()).runNFT(PortFilterRuleset.add(filters))
        }
    }

    /// Removes a VM's filters and DHCP reservations; what cannot be removed is reported through
    /// `notice` (the VM is gone either way). Idempotent.
    static func release(vm: String, filters: [PortFilter], host: HostNetwork, notice: (String) -> Void,
                        store: NetworkStore = NetworkStore()) {
        let taps = filters.map(\.tap).filter(PortFilterRuleset.isChainSafe)
        if !taps.isEmpty {
            do {
                try withTableLock {
                    let services = NetworkServices(namespace: host.namespace, store: store)
                    try services.runNFT(PortFilterRuleset.remove(taps))
                    // The last port gone: the table goes too, leaving the host's ruleset as it was.
                    let map = try services.nftList(["list", "map", PortFilterRuleset.family, PortFilterRuleset.table, PortFilterRuleset.portsMap])
                    if !map.contains("elements") { try services.runNFT(PortFilterRuleset.removal()) }
                }
            } catch {
                notice("warning: VM \(vm): could not remove its anti-spoofing rules (table bridge \(PortFilterRuleset.table)): \(error)")
            }
        }
        // Reservations are found by name (the VM's), not from a state file.
        for network in FileSystem.list(store.runtimeDirectory) {
            let directory = DnsmasqPaths.hostsDirectory(runtime: store.runtimePath(network))
            for entry in FileSystem.list(directory) where entry.hasPrefix("\(vm)-nic") && entry.dropFirst(vm.count + 4).allSatisfy(\.isNumber) {
                unlink("\(directory)/\(entry)")
            }
        }
    }
}
