import ArgumentParser
import QNetTypes
import VirtualMachines

/// `qnet net create NAME --mode MODE`: `virsh net-define` / `incus network create`.
struct NetCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Define a network (virsh net-define; incus network create). Start it with `qnet net start`.",
        discussion: """
            nat: a private bridge (qn-NAME) with the gateway address, dnsmasq for DHCP and DNS (VMNAME.NAME \
            resolves to its lease), and masquerade for the subnet only. isolated: the same without a way out. \
            bridge: guests join an existing bridge, or one qnet makes (optionally taking over --uplink). \
            Without --subnet, the first free 10.x.y.0/24 that overlaps no route or address is chosen.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Network name (1-12 of a-z, 0-9, '-', '_').")
    var name: String

    @Option(help: "bridge, nat or isolated.")
    var mode: NetworkMode

    @Option(help: ArgumentHelp("The bridge (default: qn-NAME).", valueName: "bridge"), transform: Parse.interfaceName)
    var bridge: String?

    @Option(help: ArgumentHelp("bridge mode: an uplink to move into the bridge.", valueName: "iface"), transform: Parse.interfaceName)
    var uplink: String?

    @Option(help: ArgumentHelp("nat/isolated: the subnet, e.g. 10.0.50.0/24 (default: the first free 10.x.y.0/24).", valueName: "cidr"), transform: Parse.cidr)
    var subnet: IPPrefix?

    @Option(help: ArgumentHelp("nat/isolated: the gateway address on the bridge (default: the subnet's first address).", valueName: "ip"), transform: Parse.ipAddress)
    var gateway: IPAddress?

    @Option(help: ArgumentHelp("nat/isolated: DHCP range START-END (default: .100-.199 of a /24).", valueName: "range"))
    var dhcpRange: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("DHCP lease time in seconds.", valueName: "seconds"))
    var leaseTime: Int = 3600

    @Option(help: ArgumentHelp("DNS domain for guests (default: the network's name).", valueName: "domain"))
    var domain: String?

    func validate() throws {
        if mode == .bridge && (subnet != nil || gateway != nil || dhcpRange != nil) {
            throw ValidationError("--subnet, --gateway and --dhcp-range apply to nat and isolated networks; a bridge network uses the LAN's own DHCP")
        }
        if mode != .bridge && uplink != nil {
            throw ValidationError("--uplink applies to bridge networks; a \(mode.rawValue) network reaches out through masquerade")
        }
        if !AddressPlanner.leaseTimes.contains(leaseTime) {
            throw ValidationError("invalid lease time '\(leaseTime)': use \(AddressPlanner.leaseTimes.lowerBound) to \(AddressPlanner.leaseTimes.upperBound) seconds")
        }
    }

    func run() throws {
        try NetworkNames.validate(name)
        var start: String?
        var end: String?
        if let dhcpRange {
            let parts = dhcpRange.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, IPAddress(String(parts[0])) != nil, IPAddress(String(parts[1])) != nil else {
                throw ValidationError("invalid DHCP range '\(dhcpRange)': use START-END, e.g. 10.0.50.100-10.0.50.199")
            }
            (start, end) = (String(parts[0]), String(parts[1]))
        }
        let manager = NetworkManager(host: try global.openHost())
        let definition = try manager.create(NetworkDefinition(
            name: name, mode: mode, bridge: bridge ?? NetworkNames.defaultBridge(for: name), uplink: uplink,
            subnet: subnet?.description, gateway: gateway?.description, dhcpStart: start, dhcpEnd: end,
            leaseTime: leaseTime, domain: domain))
        var line = "defined \(definition.mode.rawValue) network \(name) on bridge \(definition.bridge)"
        if let subnet = definition.subnet { line += ", subnet \(subnet), gateway \(definition.gateway ?? "?"), DHCP \(definition.dhcpStart ?? "?")-\(definition.dhcpEnd ?? "?")" }
        print(line)
    }
}
