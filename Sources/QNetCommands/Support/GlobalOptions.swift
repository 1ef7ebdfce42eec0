import ArgumentParser
import CLinuxNet
import Glibc
import HostNetwork
import Netlink

/// Options every command takes.
public struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Act inside the named network namespace (/run/netns/NAME), like `ip -n NAME`.", valueName: "name"))
    public var netns: String?

    public init() {}

    public func validate() throws {
        if let netns {
            guard !netns.isEmpty, !netns.contains("/"), netns != ".", netns != ".." else {
                throw ValidationError("invalid network namespace name '\(netns)': use a name from /run/netns (no '/')")
            }
        }
    }

    /// Moves this (single-threaded) process into the namespace for good, and remounts
    /// /sys privately so /sys/class/net shows that namespace — what `ip netns exec` does.
    /// Then opens the host network API there.
    public func openHost() throws -> HostNetwork {
        if let netns {
            let namespace = NetworkNamespace(name: netns)
            do { try namespace.enterPermanently() } catch let error as NamespaceError { throw HostNetworkError.namespace(error) }
            if qnet_unshare_mount_namespace() == 0 { _ = qnet_remount_sysfs() }
        }
        return try HostNetwork()
    }
}
