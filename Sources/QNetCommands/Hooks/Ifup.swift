import ArgumentParser
import Glibc
import HostNetwork
import QNetTypes

/// Which bridge a hook attaches to: --bridge, else $QNET_BRIDGE, else br0.
struct HookBridge: ParsableArguments {
    @Option(help: ArgumentHelp("The bridge (default: $QNET_BRIDGE, else br0).", valueName: "bridge"), transform: Parse.interfaceName)
    var bridge: String?

    func resolve() throws -> String { try Self.resolve(bridge) }

    /// `explicit` (--bridge), else $QNET_BRIDGE, else br0.
    static func resolve(_ explicit: String?) throws -> String {
        if let explicit { return explicit }
        if let fromEnvironment = getenv("QNET_BRIDGE").map({ String(cString: $0) }), !fromEnvironment.isEmpty {
            return try Parse.interfaceName(fromEnvironment)
        }
        return "br0"
    }
}

/// `qnet ifup IFACE`: a drop-in for QEMU's `script=` (what /etc/qemu-ifup does with
/// `ifconfig $1 up; sleep 0.5; brctl addif br0 $1`), without the sleep.
struct Ifup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ifup",
        abstract: "QEMU script= hook: attach the TAP QEMU made to the bridge and bring it up.",
        discussion: """
            Use as -netdev tap,id=n0,script=/usr/local/bin/qemu-ifup (a symlink to qnet) or with \
            script="qnet ifup" wrappers. The TAP gets the bridge's MTU, a MAC starting with fe:, \
            the bridge as master and up — in one netlink request, no sleep. Acts only on TAP devices, \
            never on the bridge itself.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The TAP interface QEMU passes as the only argument.", transform: Parse.interfaceName)
    var interface: String

    @OptionGroup var hook: HookBridge

    func run() throws {
        let bridge = try hook.resolve()
        try Self.attach(interface, to: bridge, change: HostChange.begin(global))
    }

    /// The hook's work, also run by `FastPath` for QEMU's own `qemu-ifup TAP`.
    static func attach(_ interface: String, to bridge: String, change: HostChange) throws {
        try change.host.attachHookTAP(interface, to: bridge)
        print("\(interface): attached to \(bridge), up")
    }
}
