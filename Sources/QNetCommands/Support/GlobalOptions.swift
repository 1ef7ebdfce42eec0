import ArgumentParser
import CLinuxSystem
import Glibc
import HostNetwork
import Netlink

/// Options every command takes.
public struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Act inside the named network namespace (/run/netns/NAME), like `ip -n NAME`.", valueName: "name"))
    public var netns: String?

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Keep qnet's state under DIR instead of /run/qnet and /var/lib/qnet (also $QNET_STATE_DIR).", valueName: "dir"))
    public var stateDirectory: String?

    public init() {}

    public func validate() throws {
        if let netns, let problem = Self.problem(withNamespace: netns) { throw ValidationError(problem) }
    }

    /// Why `name` cannot be a namespace name (one line), nil when it can.
    static func problem(withNamespace name: String) -> String? {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            return "invalid network namespace name '\(name)': use a name from /run/netns (no '/')"
        }
        return nil
    }

    /// Moves this (single-threaded) process into the namespace for good, and remounts
    /// /sys privately so /sys/class/net shows that namespace — what `ip netns exec` does.
    /// Then opens the host network API there.
    public func openHost() throws -> HostNetwork {
        try Self.openHost(netns: netns, stateDirectory: stateDirectory)
    }

    /// `openHost()` for options read without the parser (`FastPath`). `sysfs: false` leaves
    /// /sys as it is, for a command that reads nothing under /sys/class/net (`tap create`
    /// and `show`, whose every answer comes over rtnetlink): the remount's `umount2("/sys")`
    /// waits for the kernel to detach the old mount, the largest single system call of a
    /// `qnet --netns NS tap create` (`ip -n NS` pays it in every process).
    static func openHost(netns: String?, stateDirectory: String?, sysfs: Bool = true) throws -> HostNetwork {
        if let stateDirectory { setenv("QNET_STATE_DIR", stateDirectory, 1) }
        if let netns {
            let namespace = NetworkNamespace(name: netns)
            do { try namespace.enterPermanently() } catch let error as NamespaceError { throw HostNetworkError.namespace(error) }
            if sysfs, qnet_unshare_mount_namespace() == 0 { _ = qnet_remount_sysfs() }
        }
        return try HostNetwork()
    }
}
