import ArgumentParser
import VirtualMachines

/// `qnet vm kill NAME`: SIGKILL (`virsh destroy`).
struct VMKill: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", abstract: "Kill a VM's QEMU at once (SIGKILL); its TAPs vanish with it.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The VM.")
    var name: String

    func run() throws {
        let manager = VMFactory.manager(host: try global.openHost(), global: global)
        try manager.kill(name)
        print("VM \(name) killed")
    }
}
