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
             vm.nics.map(NICFormatting.short).joined(separator: ", ")]
        }
        print(Table.render(header: ["name", "pid", "state", "accel", "nics"], rows: rows), terminator: "")
    }
}

struct VMListReport: Encodable {
    var schemaVersion = 1
    var vms: [VMStatus]
}

enum NICFormatting {
    /// `vnet0@br0 52:54:00:..` for TAP NICs, `user(passt) tcp::8080-:80 52:54:00:..` for user mode,
    /// `vfio(0000:03:00.0)` / `vfio(vf enp3s0f0:2 0000:03:10.4) 52:54:00:..` for passthrough.
    static func short(_ nic: NICState) -> String {
        if nic.backend == "tap" { return "\(nic.tap)@\(nic.bridge) \(nic.mac)" }
        if nic.backend == "vfio" { return "vfio(\(nic.vf.map { "vf \($0) " } ?? "")\(nic.pci ?? "?"))" + (nic.mac.isEmpty ? "" : " \(nic.mac)") }
        return (["user(\(nic.backend))"] + nic.forwards + [nic.mac]).joined(separator: " ")
    }

    static func long(_ nic: NICState) -> String {
        if nic.backend == "vfio" {
            let what = nic.vf.map { "VF \($0) (\(nic.pci ?? "?"))" } ?? "PCI function \(nic.pci ?? "?")"
            return "passthrough \(what) on vfio-pci" + (nic.mac.isEmpty ? ", its own MAC" : ", mac \(nic.mac)") + (nic.vlan.map { ", vlan \($0)" } ?? "")
        }
        if nic.backend == "tap" {
            return "\(nic.tap) on \(nic.bridge)\(nic.network.map { " (network \($0))" } ?? ""), mac \(nic.mac), \(nic.model.rawValue), \(nic.queues) queue(s)"
        }
        return "user mode (\(nic.backend))\(nic.forwards.isEmpty ? "" : ", forwards " + nic.forwards.joined(separator: " ")), mac \(nic.mac), \(nic.model.rawValue)"
    }
}
