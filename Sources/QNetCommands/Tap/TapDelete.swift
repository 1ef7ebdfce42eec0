import ArgumentParser
import HostNetwork

/// `qnet tap delete NAME`: `tunctl -d NAME` / `ip tuntap del NAME mode tap`.
struct TapDelete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a TAP device (ip tuntap del NAME mode tap; tunctl -d NAME).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The TAP to delete.", transform: Parse.interfaceName)
    var name: String

    func run() throws {
        let host = try global.openHost()
        try host.deleteTAP(name)
        print("deleted TAP \(name)")
    }
}
