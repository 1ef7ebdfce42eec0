import ArgumentParser
import HostNetwork

/// `qnet ifdown IFACE`: a drop-in for QEMU's `downscript=`.
struct Ifdown: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ifdown",
        abstract: "QEMU downscript= hook: detach the TAP from its bridge and bring it down.",
        discussion: "Acts only on TAP devices. With --bridge, the TAP must be that bridge's port; otherwise whichever bridge holds it lets it go.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The TAP interface QEMU passes as the only argument.", transform: Parse.interfaceName)
    var interface: String

    @OptionGroup var hook: HookBridge

    func run() throws {
        try HostChange.begin(global).host.detachHookTAP(interface, from: hook.bridge)
        print("\(interface): detached, down")
    }
}
