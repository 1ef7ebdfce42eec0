import QNetSystem
import QNetTypes

/// `qnet import ifcfg DIR`: RHEL/CentOS network-scripts (ifcfg-*) to qnet configuration.
/// A TYPE=Bridge file becomes a bridge; a file with BRIDGE=br0 becomes br0's uplink.
/// Every key is translated or reported.
public enum IfcfgImporter {
    /// One ifcfg file: its name and its KEY=VALUE pairs in order.
    public struct File: Equatable, Sendable {
        public var name: String
        public var pairs: [(key: String, value: String)]
        public static func == (a: File, b: File) -> Bool { a.name == b.name && a.pairs.map(\.key) == b.pairs.map(\.key) && a.pairs.map(\.value) == b.pairs.map(\.value) }
        func value(_ key: String) -> String? { pairs.last { $0.key == key }?.value }
    }

    /// Reads every ifcfg-* file in `directory` (not ifcfg-lo).
    public static func load(directory: String) throws -> [File] {
        try FileSystem.list(directory).sorted().filter { $0.hasPrefix("ifcfg-") && $0 != "ifcfg-lo" && !$0.hasSuffix("~") }.map { name in
            try parse(name: name, text: FileSystem.readText("\(directory)/\(name)"))
        }
    }

    /// Shell-style KEY=VALUE lines; comments and blank lines skipped, one level of quotes removed.
    public static func parse(name: String, text: String) -> File {
        var pairs: [(String, String)] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = ImportValues.trimmed(String(raw))
            guard !line.isEmpty, !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            var key = String(line[..<equals])
            if key.hasPrefix("export ") { key = String(key.dropFirst(7)) }
            var value = String(line[line.index(after: equals)...])
            if let first = value.first, first == "\"" || first == "'", value.count >= 2, value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            pairs.append((key, value))
        }
        return File(name: name, pairs: pairs)
    }

    /// Keys that describe the file rather than the device, with why nothing is needed.
    static let ignoredWithReason: [String: String] = [
        "NM_CONTROLLED": "NetworkManager setting; qnet devices are not NetworkManager's",
        "USERCTL": "lets users run ifup; qnet needs CAP_NET_ADMIN",
        "UUID": "NetworkManager connection id",
        "NAME": "connection name",
        "HWADDR": "selects the physical device by MAC; qnet names devices",
        "DNS1": "qnet does not manage /etc/resolv.conf", "DNS2": "qnet does not manage /etc/resolv.conf", "DNS3": "qnet does not manage /etc/resolv.conf",
        "DOMAIN": "qnet does not manage /etc/resolv.conf", "PEERDNS": "qnet does not manage /etc/resolv.conf",
        "IPV6INIT": "IPv6 autoconfiguration is the kernel's (SLAAC on the bridge)", "IPV6_AUTOCONF": "IPv6 autoconfiguration is the kernel's",
        "DEFROUTE": "the default route comes from GATEWAY", "IPV4_FAILURE_FATAL": "NetworkManager setting", "IPV6_FAILURE_FATAL": "NetworkManager setting",
        "PROXY_METHOD": "NetworkManager setting", "BROWSER_ONLY": "NetworkManager setting", "ZONE": "firewalld zone; qnet does not manage firewalld",
    ]

    public static func translate(_ files: [File]) -> ImportResult {
        var result = ImportResult()
        func device(_ file: File) -> String { file.value("DEVICE") ?? String(file.name.dropFirst("ifcfg-".count)) }
        // Ports first: BRIDGE=br0 names the bridge's uplink.
        var uplinks: [String: (String, File)] = [:]
        for file in files where file.value("TYPE")?.lowercased() != "bridge" {
            guard let bridge = file.value("BRIDGE") else { continue }
            if let (first, _) = uplinks[bridge] {
                result.untranslated.append("\(file.name): BRIDGE=\(bridge): \(device(file)) would be a second port of \(bridge) after \(first); qnet declares one uplink per bridge (attach it with `qnet bridge attach \(bridge) \(device(file))`)")
            } else {
                uplinks[bridge] = (device(file), file)
            }
        }
        for file in files {
            let name = device(file)
            let isBridge = file.value("TYPE")?.lowercased() == "bridge"
            let source = file.name
            if !isBridge {
                guard file.value("BRIDGE") != nil else {
                    let keys = file.pairs.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                    result.untranslated.append("\(source): \(keys): \(name) is neither a bridge nor a bridge port; qnet configures bridges, their uplinks and TAPs")
                    continue
                }
                for (key, value) in file.pairs {
                    switch key {
                    case "DEVICE", "TYPE", "BRIDGE", "ONBOOT": continue
                    case "BOOTPROTO" where value == "none" || value == "static" || value.isEmpty: continue
                    case "BOOTPROTO":
                        result.untranslated.append("\(source): BOOTPROTO=\(value): a bridge port carries no address of its own; the bridge needs the DHCP client")
                    default:
                        let reason = ignoredWithReason[key] ?? "a setting of the port \(name); qnet leaves the uplink's own settings to the kernel"
                        result.untranslated.append("\(source): \(key)=\(value): \(reason)")
                    }
                }
                continue
            }
            var bridge = BridgeConfig(name: name)
            bridge.uplink = uplinks[name]?.0
            var addresses: [IPPrefix] = []
            var pendingAddresses: [String: (address: IPAddress, key: String)] = [:]
            var lengths: [String: UInt8] = [:]
            var dhcp = false
            for (key, value) in file.pairs {
                let suffix = String(key.drop { !$0.isNumber })
                let base = String(key.prefix { !$0.isNumber })
                switch base {
                case "DEVICE", "TYPE": continue
                case "ONBOOT":
                    if ImportValues.bool(value) == false {
                        result.untranslated.append("\(source): ONBOOT=\(value): qnet applies every declared object at boot; remove bridges/\(name).yaml to keep it down")
                    }
                case "BOOTPROTO":
                    switch value.lowercased() {
                    case "none", "static", "": break
                    case "dhcp", "bootp":
                        dhcp = true
                        result.untranslated.append("\(source): BOOTPROTO=\(value): qnet runs no DHCP client; run one on \(name) (e.g. a dhclient@\(name) unit) after `qnet apply`")
                    default: result.untranslated.append("\(source): BOOTPROTO=\(value): unknown method")
                    }
                case "IPADDR":
                    guard let address = IPAddress(value) else { result.untranslated.append("\(source): \(key)=\(value): not an IP address"); continue }
                    pendingAddresses[suffix] = (address, key)
                case "NETMASK":
                    guard let length = ImportValues.prefixLength(netmask: value) else { result.untranslated.append("\(source): \(key)=\(value): not a contiguous netmask"); continue }
                    lengths[suffix] = length
                case "PREFIX":
                    guard let length = UInt8(value), length <= 32 else { result.untranslated.append("\(source): \(key)=\(value): not a prefix length"); continue }
                    lengths[suffix] = length
                case "GATEWAY":
                    guard let gateway = IPAddress(value) else { result.untranslated.append("\(source): \(key)=\(value): not an IP address"); continue }
                    bridge.routes.append(RouteConfig(to: nil, via: gateway))
                case "MTU":
                    guard let mtu = UInt32(value), (68...65535).contains(mtu) else { result.untranslated.append("\(source): MTU=\(value): use 68 to 65535"); continue }
                    bridge.mtu = mtu
                case "MACADDR":
                    guard let mac = MACAddress(value) else { result.untranslated.append("\(source): MACADDR=\(value): not a MAC address"); continue }
                    bridge.mac = mac
                case "STP":
                    guard let stp = ImportValues.bool(value) else { result.untranslated.append("\(source): STP=\(value): use on or off"); continue }
                    bridge.stp = stp
                case "DELAY":
                    guard let delay = Double(value), delay >= 0 else { result.untranslated.append("\(source): DELAY=\(value): not a number of seconds"); continue }
                    bridge.forwardDelay = delay
                case "BRIDGING_OPTS":
                    for option in value.split(separator: " ") {
                        let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
                        let number = parts.count == 2 ? Double(parts[1]) : nil
                        switch (parts.first, number) {
                        case ("priority", let value?) where value >= 0 && value <= 65535: bridge.priority = UInt16(value)
                        case ("hello_time", let value?): bridge.helloTime = value
                        case ("max_age", let value?): bridge.maxAge = value
                        case ("ageing_time", let value?): bridge.ageingTime = value
                        case ("forward_delay", let value?): bridge.forwardDelay = value
                        case ("stp_state", let value?): bridge.stp = value != 0
                        case ("vlan_filtering", let value?): bridge.vlanFiltering = value != 0
                        default: result.untranslated.append("\(source): BRIDGING_OPTS \(option): qnet knows priority, hello_time, max_age, ageing_time, forward_delay, stp_state, vlan_filtering")
                        }
                    }
                default:
                    result.untranslated.append("\(source): \(key)=\(value): \(ignoredWithReason[key] ?? "no qnet setting for it")")
                }
            }
            for suffix in pendingAddresses.keys.sorted() {
                let (address, key) = pendingAddresses[suffix]!
                guard let length = lengths[suffix] else {
                    result.untranslated.append("\(source): \(key)=\(address): no NETMASK\(suffix) or PREFIX\(suffix) for it")
                    continue
                }
                addresses.append(IPPrefix(address: address, length: length))
            }
            if !addresses.isEmpty || !dhcp || bridge.uplink == nil { bridge.addressing = .list(addresses) }
            if dhcp { bridge.addressing = .list([]) }
            result.checkForwardDelay(&bridge, source: source, written: "STP=\(file.value("STP") ?? "on") with DELAY=\(file.value("DELAY") ?? "?")")
            result.dropInvalidOptions(&bridge, source: source)
            result.bridges.append(bridge)
        }
        for (bridge, (uplink, file)) in uplinks.sorted(by: { $0.key < $1.key }) where !result.bridges.contains(where: { $0.name == bridge }) {
            result.untranslated.append("\(file.name): BRIDGE=\(bridge): no ifcfg-\(bridge) with TYPE=Bridge; \(uplink) is not made an uplink")
        }
        return result
    }
}
