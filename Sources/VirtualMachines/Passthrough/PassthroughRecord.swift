import HostNetwork
import QNetTypes

/// What a VM holds for one passthrough NIC (`pci=`, `vf=`), written to the VM's `starting`
/// record before each change and kept in state.json: stop, a failed start and recovery
/// after a kill -9 of QEMU or of qnet undo exactly what was done, in reverse (the group
/// node's owner, the binding, the VF's MAC and VLAN).
public struct PassthroughRecord: Codable, Equatable, Sendable {
    /// The NIC's index in the definition.
    public var nic: Int
    /// The function QEMU gets (`-device vfio-pci,host=`): for `vf=`, the VF's own address.
    public var address: String
    /// `vf=`: the VF's settings on its PF, before and for the VM.
    public var vf: VirtualFunctionRecord?
    /// qnet binds the function to vfio-pci for this VM (it was on another driver or none):
    /// released to that driver when the VM ends. False when it was on vfio-pci already
    /// (`qnet pci bind` by the admin, libvirt's managed='no'): left bound.
    public var releaseOnEnd: Bool
    /// Its IOMMU group (`/dev/vfio/GROUP`).
    public var group: Int?
    /// The group node's owner and mode before QEMU's uid got it (nil until then).
    public var groupNode: NodeOwnership?
    /// The uid the group node was given: restored only while it still has it.
    public var qemuUID: UInt32?

    public init(nic: Int, address: String, vf: VirtualFunctionRecord? = nil, releaseOnEnd: Bool, group: Int?) {
        self.nic = nic
        self.address = address
        self.vf = vf
        self.releaseOnEnd = releaseOnEnd
        self.group = group
    }
}

/// A VF's MAC and VLAN as its PF reports them (`ip link show PF`'s `vf N` line), and what
/// the VM gets (`ip link set PF vf N mac M vlan V`).
public struct VirtualFunctionRecord: Codable, Equatable, Sendable {
    /// The PF's interface, which carries the VF settings over rtnetlink.
    public var pf: String
    public var index: Int
    /// The guest's MAC (`mac=`, or derived from the VM's name and NIC index like every NIC's,
    /// so the guest keeps its DHCP lease across restarts).
    public var mac: String
    /// The VLAN the VM gets (nil: none, VLAN 0).
    public var vlan: Int?
    public var previousMAC: String?
    public var previousVLAN: Int?
    /// Set before the settings are written: from then on the end of the VM puts the previous ones back.
    public var changed: Bool = false

    public init(pf: String, index: Int, mac: String, vlan: Int?, previousMAC: String?, previousVLAN: Int?) {
        self.pf = pf
        self.index = index
        self.mac = mac
        self.vlan = vlan
        self.previousMAC = previousMAC
        self.previousVLAN = previousVLAN
    }
}

/// A file's owner and permission bits (`stat -c '%u %g %a'`).
public struct NodeOwnership: Codable, Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var mode: UInt32

    public init(uid: UInt32, gid: UInt32, mode: UInt32) {
        self.uid = uid
        self.gid = gid
        self.mode = mode
    }
}

/// Reads and sets an SR-IOV VF's MAC and VLAN through its PF (HostNetwork's VF verbs:
/// `ip link show PF` / `ip link set PF vf N mac M vlan V`). Injectable for tests; the
/// default asks the kernel over rtnetlink.
public struct VirtualFunctionControl: Sendable {
    /// The VF's current MAC and VLAN (0: none).
    public var read: @Sendable (_ pf: String, _ index: Int) throws -> (mac: MACAddress?, vlan: Int)
    /// Sets the VF's MAC and VLAN (0: none).
    public var set: @Sendable (_ pf: String, _ index: Int, _ mac: MACAddress, _ vlan: Int) throws -> Void

    public init(read: @escaping @Sendable (String, Int) throws -> (mac: MACAddress?, vlan: Int),
                set: @escaping @Sendable (String, Int, MACAddress, Int) throws -> Void) {
        self.read = read
        self.set = set
    }
}

extension VirtualFunctionControl {
    /// Over rtnetlink in `host`'s namespace, where the PF's interface must be:
    /// `ip link show PF` (RTEXT_FILTER_VF) and `ip link set PF vf N mac M vlan V`.
    public static func rtnetlink(_ host: HostNetwork) -> VirtualFunctionControl {
        VirtualFunctionControl(
            read: { pf, index in
                let (_, list) = try host.virtualFunctions(of: pf)
                guard let vf = list.functions.first(where: { $0.index == UInt32(index) }) else {
                    throw VMError.invalidValue(what: "VF index", value: "\(pf):\(index)",
                                               allowed: "\(pf) reports \(list.functions.count) VF(s) over rtnetlink (`qnet pci list`)")
                }
                return (vf.macAddress, Int(vf.vlan?.id ?? 0))
            },
            set: { pf, index, mac, vlan in
                try host.setVirtualFunction(pf, vf: UInt32(index), VFChange(macAddress: mac, vlan: VFVLAN(id: UInt32(vlan))))
            })
    }
}
