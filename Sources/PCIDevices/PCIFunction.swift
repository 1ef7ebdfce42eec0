/// One PCI function as sysfs shows it (`lspci -Dnnk -s ADDR` plus the IOMMU group and
/// SR-IOV state): what it is, who drives it, and what binding it to vfio-pci would take.
public struct PCIFunction: Sendable, Equatable {
    public var address: PCIAddress
    /// The 24-bit class code: base class, subclass, programming interface (`0x020000`:
    /// Ethernet controller).
    public var classCode: UInt32
    public var vendorID: UInt16
    public var deviceID: UInt16
    /// From pci.ids (nil when the file or the entry is missing).
    public var vendorName: String?
    public var deviceName: String?
    /// pci.ids' subclass name, else the PCI specification's base class name.
    public var className: String?
    /// The bound driver (the `driver` link's name), nil when none is.
    public var driver: String?
    /// `driver_override`: the only driver the kernel will bind (nil when unset, `(null)`).
    public var driverOverride: String?
    /// Network interfaces the function has in this network namespace (`net/`).
    public var interfaces: [String]
    /// `numa_node`; nil when the host has one node (-1).
    public var numaNode: Int?
    /// `iommu_group`'s number; nil when the IOMMU is off or absent.
    public var iommuGroup: Int?
    /// The other functions in the same IOMMU group (VFIO takes a whole group).
    public var groupPeers: [PCIAddress]
    /// Present when the function is an SR-IOV physical function (`sriov_totalvfs`).
    public var sriov: SRIOVState?
    /// For a virtual function: its physical function (`physfn`) and its index there.
    public var physicalFunction: PCIAddress?
    public var virtualFunctionIndex: Int?

    public init(address: PCIAddress, classCode: UInt32, vendorID: UInt16, deviceID: UInt16, vendorName: String? = nil,
                deviceName: String? = nil, className: String? = nil, driver: String? = nil, driverOverride: String? = nil,
                interfaces: [String] = [], numaNode: Int? = nil, iommuGroup: Int? = nil, groupPeers: [PCIAddress] = [],
                sriov: SRIOVState? = nil, physicalFunction: PCIAddress? = nil, virtualFunctionIndex: Int? = nil) {
        self.address = address
        self.classCode = classCode
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.vendorName = vendorName
        self.deviceName = deviceName
        self.className = className
        self.driver = driver
        self.driverOverride = driverOverride
        self.interfaces = interfaces
        self.numaNode = numaNode
        self.iommuGroup = iommuGroup
        self.groupPeers = groupPeers
        self.sriov = sriov
        self.physicalFunction = physicalFunction
        self.virtualFunctionIndex = virtualFunctionIndex
    }

    /// Base class 0x02: Ethernet, Token Ring, ..., "Network controller".
    public var isNetwork: Bool { classCode >> 16 == 0x02 }
    /// A PCI-to-PCI bridge (root ports, switch ports): VFIO lets these stay with their
    /// driver (pcieport) while the rest of the group is bound.
    public var isBridge: Bool { classCode >> 8 == 0x0604 }
    public var isBoundToVFIO: Bool { driver == PCIHost.vfioDriver }
    public var isVirtualFunction: Bool { physicalFunction != nil }

    /// `8086:10d3`, as `lspci -n` prints it.
    public var vendorDevice: String { hex(UInt32(vendorID), width: 4) + ":" + hex(UInt32(deviceID), width: 4) }

    /// `Intel Corporation 82574L Gigabit Network Connection`, or the IDs when pci.ids is missing.
    public var displayName: String {
        switch (vendorName, deviceName) {
        case let (vendor?, device?): "\(vendor) \(device)"
        case let (vendor?, nil): "\(vendor) device \(hex(UInt32(deviceID), width: 4))"
        default: "device \(vendorDevice)"
        }
    }

    /// `0000:01:00.0 (eth0)`: the address with its interfaces, for messages.
    public var label: String {
        interfaces.isEmpty ? address.description : "\(address) (\(interfaces.joined(separator: ", ")))"
    }
}

/// A physical function's SR-IOV state (`sriov_totalvfs`, `sriov_numvfs`, `virtfnN`).
public struct SRIOVState: Sendable, Equatable {
    public var totalVFs: Int
    public var numVFs: Int
    /// `sriov_drivers_autoprobe`: whether new VFs get a host driver at once.
    public var driversAutoprobe: Bool?
    public var virtualFunctions: [VirtualFunction]

    public init(totalVFs: Int, numVFs: Int, driversAutoprobe: Bool? = nil, virtualFunctions: [VirtualFunction] = []) {
        self.totalVFs = totalVFs
        self.numVFs = numVFs
        self.driversAutoprobe = driversAutoprobe
        self.virtualFunctions = virtualFunctions
    }
}

/// One VF of a physical function: its index (`virtfnN`) and address.
public struct VirtualFunction: Sendable, Equatable {
    public var index: Int
    public var address: PCIAddress

    public init(index: Int, address: PCIAddress) {
        self.index = index
        self.address = address
    }
}
