import Glibc
import QNetSystem

/// Why an uplink's address must not be moved into a bridge: it was leased by DHCP. The
/// lease is renewed by a client bound to the uplink, which stops renewing once the address
/// sits on the bridge, so the host loses it when the lease ends.
public struct DHCPUplinkUse: Equatable, Sendable, CustomStringConvertible {
    public var uplink: String
    /// What gave it away: "192.168.1.20/24 expires in 3600 s" or "dhclient (pid 812) runs on it".
    public var evidence: String

    public var description: String {
        "\(uplink)'s address comes from DHCP (\(evidence)); moved into the bridge it would not be renewed. "
            + "Fix: stop the DHCP client on \(uplink), create the bridge without the address, and run the client on the bridge "
            + "(e.g. `dhclient br0`, or BOOTPROTO=dhcp on the bridge's own ifcfg/interfaces/netplan entry)"
    }
}

/// DHCP clients whose command line names the interface they serve.
private let dhcpClientNames: Set<String> = ["dhclient", "dhcpcd", "udhcpc", "dhcpcd5", "pump"]

extension HostNetwork {
    /// Whether `link`'s addresses come from DHCP: an IPv4 address with a finite valid
    /// lifetime (`ip addr` shows `valid_lft 3599sec` instead of `forever`; DHCP clients set
    /// the lease time there), or a DHCP client process in this network namespace whose
    /// command line names the interface. nil when neither is seen.
    /// Equivalent to `ip -4 addr show dev NAME` plus `pgrep -a dhclient`.
    public func dhcpUse(of link: Link, procRoot: String = "/proc") throws -> DHCPUplinkUse? {
        Self.dhcpUse(of: link, addresses: try addresses(family: .inet, index: link.index), procRoot: procRoot)
    }

    /// ``dhcpUse(of:procRoot:)`` over addresses already read (the uplink move reads them anyway).
    static func dhcpUse(of link: Link, addresses: [InterfaceAddress], procRoot: String = "/proc") -> DHCPUplinkUse? {
        for address in addresses where address.prefix.address.isIPv4 {
            if let valid = address.validLifetime, valid != UInt32.max {
                return DHCPUplinkUse(uplink: link.name, evidence: "\(address.prefix) expires in \(valid) s")
            }
        }
        if let client = Self.dhcpClient(on: link.name, procRoot: procRoot) {
            return DHCPUplinkUse(uplink: link.name, evidence: client)
        }
        return nil
    }

    /// A DHCP client process in this process's network namespace serving `interface`.
    static func dhcpClient(on interface: String, procRoot: String) -> String? {
        let ownNamespace = namespaceInode("\(procRoot)/self/ns/net")
        for entry in FileSystem.list(procRoot) where entry.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let bytes = try? FileSystem.readBytes("\(procRoot)/\(entry)/cmdline", limit: 4096), !bytes.isEmpty else { continue }
            let words = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let program = words.first?.split(separator: "/").last.map(String.init), dhcpClientNames.contains(program),
                  words.dropFirst().contains(interface) else { continue }
            guard ownNamespace == nil || namespaceInode("\(procRoot)/\(entry)/ns/net") == ownNamespace else { continue }
            return "\(program) (pid \(entry)) runs on it"
        }
        return nil
    }

    private static func namespaceInode(_ path: String) -> UInt64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return UInt64(info.st_ino)
    }
}
