import FoundationEssentials
import Glibc
import QNetSystem

/// Undo record of `bind` and `release`: puts one function back on `driver` (nil: no
/// driver) with `driverOverride`, and puts back `bind`'s memory of its previous driver.
/// Acting on it accepts any state between "nothing done" and "done": it only writes what
/// differs.
public struct PCIDriverRecord: JournalRecord, Equatable {
    public static let kind = "pci-driver"
    public var address: PCIAddress
    public var driver: String?
    public var driverOverride: String?
    public var memory: PCIBindingMemory?

    public init(address: PCIAddress, driver: String?, driverOverride: String?, memory: PCIBindingMemory?) {
        self.address = address
        self.driver = driver
        self.driverOverride = driverOverride
        self.memory = memory
    }
}

/// What `bind` remembers about a function for `release` (`/run/qnet/pci/ADDR.json`): the
/// driver and driver_override it had.
public struct PCIBindingMemory: Codable, Sendable, Equatable {
    public var previousDriver: String?
    public var previousOverride: String?

    public init(previousDriver: String?, previousOverride: String?) {
        self.previousDriver = previousDriver
        self.previousOverride = previousOverride
    }
}

/// What `bind` did.
public struct PCIBindOutcome: Sendable, Equatable {
    /// Each function now on vfio-pci, with the driver it had (nil: none).
    public var bound: [(address: PCIAddress, previousDriver: String?)]
    /// Functions of the request that were on vfio-pci already.
    public var alreadyBound: [PCIAddress]
    /// Uses of the host that `force` overrode (empty without --force).
    public var overriddenUses: [String]
    /// The VFIO group and its character device (`/dev/vfio/12`), for QEMU.
    public var group: Int?

    public static func == (lhs: PCIBindOutcome, rhs: PCIBindOutcome) -> Bool {
        lhs.bound.map(\.address) == rhs.bound.map(\.address) && lhs.bound.map(\.previousDriver) == rhs.bound.map(\.previousDriver)
            && lhs.alreadyBound == rhs.alreadyBound && lhs.overriddenUses == rhs.overriddenUses && lhs.group == rhs.group
    }
}

/// What `release` did.
public struct PCIReleaseOutcome: Sendable, Equatable {
    /// Each function released, with the driver it has now (nil: none took it).
    public var released: [(address: PCIAddress, driver: String?)]
    /// Functions of the request that were not on vfio-pci (nothing to do).
    public var notBound: [PCIAddress]

    public static func == (lhs: PCIReleaseOutcome, rhs: PCIReleaseOutcome) -> Bool {
        lhs.released.map(\.address) == rhs.released.map(\.address) && lhs.released.map(\.driver) == rhs.released.map(\.driver)
            && lhs.notBound == rhs.notBound
    }
}

