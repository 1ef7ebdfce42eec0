import QNetSystem

/// Why a PCI operation was refused or failed: one line naming the function and what to do.
public enum PCIError: Error, Equatable, Sendable, CustomStringConvertible, UserFacingError {
    /// No `/sys/bus/pci/devices/ADDR`.
    case notFound(PCIAddress)
    /// The function has no `iommu_group`: the IOMMU is off or absent.
    case noIOMMUGroup(PCIAddress)
    /// Other functions of the group still have a host driver (VFIO takes whole groups).
    case groupShared(PCIAddress, group: Int, peers: [String])
    /// The host uses the function's interfaces (addresses, routes, a bridge).
    case inUseByHost(PCIAddress, uses: [String])
    /// A process holds the function's VFIO group open, or a VM uses it.
    case inUseByVM(PCIAddress, user: String)
    /// vfio-pci is neither loaded nor loadable.
    case vfioUnavailable(reason: String)
    /// The kernel did not bind the expected driver after probing.
    case bindFailed(PCIAddress, driver: String, found: String?)
    /// `sriov_totalvfs` is missing: not an SR-IOV physical function.
    case notSRIOV(PCIAddress)
    /// More VFs than the function offers (bad input).
    case tooManyVFs(PCIAddress, requested: Int, total: Int)
    /// A VF that would disappear is still in use.
    case virtualFunctionBusy(PCIAddress, vf: VirtualFunction, reason: String)
    /// A physical function with VFs: unbinding its driver would remove them.
    case hasVirtualFunctions(PCIAddress, count: Int, driver: String)
    /// The kernel refused a write (with its errno), named by step.
    case kernel(step: String, SystemError)

    public var isUsageError: Bool {
        if case .tooManyVFs = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case let .notFound(address):
            "no PCI function \(address): not in /sys/bus/pci/devices (see `qnet pci list --all`)"
        case let .noIOMMUGroup(address):
            "\(address) has no IOMMU group: the IOMMU is off or absent, and vfio-pci needs it; enable VT-d/AMD-Vi in the firmware "
                + "and boot with intel_iommu=on (Intel) or amd_iommu=on (AMD) (see `qnet doctor --passthrough`)"
        case let .groupShared(address, group, peers):
            "\(address) shares IOMMU group \(group) with \(peers.joined(separator: ", ")): VFIO assigns whole groups; "
                + "bind them all with --group, or move the card to a slot with a group of its own"
        case let .inUseByHost(address, uses):
            "\(address) is in use by the host: \(uses.joined(separator: "; ")); free it first (or --force, and lose that connectivity)"
        case let .inUseByVM(address, user):
            "\(address) is in use by \(user); stop it first"
        case let .vfioUnavailable(reason):
            "vfio-pci is not available: \(reason); install a kernel with CONFIG_VFIO_PCI (`modprobe vfio-pci`)"
        case let .bindFailed(address, driver, found):
            "\(driver) did not take \(address) (its driver is now \(found ?? "none")); see `dmesg | tail` (no IOMMU, or a device \(driver) refuses)"
        case let .notSRIOV(address):
            "\(address) is not an SR-IOV physical function (no sriov_totalvfs); see `qnet pci list --all` for the SR-IOV column"
        case let .tooManyVFs(address, requested, total):
            "invalid VF count \(requested): \(address) offers 0 to \(total) (sriov_totalvfs)"
        case let .virtualFunctionBusy(address, vf, reason):
            "cannot change the VF count of \(address): VF \(vf.index) (\(vf.address)) \(reason)"
        case let .hasVirtualFunctions(address, count, driver):
            "\(address) has \(count) SR-IOV VF\(count == 1 ? "" : "s"); unbinding it from \(driver) removes them: "
                + "assign a VF instead, or remove them first (`qnet pci vfs \(address) --count 0`)"
        case let .kernel(step, error):
            "\(step): \(error)"
        }
    }
}
