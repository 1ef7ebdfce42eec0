import HostNetwork
import QNetSystem

/// `--bridge BR`: the bridge exists and is up, STP will not outlast DHCP, MTUs agree,
/// the uplink can be bridged, and the host's address and default route are on the bridge.
public enum BridgeChecks {
    /// How long a guest's DHCP client may wait for its first answer before it gives up:
    /// busybox udhcpc's default (3 DISCOVERs, 3 s apart: -t 3 -T 3), the shortest among
    /// common clients and the one qnet's micro-VM guests use. RFC 2131 clients retransmit
    /// after 4 s (±1), then 8, 16...; dhclient and NetworkManager keep trying far longer.
    public static let dhcpClientPatience: Double = 9

    /// All `--bridge` checks, in order. The link is returned for the manager checks.
    static func run(network: HostNetwork, name: String, isWireless: (String) -> Bool) -> (checks: [CheckResult], bridge: Link?) {
        let title = "Bridge \(name)"
        let link: Link?
        let links: [Link]
        do {
            links = try network.links()
            link = links.first { $0.name == name }
        } catch {
            return ([CheckResult(id: "bridge.exists", status: .fail, title: title, found: "cannot list links: \(error)",
                                 remedy: "run `sudo qnet doctor --bridge \(name)`")], nil)
        }
        guard let link else {
            return ([CheckResult(id: "bridge.exists", status: .fail, title: title, found: "no interface named \(name)",
                                 remedy: "qnet bridge create \(name)   # add --uplink IFACE to bridge the host's NIC")], nil)
        }
        guard link.isBridge, let settings = link.bridge else {
            return ([CheckResult(id: "bridge.exists", status: .fail, title: title,
                                 found: "\(name) is a \(link.kind?.description ?? "physical") interface, not a bridge",
                                 remedy: "pick a bridge (qnet show lists them) or create one: qnet bridge create NAME")], link)
        }
        let ports = network.ports(of: link, in: links)
        var checks = [CheckResult(id: "bridge.exists", status: .ok, title: title,
                                  found: "bridge, \(ports.count) port\(ports.count == 1 ? "" : "s")\(ports.isEmpty ? "" : ": " + ports.map(\.name).joined(separator: ", "))")]
        checks.append(up(link))
        checks.append(stp(link, settings))
        checks.append(mtu(link, ports: ports))
        let uplinks = uplinkPorts(network: network, bridge: link, ports: ports)
        checks.append(uplink(link, uplinks: uplinks, isWireless: isWireless))
        checks.append(dhcp(network: network, bridge: link, uplinks: uplinks))
        checks.append(address(network: network, bridge: link, uplinks: uplinks, links: links))
        return (checks, link)
    }

    /// A DHCP lease on a port (an address with a finite lifetime, or a DHCP client running
    /// on it) is renewed through the port, not the bridge: it lapses. The client belongs on
    /// the bridge.
    static func dhcp(network: HostNetwork, bridge: Link, uplinks: [Link]) -> CheckResult {
        let id = "bridge.dhcp", title = "Bridge \(bridge.name) DHCP"
        for port in uplinks {
            guard let use = try? network.dhcpUse(of: port) else { continue }
            return CheckResult(id: id, status: .fail, title: title,
                               found: "\(use.evidence) on \(port.name), a port of \(bridge.name): the lease is not renewed on the bridge",
                               remedy: "stop the DHCP client on \(port.name) and run it on \(bridge.name) (e.g. dhclient -r \(port.name); dhclient \(bridge.name))")
        }
        return CheckResult(id: id, status: .ok, title: title, found: "no DHCP lease or client on the bridge's ports")
    }

    static func up(_ link: Link) -> CheckResult {
        let id = "bridge.up", title = "Bridge \(link.name) up"
        if link.isUp {
            let carrier = link.operState == .up ? "" : " (no port forwarding yet, fine until a guest or uplink joins)"
            return CheckResult(id: id, status: .ok, title: title, found: "up, operstate \(link.operState)\(carrier)")
        }
        return CheckResult(id: id, status: .fail, title: title, found: "administratively down: guests on it reach nothing",
                           remedy: "ip link set dev \(link.name) up")
    }

    static func stp(_ link: Link, _ settings: BridgeSettings) -> CheckResult {
        let id = "bridge.stp", title = "Bridge \(link.name) STP"
        let delay = settings.forwardDelay
        guard settings.stpEnabled else {
            return CheckResult(id: id, status: .ok, title: title, found: "STP off: new ports forward at once")
        }
        let wait = 2 * delay
        if wait > dhcpClientPatience {
            return CheckResult(id: id, status: .warn, title: title,
                               found: "STP on, forward_delay \(formatSeconds(delay)) s: each new port listens, then learns, for 2 × \(formatSeconds(delay)) = \(formatSeconds(wait)) s before forwarding, longer than a guest's DHCP client waits (udhcpc gives up after \(formatSeconds(dhcpClientPatience)) s)",
                               remedy: "qnet bridge set \(link.name) --stp off   # or keep STP with the shortest delay: qnet bridge set \(link.name) --forward-delay 2")
        }
        return CheckResult(id: id, status: .ok, title: title,
                           found: "STP on, forward_delay \(formatSeconds(delay)) s: new ports forward after \(formatSeconds(wait)) s (DHCP clients wait \(formatSeconds(dhcpClientPatience)) s)")
    }

