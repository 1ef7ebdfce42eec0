import ArgumentParser
import HostNetwork

/// `qnet bridge ...`: host bridges (brctl addbr/delbr/addif/delif/stp).
struct BridgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridge",
        abstract: "Create, change, delete bridges and attach interfaces to them.",
        subcommands: [BridgeCreate.self, BridgeDelete.self, BridgeSet.self, BridgeAttach.self, BridgeDetach.self, BridgeSetPort.self]
    )
}

/// Bridge options shared by `create` and `set`.
struct BridgeOptionFlags: ParsableArguments {
    @Option(help: "Spanning tree protocol: on or off (default for new bridges: off).")
    var stp: Switch?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds a port listens and learns before forwarding (default for new bridges: 0).", valueName: "seconds"),
            transform: Parse.seconds)
    var forwardDelay: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("STP hello time in seconds (1-10).", valueName: "seconds"), transform: Parse.seconds)
    var helloTime: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("STP max message age in seconds (6-40).", valueName: "seconds"), transform: Parse.seconds)
    var maxAge: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds a learned MAC stays in the forwarding database.", valueName: "seconds"), transform: Parse.seconds)
    var ageingTime: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Bridge priority for STP root election (0-65535, lower wins).", valueName: "n"),
            transform: Parse.integer("bridge priority", in: 0...65535))
    var priority: UInt16?

    @Option(help: "VLAN filtering: on or off.")
    var vlanFiltering: Switch?

    var options: BridgeOptions {
        BridgeOptions(stp: stp?.isOn, forwardDelay: forwardDelay, helloTime: helloTime, maxAge: maxAge,
                      ageingTime: ageingTime, priority: priority, vlanFiltering: vlanFiltering?.isOn)
    }
}

/// Per-port options shared by `attach` and `set-port`.
struct PortOptionFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("STP path cost of the port (1-65535).", valueName: "n"),
            transform: Parse.integer("port cost", in: 1...65535))
    var cost: UInt32?

    @Option(name: .customLong("port-priority"), parsing: .unconditional, help: ArgumentHelp("STP port priority (0-63).", valueName: "n"),
            transform: Parse.integer("port priority", in: 0...63))
    var portPriority: UInt16?

    @Option(help: "Isolated port: on or off (isolated ports reach only non-isolated ones).")
    var isolated: Switch?

    @Option(help: "Learn source MACs on this port: on or off.")
    var learning: Switch?

    @Option(help: "Flood unicast frames for MACs the bridge has not learnt to this port: on or off (unicast only; multicast and broadcast still reach it).")
    var flood: Switch?

    var options: BridgePortOptions {
        BridgePortOptions(cost: cost, priority: portPriority, isolated: isolated?.isOn, learning: learning?.isOn, unicastFlood: flood?.isOn)
    }
}
