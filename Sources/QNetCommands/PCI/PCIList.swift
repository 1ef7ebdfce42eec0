import ArgumentParser
import HostNetwork
import PCIDevices

/// `qnet pci list`: `lspci -Dnnk` for network functions, with IOMMU groups, SR-IOV and
/// what the host uses each interface for.
struct PCIList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List network PCI functions: driver, interface, host use, NUMA node, IOMMU group, SR-IOV (lspci -Dnnk).",
        discussion: "--all lists every PCI function (bind, release and vfs work on any of them).")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "List every PCI function, not only network controllers.")
    var all = false

    @Flag(help: "Print JSON (schema in the README).")
    var json = false

    func run() throws {
        let pci = try PCIAccess.host(global, readingHostUse: false)
        var reader: HostUseReader?
        do { reader = .rtnetlink(try global.openHost()) } catch {
            Output.printError("warning: cannot read the host's addresses and routes (\(error)); host use is not shown")
        }
        let functions = pci.functions().filter { all || $0.isNetwork || $0.physicalFunction.map { pf in pci.function(pf)?.isNetwork == true } == true }
        // A PF's VF settings (MAC, VLAN, rates, ...) are the kernel's, read over rtnetlink with
        // RTEXT_FILTER_VF from its interface; only for PFs with VFs enabled.
        let network = try? global.openHost()
        var vfLines: [String] = []
        let reports = functions.map { function in
            // One rtnetlink round per function that has interfaces, none for the rest.
            var report = PCIFunctionReport(function, hostUses: function.interfaces.isEmpty ? (reader == nil ? nil : [])
                                  : reader.flatMap { try? $0.uses(function.interfaces) })
            if let state = function.sriov, state.numVFs > 0, function.interfaces.count == 1, let network,
               let (_, list) = try? network.virtualFunctions(of: function.interfaces[0]) {
                report.sriov?.attach(list)
                vfLines += list.functions.map { "\(function.address) (\(function.interfaces[0])) \($0.summary)" }
            }
            return report
        }
        if json {
            print(try Output.json(PCIListReport(iommuGroups: pci.iommuGroups().count, functions: reports)))
            return
        }
        if reports.isEmpty {
            print(all ? "no PCI functions" : "no network PCI functions (--all lists every function)")
            return
        }
        let header = ["address", "id", "name", "driver", "interface", "host use", "numa", "iommu group", "sr-iov"]
        let rows = reports.map { report -> [String] in
            let group = report.iommuGroup.map { group in
                String(group) + (report.groupPeers.isEmpty ? "" : " (+" + report.groupPeers.joined(separator: ",") + ")")
            } ?? "-"
            var sriov = "-"
            if let state = report.sriov { sriov = "\(state.numVFs)/\(state.totalVFs) VFs" }
            if let pf = report.physicalFunction { sriov = "VF \(report.vfIndex.map(String.init) ?? "?") of \(pf)" }
            let uses = report.hostUses.map { $0.isEmpty ? "no" : "yes" } ?? "?"
            return [report.address, report.vendorDevice, report.name, report.driver ?? "-",
                    report.interfaces.isEmpty ? "-" : report.interfaces.joined(separator: ","), uses,
                    report.numaNode.map(String.init) ?? "-", group, sriov]
        }
        print(Table.render(header: header, rows: rows), terminator: "")
        for report in reports {
            if let uses = report.hostUses, !uses.isEmpty { print("\(report.address): \(uses.joined(separator: "; "))") }
        }
        for line in vfLines { print(line) }
        if pci.iommuGroups().isEmpty {
            Output.printError("note: no IOMMU groups: the IOMMU is off or absent, so nothing can be bound to vfio-pci (see `qnet doctor --passthrough`)")
        }
    }
}

/// `qnet pci list --json` (schema version 1).
struct PCIListReport: Encodable {
    var schemaVersion = 1
    /// How many IOMMU groups the kernel made (0: no IOMMU, nothing can be assigned).
    var iommuGroups: Int
    var functions: [PCIFunctionReport]
}

/// One function in `qnet pci list --json`.
struct PCIFunctionReport: Encodable {
    var address: String
    /// `0x020000`.
    var classCode: String
    @NullWhenAbsent var className: String?
    /// `8086:10d3`.
    var vendorDevice: String
    @NullWhenAbsent var vendor: String?
    @NullWhenAbsent var device: String?
    /// Vendor and device names, or the IDs.
    var name: String
    @NullWhenAbsent var driver: String?
    @NullWhenAbsent var driverOverride: String?
    var interfaces: [String]
    /// What the host uses the interfaces for; null when it could not be read.
    @NullWhenAbsent var hostUses: [String]?
    @NullWhenAbsent var numaNode: Int?
    @NullWhenAbsent var iommuGroup: Int?
    var groupPeers: [String]
    @NullWhenAbsent var sriov: SRIOVReport?
    @NullWhenAbsent var physicalFunction: String?
    @NullWhenAbsent var vfIndex: Int?

    init(_ function: PCIFunction, hostUses: [String]?) {
        address = function.address.description
        classCode = "0x" + String(function.classCode, radix: 16).leftPadded(to: 6)
        className = function.className
        vendorDevice = function.vendorDevice
        vendor = function.vendorName
        device = function.deviceName
        name = function.displayName
        driver = function.driver
        driverOverride = function.driverOverride
        interfaces = function.interfaces
        self.hostUses = hostUses
        numaNode = function.numaNode
        iommuGroup = function.iommuGroup
        groupPeers = function.groupPeers.map(\.description)
        sriov = function.sriov.map(SRIOVReport.init)
        physicalFunction = function.physicalFunction?.description
        vfIndex = function.virtualFunctionIndex
    }
}

struct SRIOVReport: Encodable {
    var totalVFs: Int
    var numVFs: Int
    @NullWhenAbsent var driversAutoprobe: Bool?
    var vfs: [VFReport]

    init(_ state: SRIOVState) {
        totalVFs = state.totalVFs
        numVFs = state.numVFs
        driversAutoprobe = state.driversAutoprobe
        vfs = state.virtualFunctions.map { VFReport(index: $0.index, address: $0.address.description) }
    }

    /// Adds each VF's settings from the PF's rtnetlink report, matched by index.
    mutating func attach(_ list: VirtualFunctionList) {
        for slot in vfs.indices {
            if let settings = list.functions.first(where: { $0.index == UInt32(vfs[slot].index) }) { vfs[slot].settings = VFSettingsReport(settings) }
        }
    }
}

/// One VF of a physical function (`virtfnN`).
struct VFReport: Encodable {
    var index: Int
    var address: String
    /// The VF's settings as its PF's driver reports them over rtnetlink; absent when it does not.
    var settings: VFSettingsReport? = nil
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
