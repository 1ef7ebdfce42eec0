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
    /// A passthrough NIC's PCI function (backend "vfio"): `pci=` as given, a VF's own address.
    public var pci: String?
    /// `vf=PF:INDEX` of a VF NIC, and the VLAN the host tags it with.
    public var vf: String?
    public var vlan: Int?
}

/// What qnet records for a running VM in /run/qnet/vms/NAME/state.json.
public struct VMState: Codable, Equatable, Sendable {
    public var name: String
    public var pid: Int32
    /// The process's start time in clock ticks since boot (/proc/PID/stat field 22), so
    /// a recycled pid is never mistaken for the VM.
    public var startTime: UInt64
    /// Where /proc/PID/exe of QEMU pointed right after it was spawned; checked with the
    /// start time before qnet signals the pid (nil in states written before it was recorded).
    public var executable: String?
    /// The `qnet vm run` still starting this VM (QEMU spawned, not yet continued); nil
    /// once it runs. A state whose starter is dead is an interrupted start: the next
    /// command adopts the QEMU when it runs, or kills it.
    public var starter: ProcessIdentity?
    public var qemu: String
    public var arguments: [String]
    public var qmpSocket: String
    public var consoleLog: String
    public var qemuLog: String
    public var accel: Acceleration
    public var user: String
    /// QEMU's uid (its own from the VM uid range unless `--user` named one); nil in states
    /// written before it was recorded.
    public var uid: UInt32?
    public var netns: String?
    public var startedAt: Double
    public var nics: [NICState]
    /// passt daemons serving user-mode NICs (stopped with the VM).
    public var passt: [PasstProcess] = []
    /// The anti-spoofing filters of its bridge ports (nil: none), removed with the VM.
    public var portFilters: [PortFilter]?
    /// Its passthrough NICs' functions, group nodes and VF settings (nil: none), given back with the VM.
    public var passthrough: [PassthroughRecord]?
    public var definition: VMDefinition

    public var directory: String { VMStore.directory(for: name) }

    /// Which process QEMU is: pid, start time and executable.
    public var qemuIdentity: ProcessIdentity { ProcessIdentity(pid: pid, startTime: startTime, executable: executable) }

    /// Whether QEMU is still the process that was started. A start time of 0 (unreadable
    /// at start) never matches: a bare pid from a file is not trusted.
    /// And it carries this VM's directory in its environment (`QNET_VM_DIRECTORY`, set by
    /// qnet at the spawn): a pid, start time and executable copied into a state file from
    /// some other process's /proc never make qnet signal that process.
    public var qemuIsAlive: Bool {
        pid > 0 && startTime != 0 && qemuIdentity.isRunning && VMManager.environment(of: pid, names: directory)
    }
}

/// What `vm run` writes into the VM's directory before it changes anything: who is
/// starting the VM and which QEMU binary it will spawn, so that after a kill before
/// state.json names QEMU, the next command can still find that QEMU (by executable and
/// its `-pidfile` argument, which names this VM's directory) and kill it.
public struct StartingRecord: Codable, Equatable, Sendable {
    public var starter: ProcessIdentity
    public var qemu: String
    /// The uid QEMU will run as (allocated from the VM uid range, or `--user`'s).
    public var uid: UInt32?
    /// passt daemons started so far for user-mode NICs (nil before the first).
    public var passt: [PasstProcess]?
    /// Passthrough NICs, each step recorded before it is taken (nil before the first).
    public var passthrough: [PassthroughRecord]?

    public init(starter: ProcessIdentity, qemu: String, uid: UInt32? = nil, passt: [PasstProcess]? = nil,
                passthrough: [PassthroughRecord]? = nil) {
        self.starter = starter
        self.qemu = qemu
        self.uid = uid
        self.passt = passt
        self.passthrough = passthrough
    }
}

/// Whether a recorded pid is still the process qnet started.
enum ProcessInfoReader {
    /// Whether `pid` is still the process that was started (same start time, not a zombie).
    /// A start time of 0 means it could not be read when the process started: the pid
    /// alone has to do.
    static func isAlive(_ pid: Int32, startTime: UInt64) -> Bool {
        guard pid > 0 else { return false }
        if startTime == 0 { return ProcessIdentity.of(pid) != nil }  // passt whose start time was unreadable
        return ProcessIdentity(pid: pid, startTime: startTime, executable: nil).isRunning
    }
}
