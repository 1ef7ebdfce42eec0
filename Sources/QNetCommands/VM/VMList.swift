import ArgumentParser
import VirtualMachines

/// `qnet vm list`: `virsh list`.
struct VMList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List running VMs with their run state (QMP query-status) and NICs; cleans state of dead ones.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print JSON (schema in the README).")
    var json = false

    func run() throws {
        let manager = VMFactory.manager(host: try global.openHost(), global: global)
        let vms = try manager.list()
        if json {
            print(try Output.json(VMListReport(vms: vms)))
            return
        }
        if vms.isEmpty { print("no VMs running"); return }
        let rows = vms.map { vm in
            [vm.name, String(vm.pid), vm.runState, vm.accel.rawValue,
             vm.nics.map { "\($0.tap)@\($0.bridge) \($0.mac)" }.joined(separator: ", ")]
        }
        print(Table.render(header: ["name", "pid", "state", "accel", "nics"], rows: rows), terminator: "")
    }
}

struct VMListReport: Encodable {
    var schemaVersion = 1
    var vms: [VMStatus]
}
