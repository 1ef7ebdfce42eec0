import ArgumentParser
import VirtualMachines

/// `qnet vm status NAME`: `virsh dominfo`.
struct VMStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show one VM's state.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The VM.")
    var name: String

    @Flag(help: "Print JSON (schema version 1: the fields of one `vm list --json` entry).")
    var json = false

    func run() throws {
        let manager = VMFactory.manager(host: try global.openHost(), global: global)
        let vm = try manager.status(name)
        if json { print(try Output.json(VersionedReport(report: vm))); return }
        print("name:    \(vm.name)")
        print("pid:     \(vm.pid)")
        print("state:   \(vm.runState)")
        print("accel:   \(vm.accel.rawValue)")
        print("user:    \(vm.user)")
        print("uptime:  \(formatted(vm.uptimeSeconds.rounded())) s")
        print("console: \(vm.consoleLog)")
        for nic in vm.nics { print("nic:     \(NICFormatting.long(nic))") }
    }
}
