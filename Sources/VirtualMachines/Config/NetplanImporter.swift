import QNetTypes
import Yams

/// `qnet import netplan FILE`: netplan YAML (network: bridges: ...) to qnet configuration.
/// A bridge's first interface is its uplink. Every key is translated or reported.
public enum NetplanImporter {
    public static func translate(text: String, file: String = "netplan.yaml") throws -> ImportResult {
        var result = ImportResult()
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { return result }
            root = node
        } catch {
            throw DefinitionFileError(file: file, problem: .notYAML(problem: "\(error)"))
        }
        guard let network = root.mapping?["network"]?.mapping else {
            throw DefinitionFileError(file: file, problem: .missingKey(path: "network"))
        }
        func at(_ node: Node) -> String { node.mark.map { "\(file):\($0.line)" } ?? file }
        for (key, value) in network {
            let name = key.string ?? "?"
            switch name {
            case "version", "bridges", "ethernets": continue
            case "renderer": result.untranslated.append("\(at(key)): network.renderer \(value.string ?? ""): qnet makes the bridges itself")
            default: result.untranslated.append("\(at(key)): network.\(name): qnet imports bridges (and their ethernets)")
            }
        }
        let ports = Set(network["bridges"]?.mapping?.values.flatMap { $0.mapping?["interfaces"]?.sequence?.compactMap(\.string) ?? [] } ?? [])
        for (key, value) in network["ethernets"]?.mapping ?? [:] {
            let name = key.string ?? "?"
            guard ports.contains(name) else {
                result.untranslated.append("\(at(key)): network.ethernets.\(name): neither a bridge nor a bridge port")
                continue
            }
            for (setting, settingValue) in value.mapping ?? [:] {
                let settingName = setting.string ?? "?"
                if (settingName == "dhcp4" || settingName == "dhcp6"), settingValue.bool == false { continue }
                result.untranslated.append("\(at(setting)): network.ethernets.\(name).\(settingName): a setting of the port \(name); qnet leaves the uplink's own settings to the kernel")
            }
        }
        for (key, value) in network["bridges"]?.mapping ?? [:] {
            let name = key.string ?? "?"
            let path = "network.bridges.\(name)"
            var bridge = BridgeConfig(name: name, addressing: .list([]))
            var addresses: [IPPrefix] = []
            for (setting, settingValue) in value.mapping ?? [:] {
                let settingName = setting.string ?? "?"
                let here = at(setting)
                switch settingName {
                case "interfaces":
                    let interfaces = settingValue.sequence?.compactMap(\.string) ?? []
                    bridge.uplink = interfaces.first
                    for extra in interfaces.dropFirst() {
                        result.untranslated.append("\(here): \(path).interfaces \(extra): qnet declares one uplink per bridge (attach \(extra) with `qnet bridge attach \(name) \(extra)`)")
                    }
                case "addresses":
                    for item in settingValue.sequence ?? [] {
                        if let text = item.string, let prefix = IPPrefix(text), text.contains("/") { addresses.append(prefix) }
                        else { result.untranslated.append("\(at(item)): \(path).addresses \(item.string ?? "(mapping)"): only ADDRESS/PREFIXLEN entries are translated") }
                    }
                case "gateway4", "gateway6":
                    guard let gateway = settingValue.string.flatMap(IPAddress.init) else { result.untranslated.append("\(here): \(path).\(settingName): not an address"); continue }
                    bridge.routes.append(RouteConfig(to: nil, via: gateway))
                case "routes":
                    for item in settingValue.sequence ?? [] {
                        guard let route = item.mapping else { continue }
                        let to = route["to"]?.string
                        let destination: IPPrefix?? = to == "default" || to == "0.0.0.0/0" || to == "::/0" ? .some(nil) : to.flatMap(IPPrefix.init).map { .some($0) }
                        let via = route["via"]?.string.flatMap(IPAddress.init)
                        let known: Set<String> = ["to", "via", "metric", "table"]
                        let unknown = route.keys.compactMap(\.string).filter { !known.contains($0) }
                        guard let destination, unknown.isEmpty else {
                            result.untranslated.append("\(at(item)): \(path).routes entry (to \(to ?? "?")): only to, via, metric and table are translated\(unknown.isEmpty ? "" : "; has " + unknown.joined(separator: ", "))")
                            continue
                        }
                        bridge.routes.append(RouteConfig(to: destination, via: via, metric: route["metric"]?.int.map(UInt32.init), table: route["table"]?.int.map(UInt32.init)))
                    }
                case "mtu": bridge.mtu = settingValue.int.map(UInt32.init)
                case "macaddress": bridge.mac = settingValue.string.flatMap(MACAddress.init)
                case "dhcp4", "dhcp6":
                    if settingValue.bool == true {
                        result.untranslated.append("\(here): \(path).\(settingName): true: qnet runs no DHCP client; run one on \(name) after `qnet apply`")
                    }
                case "parameters":
                    for (parameter, parameterValue) in settingValue.mapping ?? [:] {
                        let parameterName = parameter.string ?? "?"
                        let number = parameterValue.float ?? parameterValue.int.map(Double.init)
                        switch parameterName {
                        case "stp": bridge.stp = parameterValue.bool
                        case "forward-delay": bridge.forwardDelay = number
                        case "hello-time": bridge.helloTime = number
                        case "max-age": bridge.maxAge = number
                        case "ageing-time", "aging-time": bridge.ageingTime = number
                        case "priority": bridge.priority = parameterValue.int.map { UInt16(clamping: $0) }
                        default: result.untranslated.append("\(at(parameter)): \(path).parameters.\(parameterName): no qnet setting for it (per-port settings: `qnet bridge set-port`)")
                        }
                    }
                case "nameservers": result.untranslated.append("\(here): \(path).nameservers: qnet does not manage /etc/resolv.conf")
                default: result.untranslated.append("\(here): \(path).\(settingName): no qnet setting for it")
                }
            }
            bridge.addressing = .list(addresses)
            result.checkForwardDelay(&bridge, source: at(key), written: "stp true with forward-delay \(ImportValues.seconds(bridge.forwardDelay))")
            result.dropInvalidOptions(&bridge, source: at(key))
            result.bridges.append(bridge)
        }
        return result
    }
}
