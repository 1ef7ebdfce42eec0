import Glibc
import QNetSystem

/// The uids qnet gives VMs' QEMUs: each running VM's QEMU runs as its own uid, with a group
/// of the same number and no other groups, allocated when the VM starts and free again once
/// its state is gone. Like systemd's DynamicUser: no account in /etc/passwd, nothing on disk
/// owned by it, so one VM's QEMU can neither signal, ptrace nor read another's, nor reach
/// anything on the host that only the `qnet` or the invoking user may use.
///
/// The range defaults to 1879048192-1879113727 (0x70000000-0x7000FFFF: above the ranges
/// systemd-nspawn (0x80000-0x6FFFFFFF) and systemd's DynamicUser (61184-65519) use, below
/// 2^31); `QNET_UID_RANGE=FIRST-LAST` or `vm run --uid-range FIRST-LAST` moves it.
/// A uid that names an account, that any process runs as, or that another VM's state or
/// starting record holds is skipped. Equivalent to systemd's `DynamicUser=yes`.
public struct VMUserRange: Equatable, Sendable, CustomStringConvertible {
    public var first: uid_t
    public var last: uid_t

    public static let `default` = VMUserRange(first: 0x7000_0000, last: 0x7000_FFFF)
    public static let environmentVariable = "QNET_UID_RANGE"

    public init(first: uid_t, last: uid_t) {
        self.first = first
        self.last = last
    }

    /// "FIRST-LAST", both above 0 and below 2^31 - 1, FIRST <= LAST.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let first = uid_t(parts[0]), let last = uid_t(parts[1]), first > 0, first <= last,
              last < 0x7FFF_FFFF else {
            throw VMError.invalidValue(what: "uid range", value: text,
                                       allowed: "use FIRST-LAST with 0 < FIRST <= LAST < 2147483647, e.g. 1879048192-1879113727")
        }
        self.init(first: first, last: last)
    }

    /// `QNET_UID_RANGE` when set, else the default.
    public static func configured() throws -> VMUserRange {
        guard let value = getenv(environmentVariable).map({ String(cString: $0) }), !value.isEmpty else { return .default }
        return try VMUserRange(parsing: value)
    }

    public var description: String { "\(first)-\(last)" }

    /// The lock every allocation holds, so two `vm run`s never pick the same uid.
    static let lockScope = try! HostLockScope(key: "vm-uid-range", displayName: "the VM uid range")

    /// The account for VM `vm`'s QEMU: the lowest free uid of the range. Call under the
    /// range lock, and record the uid (starting record) before releasing it.
    func allocate(for vm: String, taken: Set<uid_t>) throws -> UserAccount {
        let running = Self.uidsOfRunningProcesses()
        var uid = first
        while true {
            if !taken.contains(uid) && !running.contains(uid) && UserIdentity.lookup(String(uid)) == nil && Self.groupIsFree(uid) {
                return UserAccount(name: "qnet-vm-\(uid)", uid: uid, gid: uid, groups: [uid])
            }
            guard uid < last else { break }
            uid += 1
        }
        throw VMError.noFreeUID(range: description)
    }

    /// Whether no group has the number `gid` (the VM's group must be its own too).
    static func groupIsFree(_ gid: gid_t) -> Bool {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        return getgrgid_r(gid, &entry, &buffer, buffer.count, &result) == 0 && result == nil
    }

    /// The real, effective, saved and filesystem uids of every process (/proc/PID/status "Uid:").
    static func uidsOfRunningProcesses() -> Set<uid_t> {
        var uids: Set<uid_t> = []
        for entry in FileSystem.list("/proc") where entry.first?.isNumber == true {
            guard let status = try? FileSystem.readText("/proc/\(entry)/status"),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { continue }
            for field in line.dropFirst(4).split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                if let uid = uid_t(field) { uids.insert(uid) }
            }
        }
        return uids
    }
}
