import ArgumentParser
import HostNetwork

/// `qnet ifdown IFACE`: a drop-in for QEMU's `downscript=`.
struct Ifdown: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ifdown",
        abstract: "QEMU downscript= hook: detach the TAP from its bridge and bring it down.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The TAP interface QEMU passes as the only argument.", transform: Parse.interfaceName)
    var interface: String

    @OptionGroup var hook: HookBridge

    func run() throws {
        let bridgeName = try hook.resolve()
        let host = try global.openHost()
        let tap = try host.link(named: interface)
        // Detach from whichever bridge holds it; an explicit bridge must match.
        if let master = tap.masterIndex {
            let bridge = try host.link(named: bridgeName)
            if master != UInt32(bridge.index), hook.bridge != nil {
                throw HostNetworkError.notAPort(port: interface, bridge: bridgeName)
            }
        }
        try host.setLink(index: tap.index, name: interface, LinkChange(up: false, master: tap.masterIndex == nil ? nil : LinkChange.Master.none))
        print("\(interface): detached, down")
    }
}
