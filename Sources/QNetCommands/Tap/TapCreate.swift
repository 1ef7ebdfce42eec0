import ArgumentParser
import Glibc
import HostNetwork

/// `qnet tap create NAME`: `tunctl -t NAME -u USER` / `ip tuntap add NAME mode tap`.
struct TapCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a persistent TAP device (ip tuntap add NAME mode tap; tunctl -t NAME).",
        discussion: """
            The TAP gets a MAC starting with fe: (so a bridge's MAC never changes as TAPs join), the bridge's MTU \
            before it is attached, and is brought up — all in one netlink request. NAME may be a template such \
            as tap%d; the name the kernel chose is printed. Without --owner or --group the TAP belongs to root \
            (uid 0), so no unprivileged user can attach to it; --owner any leaves it open to every local user \
            who can open /dev/net/tun (the kernel's behaviour without an owner), with a warning.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Name of the TAP, or a template with %d.", transform: Parse.tapName)
    var name: String

    @Option(help: ArgumentHelp("Attach the TAP to this bridge.", valueName: "bridge"), transform: Parse.interfaceName)
    var bridge: String?

    @Option(help: ArgumentHelp("User (name or uid) allowed to use the TAP without privileges (TUNSETOWNER); default root; 'any' lets every local user attach.", valueName: "user"))
    var owner: String?

    @Option(help: ArgumentHelp("Group (name or gid) allowed to use the TAP (TUNSETGROUP).", valueName: "group"))
    var group: String?

    @Flag(help: "Frames carry a virtio-net header (IFF_VNET_HDR): faster virtio-net in QEMU.")
    var vnetHdr = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Number of queues (IFF_MULTI_QUEUE when above 1), 1-256.", valueName: "n"))
    var queues: Int = 1

    @Option(parsing: .unconditional, help: ArgumentHelp("MTU (default: the bridge's).", valueName: "bytes"), transform: Parse.mtu)
    var mtu: UInt32?

    func validate() throws {
        guard (1...TAPOptions.maximumQueues).contains(queues) else {
            throw ValidationError("invalid queue count '\(queues)': use 1 to \(TAPOptions.maximumQueues)")
        }
    }

    func run() throws {
        let gid = try group.map(Accounts.groupID)
        let uid = try Self.ownerID(owner, group: gid)
        if uid == nil && gid == nil {
            Output.printError("warning: TAP \(name) has no owner: any local user who can open /dev/net/tun can attach to it and read and send frames on its bridge")
        }
        try Self.create(TAPOptions(name: name, vnetHeader: vnetHdr, queues: queues, persistent: true,
                                   owner: uid, group: gid, bridge: bridge, mtu: mtu),
                        ownerName: owner, groupName: group, change: HostChange.begin(global))
    }

    /// Creates the TAP in one transaction and prints what was made; also what `FastPath`
    /// runs for the plain `tap create NAME [--bridge BR]` (owner root, no group).
    static func create(_ options: TAPOptions, ownerName: String?, groupName: String?, change: HostChange) throws {
        let tap = try change.run { transaction in
            try change.host.createTAP(options, transaction: transaction)
        }
        tap.close()
        var line = "created TAP \(tap.name) (mac \(tap.macAddress)"
        if let bridge = options.bridge { line += ", attached to \(bridge)" }
        line += ", owner \(ownerName ?? (groupName == nil ? "root" : "none"))"
        if let groupName { line += ", group \(groupName)" }
        print(line + ")")
    }

    /// The TAP's owner: `--owner` (a user, or `any` for none), else root unless a group
    /// alone is to decide (`tunctl -g G`). Without an owner or a group the kernel lets
    /// anyone attach (tun_not_capable checks them only when set), so that is never the default.
    static func ownerID(_ owner: String?, group: gid_t?) throws -> uid_t? {
        switch owner {
        case "any": return nil
        case let owner?: return try Accounts.userID(owner)
        case nil: return group == nil ? 0 : nil
        }
    }
}

/// Resolves user and group names the way tunctl -u / -g do.
enum Accounts {
    static func userID(_ text: String) throws -> uid_t {
        if let uid = uid_t(text) { return uid }
        guard let entry = getpwnam(text) else {
            throw ValidationError("unknown user '\(text)': use a user name from /etc/passwd or a numeric uid")
        }
        return entry.pointee.pw_uid
    }

    static func groupID(_ text: String) throws -> gid_t {
        if let gid = gid_t(text) { return gid }
        guard let entry = getgrnam(text) else {
            throw ValidationError("unknown group '\(text)': use a group name from /etc/group or a numeric gid")
        }
        return entry.pointee.gr_gid
    }
}
