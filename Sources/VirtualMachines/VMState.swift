import Glibc
import QEMU
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import QNetSystem

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
        try FileSystem.writeAtomically(stateFile(for: state.name), Array(data))
    }

    static func load(_ name: String) -> VMState? {
        guard let bytes = try? FileSystem.readBytes(stateFile(for: name)) else { return nil }
        return try? JSONDecoder().decode(VMState.self, from: Data(bytes))
    }

    /// Every VM directory's state (directories without a readable state are included as nil).
    static func all() -> [(name: String, state: VMState?)] {
        FileSystem.list(QNetPaths.vms).map { ($0, load($0)) }
    }

    static func remove(_ name: String) { FileSystem.removeTree(directory(for: name)) }

    /// Whether a live qnet process is still setting this VM up (its `starting` marker
    /// names a running process).
    static func isBeingStarted(_ name: String) -> Bool {
        guard let text = (try? FileSystem.readText("\(directory(for: name))/starting")),
              let pid = Int32(text.filter { $0.isNumber }), pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }
}

/// Whether a recorded pid is still the process qnet started.
enum ProcessInfoReader {
    /// Whether `pid` is still the process that was started (same start time, not a zombie).
    /// A start time of 0 means it could not be read when the process started: the pid
    /// alone has to do.
    static func isAlive(_ pid: Int32, startTime: UInt64) -> Bool {
        guard pid > 0 else { return false }
        if startTime == 0 { return ProcessIdentity.of(pid) != nil }
        return ProcessIdentity(pid: pid, startTime: startTime, executable: nil).isRunning
    }
}
