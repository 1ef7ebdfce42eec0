import CLinuxSystem
import Glibc
import SystemPackage

/// Which network namespace the calling thread is in, by the kernel's identity of it rather
/// than by a name: the device and inode of /proc/thread-self/ns/net (what `stat -L
/// /proc/self/ns/net` shows, and what `ip netns identify` compares), plus the namespace's
/// cookie where the kernel has one.
///
/// Names are not identities: `/run/netns/lab` can be deleted and made again, and the same
/// namespace can have several names (or none). Inode numbers of namespaces are reused soon
/// after a namespace dies; the cookie (SO_NETNS_COOKIE, Linux 5.14) never is during a boot,
/// so a journal left for a namespace that no longer exists is not applied to a new one
/// that got its inode.
public struct NetworkNamespaceIdentity: Codable, Hashable, Sendable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    /// SO_NETNS_COOKIE of a socket made in the namespace; nil on kernels without it.
    public var cookie: UInt64?

    public init(device: UInt64, inode: UInt64, cookie: UInt64?) {
        self.device = device
        self.inode = inode
        self.cookie = cookie
    }

    /// The namespace of the calling thread (setns(2) changes only the thread that calls it).
    public static func current() throws -> NetworkNamespaceIdentity {
        let path = "/proc/thread-self/ns/net"
        var info = stat()
        guard stat(path, &info) == 0 else { throw SystemError.lastError("stat", path: path) }
        return NetworkNamespaceIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), cookie: currentCookie())
    }

    /// `getsockopt(SO_NETNS_COOKIE)` on a throwaway socket: sockets belong to the namespace
    /// they were made in. nil when the kernel predates the option (ENOPROTOOPT).
    static func currentCookie() -> UInt64? {
        let fd = socket(AF_UNIX, QNET_SOCK_DGRAM | QNET_SOCK_CLOEXEC, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var cookie: UInt64 = 0
        var length = socklen_t(MemoryLayout<UInt64>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &length) == 0 else { return nil }
        return cookie
    }

    /// Whether `other` (read now) is the namespace this identity was taken from: same
    /// device and inode, and the same cookie when both are known.
    public func isSameNamespace(as other: NetworkNamespaceIdentity) -> Bool {
        guard device == other.device, inode == other.inode else { return false }
        if let cookie, let otherCookie = other.cookie { return cookie == otherCookie }
        return true
    }

    /// `net:[4026531840]`, as /proc/PID/ns/net reads.
    public var description: String { "net:[\(inode)]" }
}

/// What a host lock protects: its key (the lock file's and the journal's name) and how to
/// name it to a person.
public struct HostLockScope: Hashable, Sendable, CustomStringConvertible {
    /// One path component: `netns-3-4026531840`, `vm-web`, `net-default`.
    public let key: String
    /// `network namespace lab`, `VM web`, `network default`.
    public let displayName: String

    public init(key: String, displayName: String) throws {
        guard !key.isEmpty, !key.contains("/"), !key.hasPrefix("."), key.utf8.count <= 200 else {
            throw SystemError(errno: .invalidArgument, operation: "use as a lock name (one path component, not hidden)", path: key)
        }
        self.key = key
        self.displayName = displayName
    }

    /// Everything that changes links, addresses, routes, nftables, sysctls or dnsmasq in one
    /// network namespace. `name` (from --netns) is only for messages.
    public static func networkNamespace(_ identity: NetworkNamespaceIdentity, name: String?) -> HostLockScope {
        // The key is digits only: always a valid component.
        try! HostLockScope(key: "netns-\(identity.device)-\(identity.inode)",
                           displayName: name.map { "network namespace \($0)" } ?? "the network namespace (\(identity))")
    }

    /// One VM, by name (its start, stop and state).
    public static func virtualMachine(_ name: String) throws -> HostLockScope {
        try HostLockScope(key: "vm-\(name)", displayName: "VM \(name)")
    }

    /// One named network, by name (its start, stop, definition).
    public static func network(_ name: String) throws -> HostLockScope {
        try HostLockScope(key: "net-\(name)", displayName: "network \(name)")
    }

    public var description: String { displayName }
}

/// Another qnet command holds the lock: who, and what it is doing.
public struct HostLockBusy: Error, Equatable, Sendable, CustomStringConvertible {
    public var scope: HostLockScope
    public var holder: pid_t?
    /// The holder's command line, as it recorded it.
    public var command: String?

    public init(scope: HostLockScope, holder: pid_t?, command: String?) {
        self.scope = scope
        self.holder = holder
        self.command = command
    }

    /// `network namespace lab is being changed by pid 4242 (`qnet bridge create br0 --uplink eth0`)`.
    public var description: String {
        let who = holder.map { "pid \($0)" } ?? "another process"
        return "\(scope.displayName) is being changed by \(who)" + (command.map { " (`\($0)`)" } ?? "")
    }
}

/// An exclusive lock on one part of the host (a network namespace, a VM, a network), held
/// by a command that changes it for as long as it runs. Equivalent to
/// `flock --wait T DIR/KEY.lock COMMAND`.
///
/// It is a `FileLock` (flock(2)) on `DIR/KEY.lock`: the kernel drops it when the holder dies,
/// however it dies, so a lock is never left stale. The holder writes its pid and command
/// line into the file for the message a second command prints. Lock files are never
/// deleted (deleting one while another process waits on it would let two holders in).
///
/// Order, to avoid deadlocks between commands: per-name locks (VMs, networks, sorted by
/// key) first, the namespace lock last. Read-only commands take none.
public final class HostLock: Sendable {
    public let scope: HostLockScope
    private let lock: FileLock

    private init(scope: HostLockScope, lock: FileLock) {
        self.scope = scope
        self.lock = lock
    }

    /// Takes the lock for `scope` in `directory` (created 0755 when missing; see
    /// `DirectoryDescriptor.openState` for what is refused on the way), waiting up to
    /// `timeout` for another holder; `whileWaiting` hears once who that is. Throws
    /// `HostLockBusy` when the wait ends without the lock.
    public static func acquire(_ scope: HostLockScope, in directory: String, command: String,
                               timeout: Duration, whileWaiting: ((HostLockBusy) -> Void)? = nil) throws -> HostLock {
        // Every level opened with O_NOFOLLOW and checked (owner, mode), the file relative to
        // the directory's descriptor: a symlink or another user's file at the lock's path is
        // refused and left alone, never written (a --state-dir in /tmp is someone else's to plant in).
        guard let locks = try DirectoryDescriptor.openState(directory, mode: 0o755) else {
            throw SystemError(errno: .noSuchFileOrDirectory, operation: "open lock directory", path: directory)
        }
        do {
            let lock = try FileLock.acquire("\(scope.key).lock", in: locks, timeout: timeout, mode: 0o644, note: command,
                                            whileWaiting: whileWaiting.map { report in
                { busy in report(HostLockBusy(scope: scope, holder: busy.holder, command: busy.holderNote)) }
            })
            return HostLock(scope: scope, lock: lock)
        } catch let busy as FileLockBusy {
            throw HostLockBusy(scope: scope, holder: busy.holder, command: busy.holderNote)
        }
    }

    /// Lets go (also when the value is released, and by the kernel when the process dies).
    public func release() { lock.release() }
}
