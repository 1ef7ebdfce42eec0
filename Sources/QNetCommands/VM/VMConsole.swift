import ArgumentParser
import Glibc
import QNetSystem
import VirtualMachines

/// `qnet vm console NAME`: print (or follow) the serial console log.
struct VMConsole: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "console", abstract: "Print a VM's serial console log; --follow keeps printing until the VM exits.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The VM.")
    var name: String

    @Flag(name: .shortAndLong, help: "Keep printing new output until the VM exits (like tail -f).")
    var follow = false

    func run() throws {
        let manager = VMFactory.manager(host: try global.openHost(), global: global)
        let vm = try manager.status(name)
        var offset = 0
        while true {
            if let bytes = VMStore.readFile(vm.consoleLog), bytes.count > offset {
                writeStandardOutput(Array(bytes[offset...]))
                offset = bytes.count
            }
            guard follow, (try? manager.status(name)) != nil else { return }
            usleep(200_000)  // follow mode: poll the log until the VM is gone (like tail -f)
        }
    }
}
