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
        try Self.detach(interface, from: hook.bridge, change: HostChange.begin(global))
    }

    /// The hook's work, also run by `FastPath` for QEMU's own `qemu-ifdown TAP`.
    static func detach(_ interface: String, from bridge: String?, change: HostChange) throws {
        try change.host.detachHookTAP(interface, from: bridge)
        print("\(interface): detached, down")
    }
}
