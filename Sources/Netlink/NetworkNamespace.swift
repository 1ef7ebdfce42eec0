import CLinuxNet
import CLinuxSystem
import Glibc
import SystemPackage
import QNetSystem

/// A named network namespace, as `ip netns` manages them under /run/netns.
///
/// Kernel quirk: `setns(2)` changes only the calling thread, and sockets and
/// /dev/net/tun descriptors stay bound to the namespace they were opened in. So qnet
/// enters a namespace, opens what it needs, and returns, all on one thread
/// (``withEntered(_:)``); the descriptors keep working from any thread afterwards.
public struct NetworkNamespace: Sendable, Equatable {
    public let name: String

    public static let directory = "/run/netns"

    public init(name: String) { self.name = name }

    public var path: String { "\(Self.directory)/\(name)" }

    /// Runs `body` with the calling thread inside this namespace and switches back
    /// before returning, even when `body` throws.
    ///
    /// Equivalent to `ip netns exec NAME` for the descriptors `body` opens. Needs
    /// CAP_SYS_ADMIN.
    public func withEntered<T>(_ body: () throws -> T) throws -> T {
        let target = qnet_open(path, O_RDONLY)
        guard target >= 0 else {
            let errno = Errno(rawValue: Glibc.errno)
            throw NamespaceError.open(name: name, path: path, errno: errno)
        }
        defer { Glibc.close(target) }
        let original = qnet_open("/proc/thread-self/ns/net", O_RDONLY)
        guard original >= 0 else {
            throw NamespaceError.open(name: "current", path: "/proc/thread-self/ns/net", errno: Errno(rawValue: Glibc.errno))
        }
        defer { Glibc.close(original) }
        guard qnet_setns_net(target) == 0 else {
            throw NamespaceError.enter(name: name, errno: Errno(rawValue: Glibc.errno))
        }
        defer {
            // Returning to the namespace we came from cannot fail for a thread that was
            // just in it; if it ever does, continuing would act on the wrong host.
            if qnet_setns_net(original) != 0 { fatalError("qnet: cannot return to the original network namespace") }
        }
        return try body()
    }

    /// Moves the calling thread into this namespace for good (used once, at CLI start-up,
    /// before any other thread exists, so that everything after runs inside it).
    public func enterPermanently() throws {
        let target = qnet_open(path, O_RDONLY)
        guard target >= 0 else { throw NamespaceError.open(name: name, path: path, errno: Errno(rawValue: Glibc.errno)) }
        defer { Glibc.close(target) }
        guard qnet_setns_net(target) == 0 else { throw NamespaceError.enter(name: name, errno: Errno(rawValue: Glibc.errno)) }
    }
}

public enum NamespaceError: UserFacingError, Equatable {
    case open(name: String, path: String, errno: Errno)
    case enter(name: String, errno: Errno)
    case create(name: String, errno: Errno)
    case delete(name: String, errno: Errno)

    public var description: String {
        switch self {
        case let .open(name, path, errno):
            if errno == .noSuchFileOrDirectory {
                return "network namespace '\(name)' does not exist (no \(path)); create it with `ip netns add \(name)` or pick one from /run/netns"
            }
            return "cannot open network namespace '\(name)' at \(path): \(errno)"
        case let .enter(name, errno):
            return "cannot enter network namespace '\(name)': \(errno) (needs CAP_SYS_ADMIN)"
        case let .create(name, errno):
            if errno == .fileExists { return "network namespace '\(name)' already exists" }
            return "cannot create network namespace '\(name)': \(errno) (needs CAP_SYS_ADMIN)"
        case let .delete(name, errno):
            return "cannot delete network namespace '\(name)': \(errno)"
        }
    }
}

extension NetworkNamespace {
    /// Whether /run/netns/NAME exists.
    public var exists: Bool { access(path, F_OK) == 0 }

    /// Creates the namespace. Equivalent to `ip netns add NAME`. Needs CAP_SYS_ADMIN.
    public func create() throws {
        guard qnet_netns_create(Self.directory, path) == 0 else {
            let errno = Errno(rawValue: Glibc.errno)
            throw NamespaceError.create(name: name, errno: errno)
        }
    }

    /// Removes the namespace; devices inside it go with it once nothing else holds it.
    /// Equivalent to `ip netns delete NAME`. Needs CAP_SYS_ADMIN.
    public func delete() throws {
        guard qnet_netns_delete(path) == 0 else {
            throw NamespaceError.delete(name: name, errno: Errno(rawValue: Glibc.errno))
        }
    }

    /// Opens the namespace file (for IFLA_NET_NS_FD); the caller closes it.
    public func openDescriptor() throws -> Int32 {
        let descriptor = qnet_open(path, O_RDONLY)
        guard descriptor >= 0 else { throw NamespaceError.open(name: name, path: path, errno: Errno(rawValue: Glibc.errno)) }
        return descriptor
    }
}
