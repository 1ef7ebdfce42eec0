import CLinuxNet
import CLinuxSystem
import Glibc
import Netlink
import NetlinkWire
import QNetSystem
import QNetTypes
import SystemPackage

/// How to create a TAP device (`ip tuntap add`, `tunctl`).
public struct TAPOptions: Equatable, Sendable {
    /// The name, or a template with one `%d` ("tap%d") that the kernel fills in.
    public var name: String
    /// IFF_VNET_HDR: frames carry a virtio-net header, so QEMU's virtio-net can offload
    /// checksums and segmentation (measured here under TCG: 2.87 Gbit/s with, 0.82 without).
    public var vnetHeader: Bool
    /// Queues (IFF_MULTI_QUEUE when more than 1): one descriptor per queue.
    public var queues: Int
    /// IFF_PERSIST: the device outlives its descriptors (like `ip tuntap add`). Transient
    /// TAPs vanish when the last descriptor closes, so a dead QEMU cannot leak them.
    public var persistent: Bool
    /// TUNSETOWNER / TUNSETGROUP: who may attach to the device without CAP_NET_ADMIN.
    public var owner: uid_t?
    public var group: gid_t?
    /// Set in the same RTM_NEWLINK that brings the TAP up.
    public var bridge: String?
    public var mtu: UInt32?
    public var interfaceGroup: UInt32?
    /// The TAP's MAC; nil picks a random one whose first byte is 0xFE.
    public var macAddress: MACAddress?
    public var up: Bool
    /// IFLA_IFALIAS, e.g. "qnet:vm=NAME" so `qnet show` can name the VM owning the TAP.
    public var alias: String?
    /// Whether the returned ``TAPDevice`` keeps its descriptors. Default: only for transient
    /// TAPs (which live only as long as them).
    ///
    /// Kernel quirk: a TAP with an open descriptor has carrier, so attaching it makes the
    /// bridge re-run its port-state pass over every port (quadratic in the port count) and
    /// sets up IPv6 on it; closing a persistent TAP's descriptors before the link batch
    /// avoids both (500 TAPs: 0.25 s → 0.18 s here) and the seconds-long carrier-down tail.
    public var keepDescriptors: Bool

    public init(name: String = "tap%d", vnetHeader: Bool = false, queues: Int = 1, persistent: Bool = false,
                owner: uid_t? = nil, group: gid_t? = nil, bridge: String? = nil, mtu: UInt32? = nil,
                interfaceGroup: UInt32? = nil, macAddress: MACAddress? = nil, up: Bool = true, alias: String? = nil,
                keepDescriptors: Bool? = nil) {
        self.name = name
        self.vnetHeader = vnetHeader
        self.queues = queues
        self.persistent = persistent
        self.owner = owner
        self.group = group
        self.bridge = bridge
        self.mtu = mtu
        self.interfaceGroup = interfaceGroup
        self.macAddress = macAddress
        self.up = up
        self.alias = alias
        self.keepDescriptors = keepDescriptors ?? !persistent
    }

    /// The largest queue count the kernel accepts (MAX_TAP_QUEUES).
    public static let maximumQueues = 256

    public func validate() throws {
        try InterfaceName.validate(name, allowTemplate: true)
        guard (1...Self.maximumQueues).contains(queues) else {
            throw HostNetworkError.invalidValue(what: "queue count", value: String(queues), allowed: "use 1 to \(Self.maximumQueues)")
        }
        if let macAddress, !macAddress.isValidUnicast {
            throw HostNetworkError.invalidValue(what: "MAC address", value: macAddress.description, allowed: "use a unicast, non-zero address")
        }
    }

    /// TUNSETIFF flags for these options.
    var tunFlags: Int16 {
        var flags = Int32(IFF_TAP) | Int32(IFF_NO_PI)
        if vnetHeader { flags |= Int32(IFF_VNET_HDR) }
        if queues > 1 { flags |= Int32(IFF_MULTI_QUEUE) }
        return Int16(truncatingIfNeeded: flags)
    }
}

/// A TAP device and the descriptors qnet holds for it (one per queue).
///
/// Closing the descriptors of a transient TAP removes the device. The descriptors are
/// what QEMU receives with `-netdev tap,fd=N` (or `fds=N:M` for several queues).
public final class TAPDevice: @unchecked Sendable {
    public let name: String
    public let index: InterfaceIndex
    public let macAddress: MACAddress
    public private(set) var descriptors: [Int32]
    public let persistent: Bool

    init(name: String, index: InterfaceIndex, macAddress: MACAddress, descriptors: [Int32], persistent: Bool) {
        self.name = name
        self.index = index
        self.macAddress = macAddress
        self.descriptors = descriptors
        self.persistent = persistent
    }

    deinit { close() }

    /// Closes every descriptor (a transient TAP disappears); calling it again does nothing.
    public func close() {
        for descriptor in descriptors { Glibc.close(descriptor) }
        descriptors = []
    }

    /// Hands the descriptors over to the caller, who becomes responsible for closing them.
    public func releaseDescriptors() -> [Int32] {
        defer { descriptors = [] }
        return descriptors
    }
}