extension PCIHost {
    /// Hands `address` to vfio-pci for device assignment: for each function, driver_override
    /// is set to vfio-pci, the function is unbound from its driver (which is remembered for
    /// `release`) and the kernel re-probes it. Equivalent to
    /// `echo vfio-pci > /sys/bus/pci/devices/ADDR/driver_override;
    ///  echo ADDR > /sys/bus/pci/devices/ADDR/driver/unbind; echo ADDR > /sys/bus/pci/drivers_probe`
    /// (libvirt's `virsh nodedev-detach`, driverctl's `set-override`).
    ///
    /// VFIO assigns whole IOMMU groups: other functions of the group that still have a host
    /// driver are bound too with `wholeGroup`, else refused with their names (bridges and
    /// functions without a driver or on pci-stub leave a group usable). A function whose
    /// interface the host uses (addresses, routes, a bridge port) is refused unless `force`,
    /// and a physical function with VFs always (its driver's unbind removes them).
    /// Loads vfio-pci when needed. Every change is recorded in `transaction` first, so an
    /// error, a signal or a kill -9 puts each function back on its driver.
    /// Needs root (sysfs writes, modprobe).
    @discardableResult
    public func bind(_ address: PCIAddress, wholeGroup: Bool = false, force: Bool = false,
                     in transaction: HostTransaction) throws -> PCIBindOutcome {
        let function = try existingFunction(address)
        guard let group = function.iommuGroup else { throw PCIError.noIOMMUGroup(address) }
        var outcome = PCIBindOutcome(bound: [], alreadyBound: [], overriddenUses: [], group: group)
        let peers = function.groupPeers.compactMap(self.function)
        let driven = peers.filter { !$0.isBridge && $0.driver.map { !Self.groupSafeDrivers.contains($0) } ?? false }
        if !driven.isEmpty && !wholeGroup {
            throw PCIError.groupShared(address, group: group, peers: driven.map { "\($0.label) [\($0.driver ?? "no driver")]" })
        }
        let targets = [function] + (wholeGroup ? driven : [])
        for target in targets {
            if let sriov = target.sriov, sriov.numVFs > 0, let driver = target.driver, driver != Self.vfioDriver {
                throw PCIError.hasVirtualFunctions(target.address, count: sriov.numVFs, driver: driver)
            }
        }
        let uses = try targets.flatMap { try hostUses(of: $0) }
        if !uses.isEmpty {
            guard force else { throw PCIError.inUseByHost(address, uses: uses) }
            outcome.overriddenUses = uses
        }
        try ensureVFIODriver()
        for target in targets {
            // On vfio-pci already (by qnet, or by another tool such as driverctl): left as it is,
            // so no memory of "vfio-pci" as its previous driver is made.
            if target.isBoundToVFIO {
                outcome.alreadyBound.append(target.address)
                continue
            }
            try transaction.record(undo: PCIDriverRecord(address: target.address, driver: target.driver,
                                                         driverOverride: target.driverOverride, memory: memory(of: target.address)))
            try transaction.step("bind \(target.address) to \(Self.vfioDriver)")
            let previous = try moveToDriver(target, driver: Self.vfioDriver, override: Self.vfioDriver)
            guard previous == Self.vfioDriver else {
                throw PCIError.bindFailed(target.address, driver: Self.vfioDriver, found: previous)
            }
            // The memory keeps the first driver across a second bind (of a peer's group).
            let remembered = memory(of: target.address)
                ?? PCIBindingMemory(previousDriver: target.driver, previousOverride: target.driverOverride)
            try remember(remembered, for: target.address)
            outcome.bound.append((target.address, remembered.previousDriver))
        }
        return outcome
    }

    /// Gives `address` back to the driver it had before `bind` (driver_override put back,
    /// unbound from vfio-pci, re-probed; then bound to that driver by name if the probe
    /// chose another). Without a memory of it (bound by another tool), the kernel's probe
    /// picks the driver. With `wholeGroup`, every function of its group on vfio-pci.
    /// Refused while a process (QEMU) holds the group open: unbinding would block until it
    /// lets go. Equivalent to `echo > driver_override; echo ADDR > drivers/vfio-pci/unbind;
    /// echo ADDR > drivers_probe` (`virsh nodedev-reattach`). Needs root.
    @discardableResult
    public func release(_ address: PCIAddress, wholeGroup: Bool = false, in transaction: HostTransaction) throws -> PCIReleaseOutcome {
        let function = try existingFunction(address)
        var targets = [function]
        if wholeGroup { targets += function.groupPeers.compactMap(self.function).filter(\.isBoundToVFIO) }
        var outcome = PCIReleaseOutcome(released: [], notBound: [])
        for target in targets {
            guard target.isBoundToVFIO || target.driverOverride == Self.vfioDriver else {
                outcome.notBound.append(target.address)
                continue
            }
            if let user = userOfFunction(target) { throw PCIError.inUseByVM(target.address, user: user) }
            let remembered = memory(of: target.address)
            try transaction.record(undo: PCIDriverRecord(address: target.address, driver: target.driver,
                                                         driverOverride: target.driverOverride, memory: remembered))
            try transaction.step("release \(target.address) from \(Self.vfioDriver)")
            let now = try moveToDriver(target, driver: remembered?.previousDriver, override: remembered?.previousOverride,
                                       probeWithoutDriver: remembered == nil)
            try forget(target.address)
            outcome.released.append((target.address, now))
        }
        return outcome
    }

