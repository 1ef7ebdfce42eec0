import Glibc
import HostNetwork
import QNetTypes

/// `qnet export`: the runtime objects as configuration files, so what exists (a bridge
/// made by hand with `ip`, a running network) can be kept: `qnet export br0 >
/// /etc/qnet/bridges/br0.yaml`. Reads only.
public struct ConfigExporter {
    public let host: HostNetwork
    public let store: NetworkStore

    public init(host: HostNetwork, store: NetworkStore = NetworkStore()) {
        self.host = host
        self.store = store
    }

    /// One exported object: where it belongs under CONFIG_DIR and its YAML.
    public struct Exported: Equatable, Sendable {
        public var path: String
        public var text: String
    }

    /// Every bridge, persistent TAP and stored network, plus `runningVMs`; or only the
    /// objects named in `names` (an unknown name is an error).
    public func export(names: [String], runningVMs: [VMDefinition]) throws -> [Exported] {
        let links = try host.links()
        var result: [(String, Exported)] = []
        for link in links where link.isBridge {
            result.append((link.name, Exported(path: "bridges/\(link.name).yaml", text: try ConfigurationText.yaml(try bridge(link, links: links)))))
        }
        for link in links where link.isTAP && link.tun?.persistent == true {
            result.append((link.name, Exported(path: "taps/\(link.name).yaml", text: try ConfigurationText.yaml(tap(link, links: links)))))
        }
        for definition in try store.definitions() {
            let config = NetworkConfig(definition: definition, autostart: store.isActive(definition.name))
            result.append((definition.name, Exported(path: "networks/\(definition.name).yaml", text: try ConfigurationText.yaml(config))))
        }
        for definition in runningVMs {
            result.append((definition.name, Exported(path: "vms/\(definition.name).yaml", text: try ConfigurationText.yaml(VMConfig(definition: definition, autostart: true)))))
        }
        guard !names.isEmpty else { return result.map(\.1) }
        return try names.flatMap { name in
            let matching = result.filter { $0.0 == name }.map(\.1)
            guard !matching.isEmpty else { throw ApplyError("nothing named '\(name)' to export: no bridge, persistent TAP, network or running VM has that name") }
            return matching
        }
    }

    /// A bridge as it is: every STP timer, MTU, MAC (unless it is its uplink's), its
    /// uplink (recorded by qnet, else its one non-TAP port), addresses and routes.
    public func bridge(_ link: Link, links: [Link]) throws -> BridgeConfig {
        let settings = link.bridge
        var config = BridgeConfig(name: link.name, options: BridgeOptions(stp: settings?.stpEnabled, forwardDelay: settings?.forwardDelay,
                                  helloTime: settings?.helloTime, maxAge: settings?.maxAge, ageingTime: settings?.ageingTime,
                                  priority: settings?.priority), mtu: link.mtu)
        // Only when on: a kernel without CONFIG_BRIDGE_VLAN_FILTERING refuses the attribute even as 0.
        if settings?.vlanFiltering == true { config.vlanFiltering = true }
        let ports = host.ports(of: link, in: links)
        config.uplink = host.recordedUplink(of: link) ?? {
            let candidates = ports.filter { $0.kind == nil }
            return candidates.count == 1 ? candidates[0].name : nil
        }()
        let uplinkMAC = links.first { $0.name == config.uplink }?.macAddress
        if link.macAddress != uplinkMAC { config.mac = link.macAddress }
        let addresses = try host.addresses(index: link.index).filter { $0.prefix.address.isIPv4 || (!$0.isIPv6LinkLocal && $0.isPermanent) }
        config.addressing = .list(addresses.map(\.prefix))
        let mainTable = Route(destination: nil).table
        for route in try host.configuredRoutes(of: link) {
            config.routes.append(RouteConfig(to: route.isDefault ? nil : route.destination, via: route.gateway, metric: route.metric,
                                             table: route.table == mainTable ? nil : route.table))
        }
        return config
    }

    public func tap(_ link: Link, links: [Link]) -> TapConfig {
        let bridge = link.masterIndex.flatMap { master in links.first { $0.index == master }?.name }
        let owner = link.tun?.owner.map { uid in getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? String(uid) }
        let group = link.tun?.group.map { gid in getgrgid(gid).map { String(cString: $0.pointee.gr_name) } ?? String(gid) }
        let bridgeMTU = links.first { $0.name == bridge }?.mtu
        return TapConfig(name: link.name, bridge: bridge, owner: owner, group: group, vnetHeader: link.tun?.vnetHeader ?? false,
                         mtu: link.mtu == bridgeMTU ? nil : link.mtu)
    }
}