/// A random locally administered MAC whose first byte is ``tapMACFirstByte`` (0xFE), as
/// libvirt gives TAPs. A bridge takes the lowest MAC among its ports unless its own is
/// set, so such TAPs never become the lowest and the bridge's MAC does not change as
/// guests join.
public func randomTAPMACAddress() -> MACAddress {
    var generator = SystemRandomNumberGenerator()
    let random: UInt64 = generator.next()
    return MACAddress(bytes: [tapMACFirstByte] + (0..<5).map { UInt8(truncatingIfNeeded: random >> (8 * $0)) })!
}

extension HostNetwork {
    /// Creates a TAP device through /dev/net/tun and configures it in one RTM_NEWLINK
    /// (MAC, MTU, interface group, master and up together).
    ///
    /// Equivalent to `ip tuntap add NAME mode tap [vnet_hdr] [multi_queue] [user U] [group G]`
    /// then `ip link set NAME address fe:.. mtu M group N master BR up`. The MTU defaults to
    /// the bridge's, set before the TAP joins it. Needs CAP_NET_ADMIN. On failure nothing
    /// is left behind.
    public func createTAP(_ options: TAPOptions, transaction: HostTransaction? = nil) throws -> TAPDevice {
        try createTAPs([options], transaction: transaction)[0]
    }

    /// Creates several TAPs and configures them with one netlink batch: the TUNSETIFF
    /// ioctls run first, then one datagram carries every RTM_NEWLINK. On failure every TAP
    /// made by this call is removed.
    ///
    /// With a journaled `transaction`, persistent TAPs are crash-safe: each is made
    /// non-persistent first (it vanishes with this process's descriptors), recorded
    /// (`CreatedLinkRecord`, with the index the kernel chose), and only then made
    /// persistent; a kill after that leaves a record from which the next command deletes it.
    public func createTAPs(_ list: [TAPOptions], transaction: HostTransaction? = nil) throws -> [TAPDevice] {
        for options in list { try options.validate() }
        // Resolve bridges once, in the order given: their index and MTU. (An array searched
        // by name: a [String: Link] was the first String-keyed dictionary of `qnet tap create`,
        // whose Hashable conformance lookup scans every conformance record of the static binary.)
        var bridges: [Link] = []
        for name in list.compactMap(\.bridge) where !bridges.contains(where: { $0.name == name }) {
            bridges.append(try bridge(named: name))
        }
        // Kernel quirk: TUNSETIFF on the name of an existing persistent TAP with the same
        // flags silently attaches to it instead of failing, so taken names are refused here.
        // Few names: one lookup each; many: one dump.
        let named = list.filter { !$0.name.contains("%") }.map(\.name)
        if named.count > 8 {
            let existing = Set(try links().map(\.name))
            if let taken = named.first(where: existing.contains) { throw HostNetworkError.alreadyExists(taken) }
        } else {
            for name in named where try linkIfPresent(named: name) != nil { throw HostNetworkError.alreadyExists(name) }
        }

        var devices: [TAPDevice] = []
        var succeeded = false
        defer {
            if !succeeded { for device in devices { removeTAP(device) } }
        }
        // Every /dev/net/tun open and ioctl in one visit to the namespace (a TAP is made in
        // the namespace of the thread that opens /dev/net/tun).
        // Journaled: persistence waits until the TAPs are recorded.
        let persistLater = transaction != nil
        try inNamespace {
            for options in list {
                devices.append(try tapOpener?(options) ?? openTAP(options, persist: !persistLater))
            }
        }
        if let transaction, list.contains(where: \.persistent) {
            let created = zip(devices, list).filter { $0.1.persistent }.map { device, _ in
                CreatedLinkRecord.Created(name: device.name, kind: LinkKind.tun.kernelName, index: device.index)
            }
            // The step first: it is the safe point (a Ctrl-C here is taken while the TAPs still
            // vanish with this process's descriptors), and it goes into the journal with the
            // record in one write instead of a second rewrite after TUNSETPERSIST.
            try transaction.step("configure TAPs")
            try transaction.record(undo: CreatedLinkRecord(links: created))
            for device in devices where device.persistent {
                guard let first = device.descriptors.first else { continue }
                guard qnet_ioctl_ulong(first, QNET_TUNSETPERSIST, 1) == 0 else {
                    throw HostNetworkError.tun(step: "TUNSETPERSIST", name: device.name, errno: Errno(rawValue: Glibc.errno))
                }
            }
        }

        for (device, options) in zip(devices, list) where options.persistent && !options.keepDescriptors {
            device.close()
        }

        var requests: [(type: MessageType, flags: MessageFlags, payload: [UInt8])] = []
        for (device, options) in zip(devices, list) {
            let bridge = options.bridge.flatMap { name in bridges.first { $0.name == name } }
            let change = LinkChange(
                up: options.up ? true : nil,
                master: bridge.map { .index($0.index) },
                mtu: options.mtu ?? bridge?.mtu,
                macAddress: device.macAddress,
                group: options.interfaceGroup,
                alias: options.alias)
            requests.append((.newLink, [], change.message(index: device.index).encoded()))
        }
        let failures = try perform("configuring TAPs") { try connection.executeBatchFailures(requests) }
        for (failure, device) in zip(failures, devices) {
            if let error = failure { throw HostNetworkError.kernel(operation: "ip link set \(device.name) (TAP setup)", error) }
        }
        succeeded = true
        return devices
    }

