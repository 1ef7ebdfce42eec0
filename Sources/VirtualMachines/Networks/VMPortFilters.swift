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
                    undo.push("remove DHCP reservation \(file)") { removeReservation(file) }
                    ipv4 = [address]
                    if ipv6 == nil, let v6 = addressing.ipv6 {
                        filters.append(allowingIPv6Autoconfiguration(PortFilter(tap: tap, mac: mac, ipv4: ipv4, ipv6: []), v6))
                        continue
                    }
                    ipv6 = ipv6 ?? []  // an IPv4-only network: link-local only
                }
                // A vxlan host that does not serve DHCP, with `filter=on` and `ip=` (sources are
                // checked): the guest also takes the segment's advertisements and the DHCP host's DHCPv6.
                if !served, definitionOfNetwork.mode == .vxlan, let given = ipv6,
                   let v6 = definitionOfNetwork.ipv6Prefix.flatMap(IPPrefix.init).map(IPv6Addressing.init(prefix:)) {
                    filters.append(allowingIPv6Autoconfiguration(PortFilter(tap: tap, mac: mac, ipv4: ipv4, ipv6: given), v6))
                    continue
                }
            } else {
                guard nic.filter == true else { continue }
            }
            filters.append(PortFilter(tap: tap, mac: mac, ipv4: ipv4, ipv6: ipv6))
        }
        return filters
    }

    /// `filter` with what a guest of a dual-stack qnet network sends from besides its given
    /// addresses: its SLAAC address in the network's /64, the DHCPv6 range (dnsmasq leases
    /// those per client, not per MAC), and DHCPv6 to the network's gateway.
    static func allowingIPv6Autoconfiguration(_ filter: PortFilter, _ v6: IPv6Addressing) -> PortFilter {
        var result = filter
        result.ipv6 = (filter.ipv6 ?? []) + [filter.slaacAddress(in: v6.prefix)]
        result.ipv6Ranges = filter.ipv6Ranges + [[v6.dhcpStart, v6.dhcpEnd]]
        result.dhcpv6Servers = filter.dhcpv6Servers + [v6.gateway]
        return result
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
        // dnsmasq's leases, read through the checked runtime folder (never through a symlink).
        let leases = try? store.openRuntime(network.name)?.readStateFile(NetworkServices.leaseFileName, kind: "dnsmasq leases")
        for line in String(decoding: leases ?? [], as: UTF8.self).split(separator: "\n") {
            // "EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID"
            let words = line.split(separator: " ")
            guard words.count >= 3, let address = IPAddress(String(words[2])) else { continue }
            if MACAddress(String(words[1])) == mac { previous = address } else { taken.insert(address) }
        }
        for entry in (try? hosts.names()) ?? [] where entry != ".lock" && "\(directory)/\(entry)" != file {
            let text = String(decoding: (try? hosts.readStateFile(entry, kind: "DHCP reservation")) ?? [], as: UTF8.self)
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

    /// Removes the reservation file `file` when it is qnet's (a symlink or another user's
    /// file there is left alone).
    static func removeReservation(_ file: String) {
        guard let slash = file.lastIndex(of: "/"),
              let directory = try? DirectoryDescriptor.openState(String(file[..<slash]), create: false) else { return }
        try? directory.removeStateFile(String(file[file.index(after: slash)...]), kind: "DHCP reservation")
    }

    /// Serializes changes of qnet's bridge table in the host's namespace (the lock
    /// `run/locks/port-filters-DEV-INODE.lock`, a leaf: nothing else is locked under it), so
    /// that removing the table once its last port is gone never races another VM's start
    /// adding one; and first finishes or undoes what a killed qnet left half-done there
    /// (the journal of this scope, `VMPortFilterRecord`), one line on stderr each.
    static func withTableLock<T>(host: HostNetwork, _ body: (FilterTable) throws -> T) throws -> T {
        let services = NetworkServices(namespace: host.namespace, store: NetworkStore())
        let identity = try services.inNamespace { try NetworkNamespaceIdentity.current() }
        let scope = try HostLockScope(key: "port-filters-\(identity.device)-\(identity.inode)",
                                      displayName: "the anti-spoofing rules of " + (host.namespace.map { "network namespace \($0.name)" } ?? "this network namespace"))
        let lock = try HostLock.acquire(scope, in: QNetPaths.locks, command: "qnet: anti-spoofing rules", timeout: .seconds(30))
        defer { lock.release() }
        let table = FilterTable(scope: scope.key, namespace: identity, journal: Journal(directory: QNetPaths.journal), host: host)
        for report in try table.journal.recoverAbandoned(scope: scope.key, namespace: identity, registry: recoveryRegistry(host: host)) {
            writeStandardError("qnet: \(report)\n")
            if !report.succeeded { throw RecoveryFailed(report: report) }
        }
        return try body(table)
    }

    /// qnet's bridge table in one namespace, while its lock is held: transactions journaled
    /// in its scope.
    struct FilterTable {
        var scope: String
        var namespace: NetworkNamespaceIdentity
        var journal: Journal
        var host: HostNetwork

        func transaction(command: String) -> HostTransaction {
            HostTransaction(scope: scope, command: command, namespace: namespace, journal: journal,
                            registry: VMPortFilters.recoveryRegistry(host: host))
        }
    }

    /// Installs the filters (one transaction). Equivalent to `nft -f -` with `PortFilterRuleset.add`.
    static func apply(_ filters: [PortFilter], host: HostNetwork) throws {
        guard !filters.isEmpty else { return }
        try withTableLock(host: host) { _ in
            try NetworkServices(namespace: host.namespace, store: NetworkStore()).runNFT(PortFilterRuleset.add(filters))
        }
    }

    /// Installs a starting VM's filters under a journal record written first, and returns
    /// the open transaction: the caller marks its point of no return just before the guest
    /// is continued and commits once it runs. A kill before that point is rolled back by the
    /// next filter change in the namespace (the paused QEMU stopped, its rules removed); one
    /// after it is completed (the rules kept while that QEMU runs). nil without filters.
    static func applyJournaled(_ filters: [PortFilter], vm: String, qemu: ProcessIdentity, host: HostNetwork) throws -> HostTransaction? {
        guard !filters.isEmpty else { return nil }
        return try withTableLock(host: host) { table in
            let transaction = table.transaction(command: "qnet vm run \(vm)")
            try transaction.record(undo: VMPortFilterRecord(vm: vm, filters: filters, qemu: qemu))
            do {
                try NetworkServices(namespace: host.namespace, store: NetworkStore()).runNFT(PortFilterRuleset.add(filters))
            } catch {
                transaction.rollBack()
                throw error
            }
            return transaction
        }
    }

    /// Rolls back what `applyJournaled` began (a start that failed), under the table's lock.
    static func rollBack(_ transaction: HostTransaction, host: HostNetwork) throws {
        try withTableLock(host: host) { _ in _ = transaction.rollBack() }
    }

    /// Removes the chains and map entries of `taps`, and the table once no port is left in
    /// it. Call with the table's lock held. Idempotent.
    static func removeRules(_ taps: [String], host: HostNetwork) throws {
        let taps = taps.filter(PortFilterRuleset.isChainSafe)
        guard !taps.isEmpty else { return }
        let services = NetworkServices(namespace: host.namespace, store: NetworkStore())
        try services.runNFT(PortFilterRuleset.remove(taps))
        // The last port gone: the table goes too, leaving the host's ruleset as it was.
        let map = try services.nftList(["list", "map", PortFilterRuleset.family, PortFilterRuleset.table, PortFilterRuleset.portsMap])
        if !map.contains("elements") { try services.runNFT(PortFilterRuleset.removal()) }
    }

    /// The recovery of `VMPortFilterRecord`: a start cut short before its guest ran (its
    /// paused QEMU, if still there, stopped; the rules removed), a start past that point (the
    /// rules put back in place while its QEMU runs, or removed once it is gone), a removal
    /// (finished).
    static func recoveryRegistry(host: HostNetwork) -> RecoveryRegistry {
        var registry = RecoveryRegistry()
        registry.register(VMPortFilterRecord.self) { record, context in
            let taps = record.filters.map(\.tap).joined(separator: ", ")
            if let qemu = record.qemu, qemu.isRunning {
                if context.direction == .complete {
                    try NetworkServices(namespace: host.namespace, store: NetworkStore()).runNFT(PortFilterRuleset.add(record.filters))
                    return "VM \(record.vm) keeps its anti-spoofing rules (\(taps)) while its QEMU (pid \(qemu.pid)) runs"
                }
                // Never continued: the guest has not run; it goes with its rules.
                _ = Subprocess.stop(qemu, grace: .seconds(2))
            }
            try removeRules(record.filters.map(\.tap), host: host)
            return "removed the anti-spoofing rules of VM \(record.vm) (\(taps))"
        }
        return registry
    }

    /// Removes a VM's filters and DHCP reservations; what cannot be removed is reported through
    /// `notice` (the VM is gone either way). Idempotent. The removal is journaled past its
    /// point of no return: a kill part-way is finished by the next filter change there.
    static func release(vm: String, filters: [PortFilter], host: HostNetwork, notice: (String) -> Void,
                        store: NetworkStore = NetworkStore()) {
        let taps = filters.map(\.tap).filter(PortFilterRuleset.isChainSafe)
        if !taps.isEmpty {
            do {
                try withTableLock(host: host) { table in
                    let transaction = table.transaction(command: "qnet: remove the anti-spoofing rules of VM \(vm)")
                    try transaction.record(undo: VMPortFilterRecord(vm: vm, filters: filters, qemu: nil))
                    try transaction.markPointOfNoReturn()
                    do {
                        try removeRules(taps, host: host)
                    } catch {
                        _ = transaction.complete()  // retried once; the journal stays if that fails too
                        throw error
                    }
                    try transaction.commit()
                }
            } catch {
                notice("warning: VM \(vm): could not remove its anti-spoofing rules (table bridge \(PortFilterRuleset.table)): \(error)")
            }
        }
        // Reservations are found by name (the VM's), not from a state file, and removed
        // through the checked directory: only regular files of qnet's (a symlink or another
        // user's file there is reported and left alone).
        let networks = try? DirectoryDescriptor.openState(store.runtimeDirectory, create: false)?.names()
        for network in networks ?? [] {
            let path = DnsmasqPaths.hostsDirectory(runtime: store.runtimePath(network))
            guard let directory = try? DirectoryDescriptor.openState(path, create: false), let names = try? directory.names() else { continue }
            for entry in names where entry.hasPrefix("\(vm)-nic") && entry.dropFirst(vm.count + 4).allSatisfy(\.isNumber) {
                if let foreign = try? directory.foreignEntry(entry) {
                    notice("warning: \(path)/\(entry) is \(foreign): refused and left alone")
                    continue
                }
                try? directory.remove(entry)
            }
        }
    }
}

/// Journal record of a VM's anti-spoofing rules being installed (`qemu`: the paused QEMU of
/// the start that installs them) or removed (`qemu` nil), in the scope of qnet's bridge table
/// in one namespace (`VMPortFilters.withTableLock`). See `VMPortFilters.recoveryRegistry`.
struct VMPortFilterRecord: JournalRecord {
    static let kind = "vm-port-filters"
    var vm: String
    var filters: [PortFilter]
    var qemu: ProcessIdentity?
}
