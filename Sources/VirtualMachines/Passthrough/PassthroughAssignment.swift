import Glibc
import HostNetwork
import PCIDevices
import QEMU
import QNetSystem
import QNetTypes

/// Hands a VM's passthrough NICs to it before QEMU starts, and takes them back when it ends.
///
/// For each `pci=`/`vf=` NIC, in order, each step recorded (`save`) before it is taken:
/// 1. `vf=`: the VF's MAC (the guest's, stable) and VLAN are set on its PF, the previous ones kept;
/// 2. the function is bound to vfio-pci (PCIDevices, under the host-wide `pci` lock, journaled;
///    refused naming the reason: no IOMMU, a shared group, used by the host or by another VM);
/// 3. /dev/vfio/GROUP is given to QEMU's uid, mode 0600: that VM's QEMU alone may open it.
/// `release` undoes them in reverse. Equivalent to libvirt's `<hostdev managed='yes'>`
/// (nodedev-detach, the group node's DAC label, nodedev-reattach) and Incus `nictype=sriov`.
/// Needs root (sysfs writes, chown, CAP_NET_ADMIN for the VF settings).
struct PassthroughAssignment {
    let pci: PCIHost
    let virtualFunctions: VirtualFunctionControl
    /// `/dev` (a fixture's in tests): where `vfio/GROUP` appears.
    let dev: String
    let journal: Journal
    let lockDirectory: String
    let command: String
    let notice: (String) -> Void

    /// How long the group node may take to appear after the bind (devtmpfs creates it).
    static let nodeTimeout: Duration = .seconds(2)

    /// The function each passthrough NIC hands over, by NIC index: `pci=` as given, `vf=`
    /// the VF's address from its PF's `virtfnN` link. Refuses a function that does not exist,
    /// a PF without that VF, and a function another running VM has.
    func resolve(_ nics: [NICSpec], takenBy running: [String: String]) throws -> [Int: (address: PCIAddress, pfInterface: String?)] {
        var result: [Int: (address: PCIAddress, pfInterface: String?)] = [:]
        for (index, nic) in nics.enumerated() {
            let address: PCIAddress, pfInterface: String?
            switch nic.attachment {
            case let .pci(text):
                guard let parsed = PCIAddress(text) else {
                    throw VMError.invalidValue(what: "PCI address (pci=)", value: text, allowed: PCIAddress.invalidMessage(text))
                }
                _ = try pci.existingFunction(parsed)
                (address, pfInterface) = (parsed, nil)
            case let .vf(spec):
                let pf = try physicalFunction(spec.pf)
                guard let sriov = pf.sriov else { throw PCIError.notSRIOV(pf.address) }
                guard let vf = sriov.virtualFunctions.first(where: { $0.index == spec.index }) else {
                    throw VMError.invalidValue(what: "VF index", value: spec.text,
                                               allowed: "\(spec.pf) has \(sriov.numVFs) VF(s) of \(sriov.totalVFs); make more with `qnet pci vfs \(pf.address) --count N`")
                }
                guard let interface = PCIHostDevice.isAddress(spec.pf) ? pf.interfaces.first : spec.pf else {
                    throw VMError.invalidValue(what: "VF's physical function", value: spec.pf,
                                               allowed: "its network interface is gone (no driver?); the VF's MAC and VLAN are set through it")
                }
                (address, pfInterface) = (vf.address, interface)
            default:
                continue
            }
            if let vm = running[address.description] {
                throw PCIError.inUseByVM(address, user: "VM \(vm)")
            }
            if let other = result.first(where: { $0.value.address == address }) {
                throw VMError.invalidValue(what: "--nic", value: nics[index].passthroughText ?? "",
                                           allowed: "NIC \(other.key) hands over the same function \(address) already")
            }
            result[index] = (address, pfInterface)
        }
        return result
    }

