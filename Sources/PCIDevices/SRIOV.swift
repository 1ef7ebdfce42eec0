import QNetSystem

/// Undo record of `setVFCount`: the physical function's VF count before the change.
public struct PCIVFCountRecord: JournalRecord, Equatable {
    public static let kind = "pci-vf-count"
    public var physicalFunction: PCIAddress
    public var count: Int

    public init(physicalFunction: PCIAddress, count: Int) {
        self.physicalFunction = physicalFunction
        self.count = count
    }
}

extension PCIHost {
    /// Sets the number of SR-IOV virtual functions of `physicalFunction` to `count`.
    /// Equivalent to `echo N > /sys/bus/pci/devices/PF/sriov_numvfs`; the kernel refuses to
    /// change a non-zero count to another non-zero one (EBUSY), so that goes through 0
    /// (`echo 0`, then `echo N`), which removes every VF and makes new ones: their MACs,
    /// VLANs and other settings start over. Refused while a VF that would go is bound to
    /// vfio-pci, held open by a process (a VM), or used by the host (unless `force`).
    /// Recorded in `transaction` first: an error, a signal or a kill puts the old count back.
    /// Returns the previous count. Needs root.
    @discardableResult
    public func setVFCount(_ physicalFunction: PCIAddress, to count: Int, force: Bool = false,
                           in transaction: HostTransaction) throws -> Int {
        let function = try existingFunction(physicalFunction)
        guard let sriov = function.sriov else { throw PCIError.notSRIOV(physicalFunction) }
        guard count >= 0, count <= sriov.totalVFs else {
            throw PCIError.tooManyVFs(physicalFunction, requested: count, total: sriov.totalVFs)
        }
        let previous = sriov.numVFs
        guard count != previous else { return previous }
        if previous != 0 { try checkVirtualFunctionsFree(function, sriov: sriov, force: force) }
        try transaction.record(undo: PCIVFCountRecord(physicalFunction: physicalFunction, count: previous))
        try writeVFCount(physicalFunction, from: previous, to: count, step: { try transaction.step($0) })
        return previous
    }

    /// Refuses when a VF is bound to vfio-pci, held by a process, or (without `force`)
    /// carries addresses, routes or a bridge port of the host.
    func checkVirtualFunctionsFree(_ function: PCIFunction, sriov: SRIOVState, force: Bool) throws {
        for vf in sriov.virtualFunctions {
            guard let current = self.function(vf.address) else { continue }
            if current.isBoundToVFIO {
                throw PCIError.virtualFunctionBusy(function.address, vf: vf,
                                                   reason: "is bound to vfio-pci; release it first (`qnet pci release \(vf.address)`)")
            }
            if let user = userOfFunction(current) {
                throw PCIError.virtualFunctionBusy(function.address, vf: vf, reason: "is in use by \(user)")
            }
            if !force {
                let uses = try hostUses(of: current)
                if !uses.isEmpty {
                    throw PCIError.virtualFunctionBusy(function.address, vf: vf,
                                                       reason: "is in use by the host: \(uses.joined(separator: "; ")) (or --force)")
                }
            }
        }
    }

    /// `echo 0 > sriov_numvfs` when both counts are non-zero, then `echo N`, each after
    /// `step` (a journal step and safe point); then checks the kernel's count.
    func writeVFCount(_ address: PCIAddress, from previous: Int, to count: Int, step: (String) throws -> Void) throws {
        let path = sysfs.device(address) + "/sriov_numvfs"
        if previous != 0 && count != 0 {
            try step("sriov_numvfs of \(address): 0")
            try write(path, "0", step: "remove the VFs of \(address)")
        }
        try step("sriov_numvfs of \(address): \(count)")
        try write(path, String(count), step: "set the VF count of \(address) to \(count)")
        let now = sysfs.integer(path)
        guard now == count else {
            throw PCIError.kernel(step: "set the VF count of \(address) to \(count)",
                                  SystemError(errno: .ioError, operation: "sriov_numvfs reads \(now.map(String.init) ?? "nothing") after writing \(count) to", path: path))
        }
    }

    /// Acts on a `PCIVFCountRecord`: the recorded count again (through 0).
    func restore(_ record: PCIVFCountRecord) throws -> String? {
        let path = sysfs.device(record.physicalFunction) + "/sriov_numvfs"
        guard let now = sysfs.integer(path) else { return "\(record.physicalFunction) is gone" }
        if now != record.count { try writeVFCount(record.physicalFunction, from: now, to: record.count, step: { _ in }) }
        return "\(record.physicalFunction) has \(record.count) VF\(record.count == 1 ? "" : "s") again"
    }

    /// The record kinds of this module with the code that rolls them back: merge into the
    /// registry of any transaction that binds, releases or sets VF counts.
    public var recoveryRegistry: RecoveryRegistry {
        var registry = RecoveryRegistry()
        registry.register(PCIDriverRecord.self) { [self] record, _ in try restore(record) }
        registry.register(PCIVFCountRecord.self) { [self] record, _ in try restore(record) }
        return registry
    }
}