    /// Moves `function` from its driver to `driver` (nil: none) with `override` as its
    /// driver_override, writing only what differs; returns the driver it has afterwards.
    /// The writes, in order: driver_override, the old driver's `unbind`, `drivers_probe`,
    /// and the new driver's `bind` when the probe chose another one.
    /// `probeWithoutDriver`: probe even when `driver` is nil (let the kernel choose).
    @discardableResult
    func moveToDriver(_ function: PCIFunction, driver: String?, override: String?, probeWithoutDriver: Bool = false) throws -> String? {
        let address = function.address
        let device = sysfs.device(address)
        if function.driverOverride != override {
            // An empty write (a lone newline) clears driver_override.
            try write(device + "/driver_override", override ?? "\n", step: "set driver_override of \(address)")
        }
        let current = sysfs.linkName(device + "/driver")
        if current == driver { return current }
        if let current {
            try write(sysfs.driver(current) + "/unbind", address.description, step: "unbind \(address) from \(current)")
        }
        guard driver != nil || probeWithoutDriver else { return nil }
        try write(sysfs.driversProbe, address.description, step: "probe drivers for \(address)")
        var now = waitForDriver(address, driver)
        if let driver, now != driver, now == nil, sysfs.exists(sysfs.driver(driver) + "/bind") {
            // The probe chose nothing (the driver was loaded after the device, or
            // sriov_drivers_autoprobe is 0 for a VF): bind by name.
            try? write(sysfs.driver(driver) + "/bind", address.description, step: "bind \(address) to \(driver)")
            now = waitForDriver(address, driver)
        }
        return now
    }

    /// Polls the `driver` link until it names `expected` or ``bindTimeout`` passes (probing
    /// is usually synchronous, but drivers with asynchronous probe finish later); returns
    /// the driver found last.
    func waitForDriver(_ address: PCIAddress, _ expected: String?) -> String? {
        let path = sysfs.device(address) + "/driver"
        let deadline = Deadline.after(bindTimeout)
        while true {
            let now = sysfs.linkName(path)
            if now == expected || expected == nil || deadline.hasPassed { return now }
            usleep(2_000)  // poll interval; bounded by bindTimeout
        }
    }

    func write(_ path: String, _ value: String, step: String) throws {
        do {
            try sysfs.write(path, value)
        } catch let error as SystemError {
            throw PCIError.kernel(step: step, error)
        }
    }

    /// Makes sure /sys/bus/pci/drivers/vfio-pci exists, loading the module when it does not.
    func ensureVFIODriver() throws {
        if sysfs.exists(sysfs.driver(Self.vfioDriver)) { return }
        let failure = loadVFIO()
        guard sysfs.exists(sysfs.driver(Self.vfioDriver)) else {
            throw PCIError.vfioUnavailable(reason: failure ?? "modprobe vfio-pci succeeded but \(sysfs.driver(Self.vfioDriver)) did not appear")
        }
    }

    // MARK: - Memory of previous drivers

    func memoryPath(_ address: PCIAddress) -> String { "\(stateDirectory)/\(address).json" }

    // The memory is state (what `release` writes back into sysfs comes from it): reached
    // through checked directory descriptors (`DirectoryDescriptor.openState`), and a file
    // there that is not qnet's (a symlink, another user's) is never read, written through
    // or removed.

    /// What `bind` remembered about `address`, or nil.
    public func memory(of address: PCIAddress) -> PCIBindingMemory? {
        guard let bytes = try? DirectoryDescriptor.openState(stateDirectory, create: false)?
                  .readStateFile("\(address).json", kind: "PCI binding record") else { return nil }
        return try? JSONDecoder().decode(PCIBindingMemory.self, from: Data(bytes))
    }

    func remember(_ memory: PCIBindingMemory, for address: PCIAddress) throws {
        guard let directory = try DirectoryDescriptor.openState(stateDirectory, mode: 0o755) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open", path: stateDirectory)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try directory.writeStateFile("\(address).json", Array(try encoder.encode(memory)), mode: 0o644, kind: "PCI binding record")
    }

    /// Removes the record; one that is not qnet's (planted) was never its memory: it is
    /// reported and left alone, and there is nothing to forget.
    func forget(_ address: PCIAddress) throws {
        guard let directory = try DirectoryDescriptor.openState(stateDirectory, create: false) else { return }
        let name = "\(address).json"
        if let foreign = try directory.foreignEntry(name) {
            writeStandardError("qnet: warning: PCI binding record \(stateDirectory)/\(name) is \(foreign): left alone\n")
            return
        }
        try directory.remove(name)
    }

    /// Acts on a `PCIDriverRecord` (rollback and recovery alike): the function back on its
    /// driver with its override, and the memory as it was.
    func restore(_ record: PCIDriverRecord) throws -> String? {
        guard let function = function(record.address) else { return "\(record.address) is gone (removed VF or hot-unplug)" }
        let now = try moveToDriver(function, driver: record.driver, override: record.driverOverride)
        if let memory = record.memory { try remember(memory, for: record.address) } else { try forget(record.address) }
        if now != record.driver {
            throw PCIError.bindFailed(record.address, driver: record.driver ?? "no driver", found: now)
        }
        return "\(record.address) is on \(record.driver ?? "no driver") again"
    }
}
