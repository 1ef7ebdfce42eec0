import QNetSystem

/// The host's PCI functions: listing them (`lspci -Dnnk`, plus IOMMU groups and SR-IOV),
/// handing them to vfio-pci and back, and setting the number of SR-IOV VFs. Everything
/// goes through sysfs under ``sysfs`` (no netlink); what uses an interface is asked of
/// ``hostUse`` (HostNetwork by default, see `HostUseReader`).
///
/// Changing commands need root (CAP_SYS_ADMIN for sysfs writes, CAP_SYS_MODULE for
/// `modprobe vfio-pci`). Not Sendable: one thread.
public final class PCIHost {
    /// The driver VFIO device assignment uses.
    public static let vfioDriver = "vfio-pci"
    /// Drivers that leave a group viable for VFIO (pci-stub claims without using the device).
    static let groupSafeDrivers: Set<String> = [vfioDriver, "pci-stub"]

    public let sysfs: PCISysfs
    /// Where `bind` remembers each function's previous driver for `release`
    /// (`/run/qnet/pci`: bindings do not survive a reboot either).
    public let stateDirectory: String
    /// What uses an interface of the host (addresses, routes, a bridge); see `HostUseReader`.
    public var hostUse: HostUseReader
    /// A VM (or other process) using a function, or nil: asked before `release` and before
    /// VFs are removed. Defaults to processes holding /dev/vfio/GROUP open (QEMU does for
    /// its whole life); the VM layer can add its own records.
    public var userOfFunction: (PCIFunction) -> String?
    /// Loads vfio-pci when its driver directory is missing (`modprobe vfio-pci`); returns
    /// why it could not.
    public var loadVFIO: () -> String?
    /// How long to wait for the kernel to bind a driver after a probe.
    public var bindTimeout: Duration = .seconds(5)
    private var cachedNames: PCIIDs?

    public init(sysfs: PCISysfs = .host, stateDirectory: String, hostUse: HostUseReader = .none) {
        self.sysfs = sysfs
        self.stateDirectory = stateDirectory
        self.hostUse = hostUse
        loadVFIO = { PCIHost.modprobe("vfio-pci") }
        let procfs = sysfs.proc, devfs = sysfs.dev
        userOfFunction = { function in
            guard let group = function.iommuGroup else { return nil }
            return VFIOGroupHolders.describe(group: group, proc: procfs, dev: devfs)
        }
    }

    /// `modprobe NAME` through Subprocess; nil when it worked, else its last error line.
    static func modprobe(_ name: String) -> String? {
        guard let modprobe = Subprocess.which("modprobe", searchPath: "/usr/sbin:/sbin:/usr/bin:/bin") else {
            return "modprobe is not installed"
        }
        do {
            let result = try Subprocess.run(Command(modprobe, [name]), timeout: .seconds(30))
            return result.succeeded ? nil : "`modprobe \(name)` failed: \(result.lastErrorLine)"
        } catch {
            return "`modprobe \(name)` could not run: \(error)"
        }
    }

    var names: PCIIDs {
        if let cachedNames { return cachedNames }
        let loaded = PCIIDs.load(sysfs.pciIDs)
        cachedNames = loaded
        return loaded
    }

    // MARK: - Enumeration

    /// Every PCI function, sorted by address (`lspci -D`). Equivalent to `lspci -Dnnk` plus
    /// `/sys/kernel/iommu_groups` and `sriov_*`. Needs no capability.
    public func functions() -> [PCIFunction] {
        sysfs.list(sysfs.devices).compactMap(PCIAddress.init).sorted().compactMap(function)
    }

    /// One function, or nil when there is none at `address`.
    public func function(_ address: PCIAddress) -> PCIFunction? {
        let path = sysfs.device(address)
        guard sysfs.exists(path) else { return nil }
        let classCode = UInt32(sysfs.integer(path + "/class") ?? 0)
        let vendor = UInt16(truncatingIfNeeded: sysfs.integer(path + "/vendor") ?? 0xffff)
        let device = UInt16(truncatingIfNeeded: sysfs.integer(path + "/device") ?? 0xffff)
        var function = PCIFunction(address: address, classCode: classCode, vendorID: vendor, deviceID: device)
        function.vendorName = names.vendor(vendor)
        function.deviceName = names.device(vendor: vendor, device: device)
        function.className = names.className(classCode)
        function.driver = sysfs.linkName(path + "/driver")
        // Unset reads "(null)" (the kernel prints a NULL string so).
        if let override = sysfs.value(path + "/driver_override"), !override.isEmpty, override != "(null)" {
            function.driverOverride = override
        }
        // virtio-net's interface hangs off its virtio device: DEV/virtio0/net/eth0.
        function.interfaces = sysfs.list(path + "/net")
            + sysfs.list(path).filter { $0.hasPrefix("virtio") }.flatMap { sysfs.list(path + "/" + $0 + "/net") }
        if let node = sysfs.integer(path + "/numa_node"), node >= 0 { function.numaNode = node }
        if let group = sysfs.linkName(path + "/iommu_group").flatMap({ Int($0) }) {
            function.iommuGroup = group
            function.groupPeers = groupMembers(group).filter { $0 != address }
        }
        if let total = sysfs.integer(path + "/sriov_totalvfs") {
            let vfs = sysfs.list(path).compactMap { name -> VirtualFunction? in
                guard name.hasPrefix("virtfn"), let index = Int(name.dropFirst(6)),
                      let vf = sysfs.linkName(path + "/" + name).flatMap(PCIAddress.init) else { return nil }
                return VirtualFunction(index: index, address: vf)
            }.sorted { $0.index < $1.index }
            function.sriov = SRIOVState(totalVFs: total, numVFs: sysfs.integer(path + "/sriov_numvfs") ?? vfs.count,
                                        driversAutoprobe: sysfs.integer(path + "/sriov_drivers_autoprobe").map { $0 != 0 },
                                        virtualFunctions: vfs)
        }
        if let physical = sysfs.linkName(path + "/physfn").flatMap(PCIAddress.init) {
            function.physicalFunction = physical
            function.virtualFunctionIndex = sysfs.list(sysfs.device(physical)).first { name in
                name.hasPrefix("virtfn") && sysfs.linkName(sysfs.device(physical) + "/" + name) == address.description
            }.flatMap { Int($0.dropFirst(6)) }
        }
        return function
    }

    /// The function at `address`, or `PCIError.notFound`.
    public func existingFunction(_ address: PCIAddress) throws -> PCIFunction {
        guard let function = function(address) else { throw PCIError.notFound(address) }
        return function
    }

    /// The members of IOMMU group `group` (`ls /sys/kernel/iommu_groups/N/devices`).
    public func groupMembers(_ group: Int) -> [PCIAddress] {
        sysfs.list("\(sysfs.iommuGroups)/\(group)/devices").compactMap(PCIAddress.init).sorted()
    }

    /// The IOMMU groups the kernel made (empty: no IOMMU, or it is off).
    public func iommuGroups() -> [Int] {
        sysfs.list(sysfs.iommuGroups).compactMap { Int($0) }.sorted()
    }

    /// What the host uses `function`'s interfaces for (`eth0 has 192.168.1.10/24`,
    /// `eth0 carries the default route`, `eth0 is a port of bridge br0`); empty when nothing.
    public func hostUses(of function: PCIFunction) throws -> [String] {
        guard !function.interfaces.isEmpty else { return [] }
        return try hostUse.uses(function.interfaces)
    }
}