    static func mtu(_ link: Link, ports: [Link]) -> CheckResult {
        let id = "bridge.mtu", title = "Bridge \(link.name) MTU"
        if ports.isEmpty {
            return CheckResult(id: id, status: .ok, title: title, found: "MTU \(link.mtu), no ports yet")
        }
        let odd = ports.filter { $0.mtu != link.mtu }
        if odd.isEmpty {
            return CheckResult(id: id, status: .ok, title: title, found: "MTU \(link.mtu) on the bridge and all \(ports.count) ports")
        }
        let listing = ([link] + ports).map { "\($0.name) \($0.mtu)" }.joined(separator: ", ")
        return CheckResult(id: id, status: .warn, title: title,
                           found: "MTUs differ (\(listing)): frames larger than the smallest are dropped without an error",
                           remedy: odd.map { "ip link set dev \($0.name) mtu \(link.mtu)" }.joined(separator: "\n"))
    }

    /// The ports that lead off the host: the uplink qnet recorded, and any physical NIC
    /// (no link kind) among the ports.
    static func uplinkPorts(network: HostNetwork, bridge: Link, ports: [Link]) -> [Link] {
        let recorded = network.recordedUplink(of: bridge)
        return ports.filter { $0.name == recorded || ($0.kind == nil && !$0.flags.contains(.loopback)) }
    }

    static func uplink(_ link: Link, uplinks: [Link], isWireless: (String) -> Bool) -> CheckResult {
        let id = "bridge.uplink", title = "Bridge \(link.name) uplink"
        if uplinks.isEmpty {
            return CheckResult(id: id, status: .ok, title: title, found: "none: guests reach the host and each other, not the LAN")
        }
        let wireless = uplinks.filter { isWireless($0.name) }
        if let first = wireless.first {
            return CheckResult(id: id, status: .fail, title: title,
                               found: "\(wireless.map(\.name).joined(separator: ", ")) is wireless: an 802.11 station cannot be bridged (the access point drops frames from the guests' MAC addresses)",
                               remedy: "qnet bridge detach \(link.name) \(first.name)   # then give guests NAT or user-mode networking instead of the bridge")
        }
        return CheckResult(id: id, status: .ok, title: title, found: uplinks.map { "\($0.name) (wired)" }.joined(separator: ", "))
    }

    /// With an uplink, the host's addresses and default route must be on the bridge: an
    /// address left on a port stops working (the bridge takes the port's frames).
    static func address(network: HostNetwork, bridge: Link, uplinks: [Link], links: [Link]) -> CheckResult {
        let id = "bridge.address", title = "Bridge \(bridge.name) address"
        guard !uplinks.isEmpty else {
            return CheckResult(id: id, status: .ok, title: title, found: "no uplink: the host's address and default route stay where they are")
        }
        let addresses: [InterfaceAddress]
        let routes: [Route]
        do {
            addresses = try network.addresses().filter { !$0.isIPv6LinkLocal }
            routes = try network.routes(family: .inet) + network.routes(family: .inet6)
        } catch {
            return CheckResult(id: id, status: .warn, title: title, found: "cannot read addresses or routes: \(error)",
                               remedy: "run `sudo qnet doctor --bridge \(bridge.name)`")
        }
        let names = Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { first, _ in first })
        let onBridge = addresses.filter { $0.index == bridge.index }
        let uplinkIndexes = Set(uplinks.map { $0.index })
        let onUplinks = addresses.filter { uplinkIndexes.contains($0.index) }
        let defaults = routes.filter(\.isDefault)
        let defaultsViaUplink = defaults.filter { $0.outputIndex.map(uplinkIndexes.contains) ?? false }
        let defaultsViaBridge = defaults.filter { $0.outputIndex == bridge.index }
        let uplinkNames = uplinks.map(\.name).joined(separator: ", ")

        if !onUplinks.isEmpty || !defaultsViaUplink.isEmpty {
            var found: [String] = []
            if !onUplinks.isEmpty {
                found.append("\(onUplinks.map { "\($0.prefix) on \(names[$0.index] ?? "?")" }.joined(separator: ", ")) (a bridge port: the host cannot use it)")
            }
            if !defaultsViaUplink.isEmpty { found.append("default route via \(uplinkNames) instead of \(bridge.name)") }
            var remedy = onUplinks.map { "ip addr del \($0.prefix) dev \(names[$0.index] ?? "?") && ip addr add \($0.prefix) dev \(bridge.name)" }
            remedy += defaultsViaUplink.map { route in
                "ip route replace default\(route.gateway.map { " via \($0)" } ?? "") dev \(bridge.name)"
            }
            remedy.append("(or let qnet move everything in one transaction: qnet bridge delete \(bridge.name) && qnet bridge create \(bridge.name) --uplink \(uplinks[0].name))")
            return CheckResult(id: id, status: .fail, title: title, found: found.joined(separator: "; "), remedy: remedy.joined(separator: "\n"))
        }
        if onBridge.isEmpty {
            return CheckResult(id: id, status: .warn, title: title,
                               found: "\(bridge.name) has an uplink (\(uplinkNames)) but no address: the host itself is not on that network",
                               remedy: "ip addr add ADDRESS/PREFIX dev \(bridge.name)   # or run a DHCP client on \(bridge.name)")
        }
        let routeNote = defaultsViaBridge.isEmpty
            ? (defaults.isEmpty ? "no default route" : "default route elsewhere (\(defaults.compactMap { $0.outputIndex.flatMap { names[$0] } }.joined(separator: ", ")))")
            : "default route via \(bridge.name)"
        return CheckResult(id: id, status: .ok, title: title,
                           found: "\(onBridge.map { $0.prefix.description }.joined(separator: ", ")) on \(bridge.name), \(routeNote)")
    }
}