    /// The PF named by interface (`enp3s0f0`) or address.
    private func physicalFunction(_ name: String) throws -> PCIFunction {
        if let address = PCIAddress(name), PCIHostDevice.isAddress(name) { return try pci.existingFunction(address) }
        guard let function = pci.functions().first(where: { $0.interfaces.contains(name) }) else {
            throw VMError.invalidValue(what: "VF's physical function", value: name, allowed: "no PCI function has an interface of that name (see `qnet pci list`)")
        }
        return function
    }

    /// Steps 1-3 for every passthrough NIC; each record saved (`save`, the whole list) before
    /// its step and pushed on `undo`. Returns the records, in NIC order.
    func attach(_ definition: VMDefinition, functions: [Int: (address: PCIAddress, pfInterface: String?)], macs: [MACAddress],
                qemu user: UserAccount, signals: DeferredSignals, undo: UndoStack,
                save: ([PassthroughRecord]) throws -> Void) throws -> [PassthroughRecord] {
        var records: [PassthroughRecord] = []
        for index in functions.keys.sorted() {
            let (address, pfInterface) = functions[index]!
            let function = try pci.existingFunction(address)
            // Another process (a QEMU qnet does not know of) holding the group open.
            if let holder = pci.userOfFunction(function) { throw PCIError.inUseByVM(address, user: holder) }
            records.append(PassthroughRecord(nic: index, address: address.description,
                                             releaseOnEnd: !function.isBoundToVFIO, group: function.iommuGroup))
            let at = records.count - 1
            if case let .vf(spec) = definition.nics[index].attachment, let pfInterface {
                let current = try virtualFunctions.read(pfInterface, spec.index)
                var vf = VirtualFunctionRecord(pf: pfInterface, index: spec.index, mac: macs[index].description, vlan: spec.vlan,
                                               previousMAC: current.mac?.description, previousVLAN: current.vlan)
                vf.changed = true
                records[at].vf = vf
                try save(records)
                undo.push("restore \(pfInterface) vf \(spec.index)") { self.restoreVirtualFunction(vf) }
                try virtualFunctions.set(pfInterface, spec.index, macs[index], spec.vlan ?? 0)
            }
            try save(records)
            if records[at].releaseOnEnd {
                let change = try PCIChange.begin(host: pci, command: command, journal: journal, lockDirectory: lockDirectory, signals: signals)
                defer { change.lock.release() }
                undo.push("release \(address)") { self.releaseBinding(address) }
                _ = try change.run { try pci.bind(address, in: $0) }
            }
            try signals.checkpoint()
            guard let group = records[at].group ?? pci.function(address)?.iommuGroup else { throw PCIError.noIOMMUGroup(address) }
            let node = try waitForGroupNode(group, address: address)
            var info = stat()
            guard lstat(node, &info) == 0 else { throw SystemError.lastError("stat", path: node) }
            records[at].group = group
            records[at].groupNode = NodeOwnership(uid: info.st_uid, gid: info.st_gid, mode: UInt32(info.st_mode & 0o7777))
            records[at].qemuUID = user.uid
            try save(records)
            let record = records[at]
            undo.push("give \(node) back") { self.restoreGroupNode(record) }
            guard fchownat(AT_FDCWD, node, user.uid, user.gid, AT_SYMLINK_NOFOLLOW) == 0 else { throw SystemError.lastError("chown", path: node) }
            guard fchmodat(AT_FDCWD, node, 0o600, 0) == 0 else { throw SystemError.lastError("chmod", path: node) }
            try signals.checkpoint()
        }
        return records
    }

    /// /dev/vfio/GROUP once devtmpfs made it (polled every 2 ms up to `nodeTimeout`).
    private func waitForGroupNode(_ group: Int, address: PCIAddress) throws -> String {
        let node = "\(dev)/vfio/\(group)"
        let deadline = Deadline.after(Self.nodeTimeout)
        while access(node, F_OK) != 0 {
            guard !deadline.hasPassed else {
                throw PCIError.bindFailed(address, driver: PCIHost.vfioDriver, found: pci.function(address)?.driver.map { "\($0), but \(node) did not appear" })
            }
            usleep(2_000)  // poll interval; bounded by nodeTimeout
        }
        return node
    }

