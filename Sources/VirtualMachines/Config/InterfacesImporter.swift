import QNetSystem
import QNetTypes

/// `qnet import interfaces FILE`: Debian ifupdown / ifupdown2 (Proxmox) /etc/network/interfaces
/// to qnet configuration. An `iface` with bridge_ports/bridge-ports becomes a bridge whose first
/// port is its uplink. Every line is translated or reported.
public enum InterfacesImporter {
    struct Stanza {
        var name: String
        var method: String
        var family: String
        var line: Int
        var options: [(key: String, value: String, line: Int)] = []
    }

    public static func translate(text: String, file: String = "interfaces") -> ImportResult {
        var result = ImportResult()
        var stanzas: [Stanza] = []
        var auto = Set<String>()
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = String(raw)
            if let hash = line.firstIndex(of: "#") { line = String(line[..<hash]) }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = words.first else { continue }
            let indented = raw.first == " " || raw.first == "\t"
            let here = "\(file):\(number + 1)"
            switch first {
            case "auto", "allow-hotplug", "allow-auto":
                auto.formUnion(words.dropFirst())
            case "iface" where words.count >= 4:
                stanzas.append(Stanza(name: words[1], method: words[3], family: words[2], line: number + 1))
            case "source", "source-directory", "mapping":
                result.untranslated.append("\(here): \(words.joined(separator: " ")): qnet reads one file; import the included files separately")
            default:
                if indented || !stanzas.isEmpty, var last = stanzas.popLast() {
                    last.options.append((first, words.dropFirst().joined(separator: " "), number + 1))
                    stanzas.append(last)
                } else {
                    result.untranslated.append("\(here): \(words.joined(separator: " ")): not an ifupdown keyword qnet knows")
                }
            }
        }
        let bridgeNames = Set(stanzas.filter { stanza in stanza.options.contains { normalized($0.key) == "bridge_ports" } }.map(\.name))
        var bridges: [String: BridgeConfig] = [:]
        var order: [String] = []
        for stanza in stanzas {
            let here = "\(file):\(stanza.line)"
            if stanza.method == "loopback" { continue }
            guard bridgeNames.contains(stanza.name) else {
                let isPort = stanzas.contains { other in other.options.contains { normalized($0.key) == "bridge_ports" && $0.value.split(separator: " ").map(String.init).contains(stanza.name) } }
                if isPort {
                    for option in stanza.options {
                        result.untranslated.append("\(file):\(option.line): \(option.key) \(option.value): a setting of the port \(stanza.name); qnet leaves the uplink's own settings to the kernel")
                    }
                    if stanza.method != "manual" && stanza.method != "static" {
                        result.untranslated.append("\(here): iface \(stanza.name) \(stanza.family) \(stanza.method): a bridge port carries no address of its own")
                    }
                } else {
                    result.untranslated.append("\(here): iface \(stanza.name) \(stanza.family) \(stanza.method): neither a bridge nor a bridge port; qnet configures bridges, their uplinks and TAPs")
                }
                continue
            }
            var bridge = bridges[stanza.name] ?? BridgeConfig(name: stanza.name, addressing: .list([]))
            if bridges[stanza.name] == nil { order.append(stanza.name) }
            var addresses: [IPPrefix] = { if case let .list(list) = bridge.addressing { list } else { [] } }()
            var pendingAddress: (IPAddress, Int)?
            var netmask: UInt8?
            switch stanza.method {
            case "static", "manual": break
            case "dhcp":
                result.untranslated.append("\(here): iface \(stanza.name) \(stanza.family) dhcp: qnet runs no DHCP client; run one on \(stanza.name) after `qnet apply`")
            default:
                result.untranslated.append("\(here): iface \(stanza.name) \(stanza.family) \(stanza.method): unknown method")
            }
            if !auto.contains(stanza.name) {
                result.untranslated.append("\(here): \(stanza.name) has no `auto` line: qnet applies every declared object at boot")
            }
            for option in stanza.options {
                let where_ = "\(file):\(option.line)"
                let value = option.value
                switch normalized(option.key) {
                case "bridge_ports":
                    let ports = value.split(separator: " ").map(String.init).filter { $0 != "none" }
                    bridge.uplink = ports.first
                    for extra in ports.dropFirst() {
                        result.untranslated.append("\(where_): bridge_ports \(extra): qnet declares one uplink per bridge (attach \(extra) with `qnet bridge attach \(stanza.name) \(extra)`)")
                    }
                case "bridge_stp":
                    guard let stp = ImportValues.bool(value) else { result.untranslated.append("\(where_): \(option.key) \(value): use on or off"); continue }
                    bridge.stp = stp
                case "bridge_fd":
                    guard let delay = Double(value) else { result.untranslated.append("\(where_): \(option.key) \(value): not a number of seconds"); continue }
                    bridge.forwardDelay = delay
                case "bridge_hello": bridge.helloTime = Double(value)
                case "bridge_maxage": bridge.maxAge = Double(value)
                case "bridge_ageing": bridge.ageingTime = Double(value)
                case "bridge_bridgeprio": bridge.priority = UInt16(value)
                case "bridge_vlan_aware": bridge.vlanFiltering = ImportValues.bool(value)
                case "address":
                    if let prefix = IPPrefix(value), value.contains("/") { addresses.append(prefix) }
                    else if let address = IPAddress(value) { pendingAddress = (address, option.line) }
                    else { result.untranslated.append("\(where_): address \(value): not an address") }
                case "netmask":
                    guard let length = UInt8(value) ?? ImportValues.prefixLength(netmask: value) else { result.untranslated.append("\(where_): netmask \(value): not a netmask"); continue }
                    netmask = length
                case "gateway":
                    guard let gateway = IPAddress(value) else { result.untranslated.append("\(where_): gateway \(value): not an address"); continue }
                    bridge.routes.append(RouteConfig(to: nil, via: gateway))
                case "mtu":
                    guard let mtu = UInt32(value), (68...65535).contains(mtu) else { result.untranslated.append("\(where_): mtu \(value): use 68 to 65535"); continue }
                    bridge.mtu = mtu
                case "hwaddress":
                    guard let mac = MACAddress(value.split(separator: " ").last.map(String.init) ?? value) else { result.untranslated.append("\(where_): hwaddress \(value): not a MAC address"); continue }
                    bridge.mac = mac
                case "up", "post_up":
                    let words = value.split(separator: " ").map(String.init)
                    if let route = ImportValues.route(fromIPCommand: words) { bridge.routes.append(route) }
                    else { result.untranslated.append("\(where_): \(option.key) \(value): only `ip route add ... via ...` commands are translated") }
                case "dns_nameservers", "dns_search", "dns_domain":
                    result.untranslated.append("\(where_): \(option.key) \(value): qnet does not manage /etc/resolv.conf")
                case "bridge_maxwait", "bridge_waitport":
                    result.untranslated.append("\(where_): \(option.key) \(value): qnet applies without waiting for ports (qnet.service waits for uplinks at boot)")
                default:
                    result.untranslated.append("\(where_): \(option.key) \(value): no qnet setting for it")
                }
            }
            if let (address, line) = pendingAddress {
                if let netmask { addresses.append(IPPrefix(address: address, length: netmask)) }
                else { result.untranslated.append("\(file):\(line): address \(address): no netmask for it") }
            }
            bridge.addressing = .list(addresses)
            result.checkForwardDelay(&bridge, source: "\(file):\(stanza.line)", written: "bridge_stp on with bridge_fd \(ImportValues.seconds(bridge.forwardDelay))")
            result.dropInvalidOptions(&bridge, source: "\(file):\(stanza.line)")
            bridges[stanza.name] = bridge
        }
        result.bridges = order.compactMap { bridges[$0] }
        return result
    }

    /// ifupdown2 writes bridge-ports, ifupdown bridge_ports; both mean the same.
    static func normalized(_ key: String) -> String { String(key.map { $0 == "-" ? "_" : $0 }) }
}
