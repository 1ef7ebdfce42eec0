import Foundation
import PCIDevices
import QNetSystem
import SystemPackage

/// A fixture sysfs tree (`ROOT/sys/bus/pci/...`, `ROOT/sys/kernel/iommu_groups/...`) and a
/// simulated kernel behind `PCISysfs.write`: it records every write in order and acts as
/// the kernel would on driver_override, unbind, bind, drivers_probe and sriov_numvfs,
/// so the driver links and VF links the library reads back change as on a real host.
/// One test at a time (not thread-safe).
public final class PCIFixture: @unchecked Sendable {
    public let root: String
    /// Writes as (path below ROOT/sys, value), in order.
    public private(set) var writes: [(path: String, value: String)] = []
    /// The driver a probe binds when driver_override is unset.
    public var defaultDriver: [String: String] = [:]
    /// Fails the write whose path ends with the key (errno), once per entry.
    public var failures: [String: Errno] = [:]
    /// Called before (`false`) and after (`true`) each write with its 1-based number.
    public var onWrite: ((Int, Bool) throws -> Void)?
    /// VF addresses a PF's sriov_numvfs write creates: index → address.
    public var virtualFunctionAddress: [String: (Int) -> PCIAddress] = [:]
    public var nextGroup = 100
    /// Drivers whose probe fails (vfio-pci on a device it cannot handle): nothing binds.
    public var probeRefuses: Set<String> = []

    public var sys: String { root + "/sys" }
    public var devices: String { sys + "/bus/pci/devices" }