    /// Undoes `records` in reverse, each step only if it was taken; failures are reported
    /// (`notice`), never thrown: the rest is still undone. Called once QEMU is gone.
    func release(_ records: [PassthroughRecord]) {
        for record in records.reversed() {
            restoreGroupNode(record)
            if record.releaseOnEnd, let address = PCIAddress(record.address) { releaseBinding(address) }
            if let vf = record.vf, vf.changed { restoreVirtualFunction(vf) }
        }
    }

    /// The group node's owner and mode put back, if it still exists and still belongs to
    /// QEMU's uid (a node made anew by devtmpfs is root's already).
    func restoreGroupNode(_ record: PassthroughRecord) {
        guard let group = record.group, let before = record.groupNode, let uid = record.qemuUID else { return }
        let node = "\(dev)/vfio/\(group)"
        var info = stat()
        guard lstat(node, &info) == 0, info.st_uid == uid else { return }
        if fchownat(AT_FDCWD, node, before.uid, before.gid, AT_SYMLINK_NOFOLLOW) != 0 || fchmodat(AT_FDCWD, node, mode_t(before.mode), 0) != 0 {
            notice("warning: could not give \(node) back to uid \(before.uid): \(SystemError.lastError("chown", path: node))")
        }
    }

    /// `qnet pci release ADDR` (its own journaled transaction under the pci lock).
    func releaseBinding(_ address: PCIAddress) {
        do {
            let change = try PCIChange.begin(host: pci, command: command, journal: journal, lockDirectory: lockDirectory)
            defer { change.lock.release() }
            _ = try change.run { try pci.release(address, in: $0) }
        } catch {
            notice("warning: could not give \(address) back to its driver: \(error); see `qnet pci release \(address)`")
        }
    }

    func restoreVirtualFunction(_ vf: VirtualFunctionRecord) {
        do {
            if let mac = vf.previousMAC.flatMap(MACAddress.init) {
                try virtualFunctions.set(vf.pf, vf.index, mac, vf.previousVLAN ?? 0)
            }
        } catch {
            notice("warning: could not put back \(vf.pf) vf \(vf.index)'s MAC \(vf.previousMAC ?? "?") and VLAN \(vf.previousVLAN ?? 0): \(error)")
        }
    }
}

extension PassthroughAssignment {
    /// libvirt's margin for VFIO guests (qemuDomainGetMemLockLimitBytes): the guest's RAM
    /// plus 1 GiB for MMIO and the firmware, locked for DMA.
    static let lockedMemoryMargin: UInt64 = 1 << 30

    /// The RLIMIT_MEMLOCK QEMU needs with passthrough devices: RAM + 1 GiB.
    static func lockedMemoryBytes(memoryMiB: Int) -> UInt64 { UInt64(memoryMiB) << 20 + lockedMemoryMargin }

    /// Runs `body` (the spawn of QEMU) with qnet's own RLIMIT_MEMLOCK raised to at least
    /// `bytes` (QEMU inherits it across exec; vfio_iommu_type1 counts the pinned guest RAM
    /// against it), then puts qnet's back. Equivalent to `prlimit --memlock=N:N`.
    /// Needs CAP_SYS_RESOURCE to raise the hard limit.
    static func withLockedMemoryLimit<T>(_ bytes: UInt64, _ body: () throws -> T) throws -> T {
        let resource = __rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue)
        var old = rlimit()
        guard getrlimit(resource, &old) == 0 else { throw SystemError.lastError("getrlimit RLIMIT_MEMLOCK") }
        if old.rlim_cur == rlim_t.max /* RLIM_INFINITY */ || old.rlim_cur >= bytes { return try body() }
        var raised = rlimit(rlim_cur: rlim_t(bytes), rlim_max: max(rlim_t(bytes), old.rlim_max))
        guard setrlimit(resource, &raised) == 0 else {
            throw VMError.lockedMemoryLimit(needed: bytes, current: UInt64(old.rlim_cur), SystemError.lastError("setrlimit RLIMIT_MEMLOCK"))
        }
        defer { _ = setrlimit(resource, &old) }
        return try body()
    }
}
