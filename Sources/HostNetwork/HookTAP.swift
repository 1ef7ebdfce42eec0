import Netlink
import NetlinkWire
import QNetTypes

/// The first byte of every MAC qnet gives a TAP (libvirt's convention).
///
/// Kernel quirk: a bridge whose own MAC was never set takes the lowest MAC among its ports,
/// so it changes as guests come and go; 0xFE is never the lowest against real NICs'
/// vendor prefixes or QEMU's 52:54:00.
public let tapMACFirstByte: UInt8 = 0xFE

extension HostNetwork {
    /// Attaches a TAP that QEMU made to a bridge and brings it up: the job of QEMU's
    /// `script=` hook (/etc/qemu-ifup: `ifconfig $1 up; sleep 0.5; brctl addif br0 $1`).
    ///
    /// Equivalent to `ip link set dev TAP address fe:.. mtu BRIDGE_MTU master BRIDGE up`:
    /// one RTM_NEWLINK, sent to the TAP only. The TAP keeps a MAC starting with fe: and
    /// otherwise gets a new one from `newMACAddress`. Refuses, before any change, anything
    /// that is not a TAP (bridges included, so the bridge itself is never touched) and the
    /// cases `bridge attach` refuses (not a bridge, a port of another bridge). If the
    /// kernel refuses the request after applying part of it, the TAP is put back as it
    /// was. Needs CAP_NET_ADMIN.
    public func attachHookTAP(_ tap: String, to bridge: String,
                              newMACAddress: () -> MACAddress = randomTAPMACAddress) throws {
        let tapLink = try hookTAP(named: tap)
        let bridgeLink = try link(named: bridge)
        try checkAttachable(port: tapLink, bridge: bridgeLink)
        let keepsMAC = tapLink.macAddress?.bytes.first == tapMACFirstByte
        // Kernel quirk: within one RTM_NEWLINK, do_setlink applies IFLA_MTU before
        // IFLA_MASTER, so the TAP already has the bridge's MTU when it joins and the
        // bridge's MTU never drops to the TAP's.
        let change = LinkChange(up: true, master: .index(bridgeLink.index), mtu: bridgeLink.mtu,
                                macAddress: keepsMAC ? nil : newMACAddress())
        try changeOrRestore(tapLink, change)
    }

    /// Detaches a TAP from its bridge and takes it down: the job of QEMU's `downscript=`
    /// hook (/etc/qemu-ifdown). Equivalent to `ip link set dev TAP nomaster down`, sent to
    /// the TAP only (`down` alone when it has no master).
    ///
    /// Refuses anything that is not a TAP. With `bridge`, the TAP must be that bridge's
    /// port (or of no bridge); without it, whichever bridge holds the TAP lets it go. If
    /// the kernel refuses the request after applying part of it, the TAP is put back as
    /// it was. Needs CAP_NET_ADMIN.
    public func detachHookTAP(_ tap: String, from bridge: String? = nil) throws {
        let tapLink = try hookTAP(named: tap)
        if let bridge {
            let bridgeLink = try self.bridge(named: bridge)
            if let master = tapLink.masterIndex, master != bridgeLink.index {
                throw HostNetworkError.notAPort(port: tap, bridge: bridge)
            }
        }
        try changeOrRestore(tapLink, LinkChange(up: false, master: tapLink.masterIndex == nil ? nil : LinkChange.Master.none))
    }

    /// The link named `name`, if it is a TAP (the hooks act on nothing else).
    private func hookTAP(named name: String) throws -> Link {
        let link = try self.link(named: name)
        guard link.isTAP else { throw HostNetworkError.notATAP(name, kind: link.kind) }
        return link
    }

    /// Sends `change` for `original`; if the kernel refuses it, reads the link back and
    /// undoes whatever part of the request it had applied.
    ///
    /// Kernel quirk: do_setlink is not atomic. It applies the attributes one by one (MAC,
    /// MTU, master, then the flags) and stops at the first it refuses, keeping the earlier
    /// ones.
    func changeOrRestore(_ original: Link, _ change: LinkChange) throws {
        do {
            try setLink(index: original.index, name: original.name, change)
        } catch {
            let failures = restore(original)
            if failures.isEmpty { throw error }
            throw RolledBackError(underlying: error, rollbackFailures: failures)
        }
    }

    /// Puts back the MAC, MTU, master and up state `original` had, sending only what
    /// differs now; returns what could not be put back.
    ///
    /// A link that must leave a master gets two requests, nomaster first: in one request
    /// its MTU would change while still a port, and the bridge might follow it.
    private func restore(_ original: Link) -> [String] {
        let current: Link
        do {
            guard let found = try link(index: original.index) else { return ["\(original.name) vanished"] }
            current = found
        } catch {
            return ["reading \(original.name) back: \(error)"]
        }
        var first = LinkChange()
        var second = LinkChange()
        if current.masterIndex != original.masterIndex {
            first.master = original.masterIndex.map { .index($0) } ?? LinkChange.Master.none
        }
        if current.isUp != original.isUp { first.up = original.isUp }
        let leavesMaster = first.master == LinkChange.Master.none
        if current.mtu != original.mtu {
            if leavesMaster { second.mtu = original.mtu } else { first.mtu = original.mtu }
        }
        if let mac = original.macAddress, current.macAddress != mac {
            if leavesMaster { second.macAddress = mac } else { first.macAddress = mac }
        }
        var failures: [String] = []
        for change in [first, second] where change != LinkChange() {
            do { try setLink(index: original.index, name: original.name, change) } catch {
                failures.append("restore \(original.name)\(change.summary): \(error)")
            }
        }
        return failures
    }
}
