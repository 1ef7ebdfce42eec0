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
/// of the DHCP range. On a dual-stack network it gets a DHCPv6 address too, the same for its
/// MAC in every run where no other NIC holds it (`dhcpv6Address`). qnet writes
/// them as a `dhcp-host=MAC,ADDRESS[,[IPV6]]` reservation into the network's dhcp-hosts
/// folder, which dnsmasq watches (`dhcp-hostsdir`, inotify), so the leases the guest is
/// granted are those addresses and the filter allows exactly them from its first frame
/// (Incus does the same for `ipv4_filtering`). A NIC on a plain bridge or a bridge-mode network
/// is filtered only with `filter=on`; its addresses are its `ip=` values (none given: sources
/// are not checked, only MACs). Needs CAP_NET_ADMIN (nft).
public enum VMPortFilters {
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
                    let reservation = try reserve(mac: mac, network: definitionOfNetwork, file: file, ipv6: ipv6 == nil, store: store)
                    undo.push("remove DHCP reservation \(file)") { removeReservation(file) }
                    ipv4 = [reservation.ipv4]
                    if ipv6 == nil, let v6 = reservation.addressing.ipv6 {
                        // Its SLAAC address and its own DHCPv6 address (reserved for its MAC).
                        var filter = PortFilter(tap: tap, mac: mac, ipv4: ipv4, ipv6: [], dhcpv6Servers: [v6.gateway])
                        filter.ipv6 = [filter.slaacAddress(in: v6.prefix)] + (reservation.ipv6.map { [$0] } ?? [])
                        filters.append(filter)
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

    /// `filter` with what a guest of a dual-stack vxlan segment served by another host sends
    /// from besides its given addresses: its SLAAC address in the network's /64, the DHCPv6
    /// range (that host's dnsmasq leases them; no reservation of this host's names one per
    /// MAC), and DHCPv6 to the network's gateway.
    static func allowingIPv6Autoconfiguration(_ filter: PortFilter, _ v6: IPv6Addressing) -> PortFilter {
        var result = filter
        result.ipv6 = (filter.ipv6 ?? []) + [filter.slaacAddress(in: v6.prefix)]
        result.ipv6Ranges = filter.ipv6Ranges + [[v6.dhcpStart, v6.dhcpEnd]]
        result.dhcpv6Servers = filter.dhcpv6Servers + [v6.gateway]
        return result
    }

    /// What `reserve` decided for one NIC.
    struct Reservation {
        var ipv4: IPAddress
        /// Its DHCPv6 address (nil: the network has no IPv6 prefix, or none was asked for).
        var ipv6: IPAddress?
        var addressing: NetworkAddressing
    }

    /// The IPv4 address (and, with `ipv6` on a dual-stack network, the DHCPv6 address) `mac`
    /// gets on `network` for this VM run, written as a dnsmasq `dhcp-host` reservation into
    /// `file` (`MAC,IPV4[,[IPV6]]`; `MAC,[IPV6]` when a static lease already names the IPv4
    /// address). Under the network's reservation lock, so two VMs starting at once never pick
    /// the same free address.
    ///
    /// dnsmasq quirk: DHCPv6 identifies clients by DUID, not MAC, but for a client on the
    /// bridge itself it learns the MAC (from the neighbour table, soliciting the client's
    /// link-local address when needed) and matches `dhcp-host` by it (measured with dnsmasq
    /// 2.90 and dhcpcd: "client MAC address: ..." then the reserved address advertised). Its
    /// lease file names no MAC for DHCPv6 leases: see `dhcpv6Address` for which it picks.
    static func reserve(mac: MACAddress, network: NetworkDefinition, file: String, ipv6 wantsIPv6: Bool = true,
                        store: NetworkStore) throws -> Reservation {
        let runtime = store.runtimePath(network.name)
        guard let state = store.runtimeState(network.name), let subnet = state.addressing else {
            throw NetworkError.nicOnStoppedNetwork(network.name)
        }
        var withSubnet = network
        withSubnet.subnet = subnet
        let addressing = try AddressPlanner.resolve(withSubnet, existing: [], otherNetworks: [])
        let staticAddress = network.staticLeases.first(where: { MACAddress($0.mac) == mac }).flatMap { IPAddress($0.address) }
        let v6 = wantsIPv6 ? addressing.ipv6 : nil
        if let staticAddress, v6 == nil {
            return Reservation(ipv4: staticAddress, ipv6: nil, addressing: addressing)  // already a dhcp-host line of dnsmasq.conf
        }
        let directory = DnsmasqPaths.hostsDirectory(runtime: runtime)
        guard let hosts = try DirectoryDescriptor.openState(directory) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open", path: directory)
        }
        let lock = try FileLock.acquire(".lock", in: hosts, timeout: .seconds(10), note: "qnet: DHCP reservation")
        defer { lock.release() }

        // Addresses taken: dnsmasq's leases (other MACs; every DHCPv6 lease), static leases,
        // other reservations.
        var taken = Set(network.staticLeases.compactMap { IPAddress($0.address) })
        var reserved = taken  // by a static lease or another NIC's reservation
        var previous: IPAddress?
        // dnsmasq's leases, read through the checked runtime folder (never through a symlink).
        let leases = try? store.openRuntime(network.name)?.readStateFile(NetworkServices.leaseFileName, kind: "dnsmasq leases")
        for line in String(decoding: leases ?? [], as: UTF8.self).split(separator: "\n") {
            // DHCPv4 "EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID", DHCPv6 "EXPIRY IAID ADDRESS HOSTNAME DUID"
            let words = line.split(separator: " ")
            guard words.count >= 3, let address = IPAddress(String(words[2])) else { continue }
            if address.isIPv4 && MACAddress(String(words[1])) == mac { previous = address } else { taken.insert(address) }
        }
        for entry in (try? hosts.names()) ?? [] where entry != ".lock" && "\(directory)/\(entry)" != file {
            // "MAC,IPV4[,[IPV6]]" or "MAC,[IPV6]"
            let text = String(decoding: (try? hosts.readStateFile(entry, kind: "DHCP reservation")) ?? [], as: UTF8.self)
            for field in text.split(whereSeparator: { $0 == "," || $0 == "\n" }).dropFirst() {
                if let address = IPAddress(String(field.trimmingPrefix("[").prefix { $0 != "]" })) {
                    taken.insert(address)
                    reserved.insert(address)
                }
            }
        }
        var chosen = staticAddress ?? previous.flatMap { taken.contains($0) ? nil : $0 }
        if chosen == nil, let first = IPv4Block.value(addressing.dhcpStart), let last = IPv4Block.value(addressing.dhcpEnd) {
            chosen = (first...last).lazy.map(IPv4Block.address).first { !taken.contains($0) }
        }
        guard let address = chosen else { throw NetworkError.noFreeAddress(network: network.name) }
        var chosen6: IPAddress?
        if let v6 {
            chosen6 = dhcpv6Address(for: mac, in: ipv6Range(from: v6.dhcpStart, to: v6.dhcpEnd), reserved: reserved, taken: taken)
            guard chosen6 != nil else { throw NetworkError.noFreeAddress(network: network.name) }
        }
        let line = [mac.description] + (staticAddress == nil ? [address.description] : []) + (chosen6.map { ["[\($0)]"] } ?? [])
        // Readable by dnsmasq, which reads it after dropping root.
        try hosts.writeAtomically(String(file.split(separator: "/").last ?? ""), Array((line.joined(separator: ",") + "\n").utf8), mode: 0o644)
        return Reservation(ipv4: address, ipv6: chosen6, addressing: addressing)
    }

