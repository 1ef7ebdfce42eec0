import HostNetwork
import NetlinkWire

/// Answers what the host uses some interfaces for: one phrase per use, naming the
/// interface (`eth0 has 192.168.1.10/24`). Injectable, so tests can use a namespace of
/// their own or a fixed answer.
public struct HostUseReader: Sendable {
    public var uses: @Sendable (_ interfaces: [String]) throws -> [String]

    public init(_ uses: @escaping @Sendable (_ interfaces: [String]) throws -> [String]) {
        self.uses = uses
    }

    /// Knows of no use (tests of other things; hosts where rtnetlink cannot be opened).
    public static let none = HostUseReader { _ in [] }

    /// Reads addresses, routes and bridge ports over rtnetlink in `network`'s namespace
    /// (`ip addr show dev X`, `ip route show table all dev X`, `ip link show master`).
    /// IPv6 link-local addresses and the kernel's own routes (proto kernel, table local)
    /// come with every interface that is up and are not counted.
    public static func rtnetlink(_ network: HostNetwork) -> HostUseReader {
        HostUseReader { interfaces in try HostUseReader.uses(of: interfaces, network: network) }
    }

    static func uses(of interfaces: [String], network: HostNetwork) throws -> [String] {
        let links = try network.links()
        let byName = Dictionary(links.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let names = Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { first, _ in first })
        var uses: [String] = []
        let wanted = interfaces.compactMap { byName[$0] }
        guard !wanted.isEmpty else { return [] }
        let addresses = try network.addresses()
        var routes: [Route] = []
        for family in [AddressFamily.inet, .inet6] { routes += try network.routes(family: family, table: nil) }
        let kernelProtocol: UInt8 = 2  // RTPROT_KERNEL: prefix routes that come with addresses
        let localTable: UInt32 = 255
        for link in wanted {
            let own = addresses.filter { $0.index == link.index && !$0.isIPv6LinkLocal }
            if !own.isEmpty { uses.append("\(link.name) has \(own.map(\.prefix.description).joined(separator: ", "))") }
            let through = routes.filter { route in
                route.table != localTable && route.routeProtocol != kernelProtocol
                    && (route.outputIndex == link.index || route.nexthops.contains { $0.outputIndex == link.index })
            }
            if through.contains(where: { $0.destination == nil || $0.destination?.length == 0 }) {
                uses.append("\(link.name) carries the default route")
            }
            let others = through.filter { $0.destination != nil && $0.destination?.length != 0 }
            if !others.isEmpty {
                uses.append("\(link.name) carries route\(others.count == 1 ? "" : "s") "
                            + others.compactMap { $0.destination?.description }.joined(separator: ", "))
            }
            if let master = link.masterIndex, let name = names[master] {
                uses.append("\(link.name) is a port of \(byName[name]?.isBridge == true ? "bridge " : "")\(name)")
            }
        }
        return uses
    }
}

/// Processes holding a VFIO group's character device (`/dev/vfio/N`) open: QEMU keeps it
/// for a VM's whole life, and unbinding a function of that group from vfio-pci would block
/// until it lets go. Equivalent to `fuser /dev/vfio/N`.
enum VFIOGroupHolders {
    /// `process 4242 (qemu-system-x86_64) holds /dev/vfio/12 open`, or nil.
    static func describe(group: Int, proc: String, dev: String) -> String? {
        let sysfs = PCISysfs(prefix: "")
        let target = "\(dev)/vfio/\(group)"
        let realTarget = "/dev/vfio/\(group)"
        for entry in sysfs.list(proc) {
            guard let pid = Int(entry) else { continue }
            let fds = "\(proc)/\(pid)/fd"
            for fd in sysfs.list(fds) {
                guard let link = readLinkTarget("\(fds)/\(fd)"), link == target || link == realTarget else { continue }
                let name = sysfs.value("\(proc)/\(pid)/comm") ?? "?"
                return "process \(pid) (\(name)), which holds \(realTarget) open"
            }
        }
        return nil
    }
}