    /// Opens /dev/net/tun once per queue and attaches each descriptor to the device.
    /// Runs inside the instance's namespace (see ``createTAPs(_:)``).
    private func openTAP(_ options: TAPOptions, persist: Bool = true) throws -> TAPDevice {
        var descriptors: [Int32] = []
        var name = options.name
        var ok = false
        defer { if !ok { for descriptor in descriptors { Glibc.close(descriptor) } } }

        for queue in 0..<options.queues {
            let descriptor = qnet_open("/dev/net/tun", O_RDWR)
            guard descriptor >= 0 else {
                throw HostNetworkError.tun(step: "open /dev/net/tun", name: name, errno: Errno(rawValue: Glibc.errno))
            }
            descriptors.append(descriptor)
            var request = ifreq()
            setName(&request, queue == 0 ? name : name)
            request.ifr_ifru.ifru_flags = options.tunFlags
            // A template name ("tap%d") is resolved by the kernel and written back here.
            guard qnet_ioctl_ifreq(descriptor, QNET_TUNSETIFF, &request) == 0 else {
                let errno = Errno(rawValue: Glibc.errno)
                if errno == .resourceBusy || errno == .invalidArgument, queue == 0, if_nametoindex(name) != 0 {
                    throw HostNetworkError.alreadyExists(name)
                }
                throw HostNetworkError.tun(step: "TUNSETIFF", name: name, errno: errno)
            }
            name = readName(request)
        }
        let first = descriptors[0]
        if let owner = options.owner {
            guard qnet_ioctl_ulong(first, QNET_TUNSETOWNER, UInt(owner)) == 0 else {
                throw HostNetworkError.tun(step: "TUNSETOWNER", name: name, errno: Errno(rawValue: Glibc.errno))
            }
        }
        if let group = options.group {
            guard qnet_ioctl_ulong(first, QNET_TUNSETGROUP, UInt(group)) == 0 else {
                throw HostNetworkError.tun(step: "TUNSETGROUP", name: name, errno: Errno(rawValue: Glibc.errno))
            }
        }
        if options.persistent && persist {
            guard qnet_ioctl_ulong(first, QNET_TUNSETPERSIST, 1) == 0 else {
                throw HostNetworkError.tun(step: "TUNSETPERSIST", name: name, errno: Errno(rawValue: Glibc.errno))
            }
        }
        // Called inside the TAP's namespace, so if_nametoindex (SIOCGIFINDEX on a socket it
        // opens) sees this namespace's devices: one ioctl instead of a netlink round trip.
        let index = if_nametoindex(name)
        guard index != 0 else {
            if options.persistent { _ = qnet_ioctl_ulong(first, QNET_TUNSETPERSIST, 0) }
            throw HostNetworkError.noSuchDevice(name)
        }
        ok = true
        return TAPDevice(name: name, index: InterfaceIndex(index), macAddress: options.macAddress ?? randomTAPMACAddress(),
                         descriptors: descriptors, persistent: options.persistent)
    }

    /// Undoes ``openTAP``: clears persistence, then closes the descriptors.
    private func removeTAP(_ device: TAPDevice) {
        if device.persistent {
            if let first = device.descriptors.first {
                _ = qnet_ioctl_ulong(first, QNET_TUNSETPERSIST, 0)
            } else {
                _ = try? connection.execute(.delLink, payload: LinkMessage(index: device.index).encoded())
            }
        }
        device.close()
    }

    /// Deletes a TAP (persistent or not). Equivalent to `ip tuntap del NAME mode tap`.
    public func deleteTAP(_ name: String) throws {
        let link = try self.link(named: name)
        guard link.kind == .tun else {
            throw HostNetworkError.invalidValue(what: "TAP", value: name, allowed: "it is a \(link.kind?.description ?? "physical") interface, not a TAP; use `qnet bridge delete` or `ip link delete` for other kinds")
        }
        try perform("ip tuntap del \(name)") {
            try connection.execute(.delLink, payload: LinkMessage(index: link.index).encoded())
        }
    }

    /// Reads a TAP's TUN flags and owner from sysfs-free sources: the kernel's
    /// IFLA_LINKINFO/IFLA_TUN_* data. Equivalent to `ip -d tuntap show`.
    public func taps() throws -> [Link] {
        try links().filter { $0.kind == .tun }
    }
}

private func setName(_ request: inout ifreq, _ name: String) {
    withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { buffer in
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        for (offset, byte) in name.utf8.prefix(buffer.count - 1).enumerated() { buffer[offset] = byte }
    }
}

private func readName(_ request: ifreq) -> String {
    withUnsafeBytes(of: request.ifr_ifrn.ifrn_name) { buffer in
        String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }
}