    /// The DHCPv6 address of `mac` in `range`: the one at an index derived from the MAC, unless
    /// another NIC has it reserved (a lease there is taken to be this MAC's own from an earlier
    /// run: dnsmasq's DHCPv6 leases name no MAC, and a guest that kept its lease across a VM
    /// restart renews that address, which dnsmasq grants, so the filter must allow the same
    /// one); else the next address that is neither reserved nor leased (`taken`), wrapping.
    /// The index is FNV-1a of the MAC's bytes, the same in every run (Swift's `Hasher` is not).
    static func dhcpv6Address(for mac: MACAddress, in range: [IPAddress], reserved: Set<IPAddress>, taken: Set<IPAddress>) -> IPAddress? {
        guard !range.isEmpty else { return nil }
        var hash: UInt32 = 2_166_136_261
        for byte in mac.bytes { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let start = Int(hash % UInt32(range.count))
        if !reserved.contains(range[start]) { return range[start] }
        return (1..<range.count).lazy.map { range[(start + $0) % range.count] }.first { !taken.contains($0) }
    }

    /// The addresses from `first` to `last` in order, when they differ only in their last 16
    /// bits (a qnet network's DHCPv6 range, ::100 to ::1ff); else none.
    static func ipv6Range(from first: IPAddress, to last: IPAddress) -> [IPAddress] {
        let low = { (address: IPAddress) in Int(address.bytes[14]) << 8 | Int(address.bytes[15]) }
        guard first.bytes.count == 16, last.bytes.count == 16, first.bytes.prefix(14) == last.bytes.prefix(14), low(first) <= low(last) else { return [] }
        return (low(first)...low(last)).compactMap { value in
            IPAddress(bytes: Array(first.bytes.prefix(14)) + [UInt8(value >> 8), UInt8(value & 0xff)])
        }
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
    /// (the journal of this scope, `VMPortFilterRecord`), one line on stderr each (or each
    /// handed to `report`).
    static func withTableLock<T>(host: HostNetwork, report: ((RecoveryReport) -> Void)? = nil,
                                 _ body: (FilterTable) throws -> T) throws -> T {
        let (scope, identity) = try tableScope(host: host)
        let lock = try HostLock.acquire(scope, in: QNetPaths.locks, command: "qnet: anti-spoofing rules", timeout: .seconds(30))
        defer { lock.release() }
        let table = FilterTable(scope: scope.key, namespace: identity, journal: Journal(directory: QNetPaths.journal), host: host)
        for recovered in try table.journal.recoverAbandoned(scope: scope.key, namespace: identity, registry: recoveryRegistry(host: host)) {
            if let report { report(recovered) } else { writeStandardError("qnet: \(recovered)\n") }
            if !recovered.succeeded { throw RecoveryFailed(report: recovered) }
        }
        return try body(table)
    }

    /// The lock and journal scope of qnet's bridge table in `host`'s namespace
    /// (`port-filters-DEV-INODE`), and that namespace.
    static func tableScope(host: HostNetwork) throws -> (HostLockScope, NetworkNamespaceIdentity) {
        let services = NetworkServices(namespace: host.namespace, store: NetworkStore())
        let identity = try services.inNamespace { try NetworkNamespaceIdentity.current() }
        let scope = try HostLockScope(key: "port-filters-\(identity.device)-\(identity.inode)",
                                      displayName: "the anti-spoofing rules of " + (host.namespace.map { "network namespace \($0.name)" } ?? "this network namespace"))
        return (scope, identity)
    }

    /// `qnet recover`'s scope for the anti-spoofing rules of `host`'s namespace: finishes or
    /// undoes what a killed qnet left half-done in qnet's bridge table (a journal of the
    /// table's scope whose command is gone), as the next filter change there would, and
    /// returns what it did, one report per journal. Takes the table's lock only when there is
    /// such a journal. Throws `RecoveryFailed` when one cannot be put right (it is kept).
    public static func recoverAbandoned(host: HostNetwork) throws -> [RecoveryReport] {
        let (scope, _) = try tableScope(host: host)
        guard try !Journal(directory: QNetPaths.journal).abandoned(scope: scope.key).isEmpty else { return [] }
        var reports: [RecoveryReport] = []
        try withTableLock(host: host, report: { reports.append($0) }) { _ in }
        return reports
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

    /// Installs a starting VM's filters under a journal record written first, and returns
    /// the open transaction: the caller marks its point of no return just before the guest
    /// is continued and commits once it runs. A kill before that point is rolled back by the
    /// next filter change in the namespace (the paused QEMU stopped, its rules removed); one
    /// after it is completed (the rules kept while that QEMU runs). nil without filters.
    /// Equivalent to `nft -f -` with `PortFilterRuleset.add`. `command` names the start in
    /// the journal (`qnet vm run NAME`, or `qnet apply`'s start of it).
    static func applyJournaled(_ filters: [PortFilter], vm: String, qemu: ProcessIdentity, host: HostNetwork,
                               command: String) throws -> HostTransaction? {
        guard !filters.isEmpty else { return nil }
        return try withTableLock(host: host) { table in
            let transaction = table.transaction(command: command)
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
