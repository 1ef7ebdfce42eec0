import Glibc
import QEMU
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One NIC of a running VM: the TAP qnet made for it and where it is attached.
public struct NICState: Codable, Equatable, Sendable {
    /// The TAP (empty for user-mode NICs).
    public var tap: String
    /// The bridge (empty for user-mode NICs).
    public var bridge: String
    /// "tap", or the user-mode backend: "slirp" or "passt".
    public var backend: String = "tap"
    /// User-mode port forwards, as QEMU's hostfwd syntax.
    public var forwards: [String] = []
    /// The named network, when the NIC was given as `network=NAME`.
    public var network: String?
    public var mac: String
    public var model: NICModel
    public var queues: Int
}

/// What qnet records for a running VM in /run/qnet/vms/NAME/state.json.
public struct VMState: Codable, Equatable, Sendable {
    public var name: String
    public var pid: Int32
    /// The process's start time in clock ticks since boot (/proc/PID/stat field 22), so
    /// a recycled pid is never mistaken for the VM.
    public var startTime: UInt64
    public var qemu: String
    public var arguments: [String]
    public var qmpSocket: String
    public var consoleLog: String
    public var qemuLog: String
    public var accel: Acceleration
    public var user: String
    public var netns: String?
    public var startedAt: Double
    public var nics: [NICState]
    /// passt daemons serving user-mode NICs (stopped with the VM).
    public var passt: [PasstProcess] = []
    public var definition: VMDefinition

    public var directory: String { VMStore.directory(for: name) }
}

/// The per-VM directories under /run/qnet/vms.
public enum VMStore {
    public static func directory(for name: String) -> String { "\(QNetPaths.vms)/\(name)" }
    static func stateFile(for name: String) -> String { "\(directory(for: name))/state.json" }

    static func save(_ state: VMState) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(state)
        try writeFileAtomically(stateFile(for: state.name), Array(data))
    }

    static func load(_ name: String) -> VMState? {
        guard let bytes = readFile(stateFile(for: name)) else { return nil }
        return try? JSONDecoder().decode(VMState.self, from: Data(bytes))
    }

    /// Every VM directory's state (directories without a readable state are included as nil).
    static func all() -> [(name: String, state: VMState?)] {
        listDirectory(QNetPaths.vms).map { ($0, load($0)) }
    }

    static func remove(_ name: String) { removeTree(directory(for: name)) }

    /// Whether a live qnet process is still setting this VM up (its `starting` marker
    /// names a running process).
    static func isBeingStarted(_ name: String) -> Bool {
        guard let text = readText("\(directory(for: name))/starting"),
              let pid = Int32(text.filter { $0.isNumber }), pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }
}

/// Process facts from /proc.
enum ProcessInfoReader {
    /// Field 22 of /proc/PID/stat (after the parenthesised command name).
    static func startTime(of pid: Int32) -> UInt64? {
        guard let text = readText("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Whether `pid` is still the process that was started (same start time, not a zombie).
    static func isAlive(_ pid: Int32, startTime: UInt64) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let text = readText("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return false }
        let fields = text[text.index(after: close)...].split(separator: " ")
        if fields.first == "Z" || fields.first == "X" { return false }
        // A start time of 0 means it could not be read when the process started: the pid
        // alone has to do.
        return startTime == 0 || self.startTime(of: pid) == startTime
    }
}