    public init() throws {
        root = NSTemporaryDirectory() + "qnet-pci-\(getpid())-\(UUID().uuidString.prefix(8))"
        for directory in ["/sys/bus/pci/devices", "/sys/bus/pci/drivers", "/sys/kernel/iommu_groups", "/proc", "/dev/vfio", "/state", "/journal"] {
            try FileManager.default.createDirectory(atPath: root + directory, withIntermediateDirectories: true)
        }
        try "".write(toFile: sys + "/bus/pci/drivers_probe", atomically: false, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    public var sysfs: PCISysfs {
        var sysfs = PCISysfs(prefix: root)
        sysfs.write = { [weak self] path, value in
            guard let self else { throw Errno.noSuchFileOrDirectory }  // no cycle: the fixture's deinit removes its tree
            try self.kernelWrite(path, value)
        }
        return sysfs
    }

    public func host(hostUse: HostUseReader = .none) -> PCIHost {
        let host = PCIHost(sysfs: sysfs, stateDirectory: root + "/state", hostUse: hostUse)
        host.loadVFIO = { "modprobe is not available in the fixture" }
        host.bindTimeout = .milliseconds(50)
        return host
    }

    public var journal: Journal { Journal(directory: root + "/journal") }

    public func transaction(_ host: PCIHost) -> HostTransaction {
        HostTransaction(scope: PCIChange.scope.key, command: "qnet pci test", journal: journal, registry: host.recoveryRegistry)
    }

    // MARK: - Building

    public func addDriver(_ name: String) throws {
        let path = sys + "/bus/pci/drivers/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for file in ["bind", "unbind", "new_id"] { try "".write(toFile: path + "/" + file, atomically: false, encoding: .utf8) }
    }

    @discardableResult
    public func addFunction(_ address: String, classCode: String = "0x020000", vendor: String = "0x8086", device: String = "0x10d3",
                     driver: String? = nil, group: Int? = nil, interfaces: [String] = [], numaNode: Int = -1,
                     totalVFs: Int? = nil, physicalFunction: String? = nil) throws -> String {
        let path = devices + "/" + address
        let files = FileManager.default
        try files.createDirectory(atPath: path, withIntermediateDirectories: true)
        try "\(classCode)\n".write(toFile: path + "/class", atomically: false, encoding: .utf8)
        try "\(vendor)\n".write(toFile: path + "/vendor", atomically: false, encoding: .utf8)
        try "\(device)\n".write(toFile: path + "/device", atomically: false, encoding: .utf8)
        try "(null)\n".write(toFile: path + "/driver_override", atomically: false, encoding: .utf8)
        try "\(numaNode)\n".write(toFile: path + "/numa_node", atomically: false, encoding: .utf8)
        if let driver {
            try addDriverIfMissing(driver)
            try files.createSymbolicLink(atPath: path + "/driver", withDestinationPath: "../../drivers/" + driver)
            defaultDriver[address] = driver
        }
        if let group { try join(address, group: group) }
        if !interfaces.isEmpty {
            for name in interfaces { try files.createDirectory(atPath: path + "/net/" + name, withIntermediateDirectories: true) }
        }
        if let totalVFs {
            try "\(totalVFs)\n".write(toFile: path + "/sriov_totalvfs", atomically: false, encoding: .utf8)
            try "0\n".write(toFile: path + "/sriov_numvfs", atomically: false, encoding: .utf8)
            try "1\n".write(toFile: path + "/sriov_drivers_autoprobe", atomically: false, encoding: .utf8)
        }
        if let physicalFunction {
            try files.createSymbolicLink(atPath: path + "/physfn", withDestinationPath: "../" + physicalFunction)
        }
        return path
    }

    public func addDriverIfMissing(_ name: String) throws {
        if !FileManager.default.fileExists(atPath: sys + "/bus/pci/drivers/" + name) { try addDriver(name) }
    }

    public func join(_ address: String, group: Int) throws {
        let groupPath = sys + "/kernel/iommu_groups/\(group)/devices"
        try FileManager.default.createDirectory(atPath: groupPath, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: groupPath + "/" + address, withDestinationPath: "../../../../bus/pci/devices/" + address)
        try FileManager.default.createSymbolicLink(atPath: devices + "/" + address + "/iommu_group", withDestinationPath: "../../../../kernel/iommu_groups/\(group)")
    }

    // MARK: - Reading back (the witness: the tree itself)

    public func driver(_ address: String) -> String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: devices + "/" + address + "/driver"))?.split(separator: "/").last.map(String.init)
    }

    public func attribute(_ address: String, _ name: String) -> String {
        ((try? String(contentsOfFile: devices + "/" + address + "/" + name, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func override(_ address: String) -> String { attribute(address, "driver_override") }

    /// Every function's driver, override and VF count, and the remembered drivers: what a
    /// rollback must restore exactly.
    public func state() -> [String] {
        let addresses = ((try? FileManager.default.contentsOfDirectory(atPath: devices)) ?? []).sorted()
        let memory = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/state")) ?? []).sorted()
        return addresses.map { "\($0) driver=\(driver($0) ?? "-") override=\(override($0)) numvfs=\(attribute($0, "sriov_numvfs"))" }
            + memory.map { "memory \($0)" }
    }

    /// Writes as `path=value` with paths below ROOT/sys (newlines shown as \n).
    public var writeLog: [String] {
        writes.map { "\($0.path)=\($0.value.replacingOccurrences(of: "\n", with: "\\n"))" }
    }

    public func clearWrites() { writes = [] }

    // MARK: - The simulated kernel

    private func kernelWrite(_ path: String, _ value: String) throws {
        let relative = path.hasPrefix(sys) ? String(path.dropFirst(sys.count)) : path
        let number = writes.count + 1
        writes.append((relative, value))
        try onWrite?(number, false)
        if let key = failures.keys.first(where: { relative.hasSuffix($0) }), let errno = failures.removeValue(forKey: key) {
            throw SystemError(errno: errno, operation: "write '\(value)' to", path: path)
        }
        try apply(relative, value.trimmingCharacters(in: .whitespacesAndNewlines), path: path)
        try onWrite?(number, true)
    }

    private func apply(_ relative: String, _ value: String, path: String) throws {
        let files = FileManager.default
        let parts = relative.split(separator: "/").map(String.init)
        func fail(_ errno: Errno) -> SystemError { SystemError(errno: errno, operation: "write '\(value)' to", path: path) }
        if relative == "/bus/pci/drivers_probe" {
            guard files.fileExists(atPath: devices + "/" + value) else { throw fail(.operationNotSupportedByDevice) }
            try probe(value)
        } else if parts.count == 5, parts[2] == "drivers", parts[4] == "unbind" {
            guard driver(value) == parts[3] else { throw fail(.operationNotSupportedByDevice) }
            try files.removeItem(atPath: devices + "/" + value + "/driver")
        } else if parts.count == 5, parts[2] == "drivers", parts[4] == "bind" {
            guard driver(value) == nil else { throw fail(.resourceBusy) }
            guard !probeRefuses.contains(parts[3]) else { throw fail(.invalidArgument) }
            try bindDriver(parts[3], to: value)
        } else if parts.count == 5, parts[3] != "", parts[4] == "driver_override" {
            try (value.isEmpty ? "(null)\n" : value + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        } else if parts.count == 5, parts[4] == "sriov_numvfs" {
            try setVFs(parts[3], count: Int(value) ?? -1, path: path)
        } else {
            try value.write(toFile: path, atomically: false, encoding: .utf8)
        }
    }

    private func probe(_ address: String) throws {
        guard driver(address) == nil else { return }
        let override = override(address)
        let chosen = override == "(null)" ? defaultDriver[address] : override
        guard let chosen, FileManager.default.fileExists(atPath: sys + "/bus/pci/drivers/" + chosen) else { return }
        // vfio-pci's probe fails without an IOMMU group (the kernel logs it; no driver binds).
        if chosen == "vfio-pci" && !FileManager.default.fileExists(atPath: devices + "/" + address + "/iommu_group") { return }
        if probeRefuses.contains(chosen) { return }
        try bindDriver(chosen, to: address)
    }

    private func bindDriver(_ name: String, to address: String) throws {
        try FileManager.default.createSymbolicLink(atPath: devices + "/" + address + "/driver", withDestinationPath: "../../drivers/" + name)
    }

    private func setVFs(_ pf: String, count: Int, path: String) throws {
        let current = Int(attribute(pf, "sriov_numvfs")) ?? 0
        let total = Int(attribute(pf, "sriov_totalvfs")) ?? 0
        guard count >= 0, count <= total else { throw SystemError(errno: .invalidArgument, operation: "write to", path: path) }
        // The kernel's sriov_numvfs_store: a non-zero count only from 0.
        if current != 0 && count != 0 && count != current { throw SystemError(errno: .resourceBusy, operation: "write to", path: path) }
        let files = FileManager.default
        if count == 0 {
            for index in 0..<current {
                let link = devices + "/" + pf + "/virtfn\(index)"
                if let vf = try? files.destinationOfSymbolicLink(atPath: link).split(separator: "/").last.map(String.init) {
                    let group = groupOfVF(vf)
                    try? files.removeItem(atPath: devices + "/" + vf)
                    try? files.removeItem(atPath: sys + "/kernel/iommu_groups/" + group)
                    defaultDriver[vf] = nil
                }
                try? files.removeItem(atPath: link)
            }
        } else {
            guard let addressOf = virtualFunctionAddress[pf] else { throw SystemError(errno: .notSupported, operation: "write to", path: path) }
            for index in 0..<count {
                let vf = addressOf(index).description
                nextGroup += 1
                try addFunction(vf, classCode: attribute(pf, "class"), driver: nil, group: nextGroup, physicalFunction: pf)
                try files.createSymbolicLink(atPath: devices + "/" + pf + "/virtfn\(index)", withDestinationPath: "../" + vf)
                if let vfDriver = defaultDriver["vf-of-" + pf], attribute(pf, "sriov_drivers_autoprobe") == "1" {
                    defaultDriver[vf] = vfDriver
                    try probe(vf)
                } else if let vfDriver = defaultDriver["vf-of-" + pf] {
                    defaultDriver[vf] = vfDriver
                }
            }
        }
        try "\(count)\n".write(toFile: path, atomically: false, encoding: .utf8)
    }

    private func groupOfVF(_ vf: String) -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: devices + "/" + vf + "/iommu_group"))?.split(separator: "/").last.map(String.init) ?? "none"
    }
}
