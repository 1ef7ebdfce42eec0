import HostNetwork
import QNetSystem

/// The alias qnet gives each VM's TAP, `qnet:vm=NAME/INDEX` (the VM and its NIC index), so
/// the kernel itself says which VM a TAP serves: `qnet show` prints it, `bridge delete` and
/// `tap delete` refuse to pull a device from under a running VM. Equivalent to
/// `ip link set vnet0 alias qnet:vm=web/0`; reading it needs no privilege.
///
/// The TAPs of VMs are transient: they exist only while QEMU holds them, so a TAP with this
/// alias belongs to a running VM.
public struct VMTapAlias: Equatable, Sendable, CustomStringConvertible {
    public var vm: String
    public var nicIndex: Int

    static let prefix = "qnet:vm="

    public init(vm: String, nicIndex: Int) {
        self.vm = vm
        self.nicIndex = nicIndex
    }

    /// Parses an alias (IFLA_IFALIAS); nil for nil, another program's alias or a malformed one.
    public init?(_ alias: String?) {
        guard let alias, alias.hasPrefix(Self.prefix) else { return nil }
        let rest = alias.dropFirst(Self.prefix.count)
        guard let slash = rest.lastIndex(of: "/"), let index = Int(rest[rest.index(after: slash)...]), index >= 0 else { return nil }
        let vm = String(rest[..<slash])
        guard (try? VMDefinition.validateName(vm)) != nil else { return nil }
        self.init(vm: vm, nicIndex: index)
    }

    /// `qnet:vm=NAME/INDEX`, as written to the TAP.
    public var description: String { "\(Self.prefix)\(vm)/\(nicIndex)" }
}

/// Why a device cannot go while VMs use it (a failed operation: exit status 1).
public struct DeviceInUse: UserFacingError, Equatable {
    /// The bridge or TAP asked about.
    public var device: String
    /// The running VMs using it, each with the TAP that ties it to the device.
    public var users: [(vm: String, tap: String)]

    public var description: String {
        let names = users.map { "'\($0.vm)' (TAP \($0.tap))" }.joined(separator: ", ")
        let stops = users.map { "qnet vm stop \($0.vm)" }.joined(separator: "; ")
        return "'\(device)' is in use by running VM \(names); stop it first (\(stops)) or pass --force"
    }

    public static func == (a: DeviceInUse, b: DeviceInUse) -> Bool {
        a.device == b.device && a.users.map(\.vm) == b.users.map(\.vm) && a.users.map(\.tap) == b.users.map(\.tap)
    }
}

extension HostNetwork {
    /// The running VMs whose TAPs are `name` itself or ports of `name` (a bridge), read from
    /// the kernel (TAP aliases), in TAP name order. Equivalent to `ip -d link show master NAME`
    /// and looking at each port's alias.
    public func vmsUsing(_ name: String) throws -> [(vm: String, tap: String)] {
        let links = try links()
        guard let device = links.first(where: { $0.name == name }) else { return [] }
        return links
            .filter { $0.name == name || $0.masterIndex == device.index }
            .compactMap { link in VMTapAlias(link.alias).map { (vm: $0.vm, tap: link.name) } }
            .sorted { $0.tap < $1.tap }
    }

    /// Throws `DeviceInUse` when a running VM uses `name` (it is the VM's TAP, or a bridge
    /// one of its TAPs is on).
    public func checkNoVMUses(_ name: String) throws {
        let users = try vmsUsing(name)
        if !users.isEmpty { throw DeviceInUse(device: name, users: users) }
    }
}
