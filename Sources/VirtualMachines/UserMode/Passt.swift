import Glibc
import Netlink
import QEMU
import QNetSystem

/// How to start passt for one user-mode NIC.
///
/// passt (Debian 12: 0.0~git20230309) facts this relies on, checked with `passt --help`,
/// passt(1) and strace:
/// - `-f/--foreground`: no fork and no detached PID namespace, so the pid qnet spawned is
///   passt's (it only re-execs itself as passt.avx2 in place).
/// - `-s/--socket PATH` for QEMU's `-netdev stream`; `-P/--pid FILE` is written after the
///   forwarded ports are bound *and* the UNIX socket listens, so the pid file is the
///   readiness signal.
/// - `-1/--one-off`: passt quits once QEMU closes the socket, so it dies with the VM even
///   when qnet is not around (`kill -9` of QEMU included).
/// - `-t/-u [ADDR/]HOSTPORT:GUESTPORT` forward TCP/UDP host ports to the guest.
/// - Started as root, passt drops to `nobody` unless given `--runas`; qnet instead starts
///   it as QEMU's user (so QEMU may connect to the socket), and passes `--runas 0:0` only
///   when QEMU itself runs as root.
/// - Quirks handled: a failed bind of the UNIX socket is *not* reported (passt logs "UNIX
///   domain socket bound" and carries on), so qnet checks the socket directory beforehand
///   and waits for the socket itself. A forwarded port is all-or-nothing only per spec:
///   when no socket can be bound passt exits ("Failed to bind any port for '-t ...',
///   exiting"), but when its dual-stack `[::]` and its 0.0.0.0 bind fail and an IPv6-only
///   one succeeds, it carries on forwarding IPv6 clients only. `PortAvailability` catches
///   both before the start; afterwards qnet checks that passt holds a socket on every
///   forwarded port. Without `--log-file`, messages go to stderr and to syslog; where
///   there is no syslog each one is preceded by "Failed to send N bytes to syslog", which
///   qnet drops when quoting passt's output.
public struct PasstOptions: Equatable, Sendable {
    /// The UNIX socket QEMU connects to (at most 107 bytes).
    public var socketPath: String
    /// Where passt writes its pid; default: SOCKET.pid.
    public var pidFile: String
    /// passt's stdout and stderr (appended).
    public var logFile: String
    public var forwards: [PortForward]
    /// `--one-off`: exit when QEMU disconnects (default on).
    public var oneOff: Bool
    /// Appended verbatim (tests; options qnet does not model).
    public var extraArguments: [String]

    public init(socketPath: String, pidFile: String? = nil, logFile: String, forwards: [PortForward] = [],
                oneOff: Bool = true, extraArguments: [String] = []) {
        self.socketPath = socketPath
        self.pidFile = pidFile ?? socketPath + ".pid"
        self.logFile = logFile
        self.forwards = forwards
        self.oneOff = oneOff
        self.extraArguments = extraArguments
    }

    /// passt's argv after the program name, e.g.
    /// `--foreground --quiet --one-off --socket S --pid P -t 127.0.0.1/8080:80 -u 5353:53`.
    /// `runAsRoot`: passt would otherwise switch to `nobody`, so `--runas 0:0` keeps it root.
    public func arguments(runAsRoot: Bool = false) -> [String] {
        var arguments = ["--foreground", "--quiet"]
        if oneOff { arguments.append("--one-off") }
        arguments += ["--socket", socketPath, "--pid", pidFile]
        if runAsRoot { arguments += ["--runas", "0:0"] }
        for forward in forwards {
            arguments += [forward.transportProtocol == .tcp ? "-t" : "-u", Self.portSpec(forward)]
        }
        return arguments + extraArguments
    }

    /// passt's `[ADDRESS/]HOSTPORT:GUESTPORT`.
    static func portSpec(_ forward: PortForward) -> String {
        let address = forward.hostAddress.map { "\($0.description)/" } ?? ""
        return "\(address)\(forward.hostPort):\(forward.guestPort)"
    }
}

/// A running passt, supervised by qnet: started for one NIC, stopped with the VM.
///
/// Equivalent to `passt -f -1 -s SOCK -P PIDFILE -t ... &` run as QEMU's user. Codable so
/// the VM's state can record it and a later `qnet vm stop` can stop it.
public struct PasstProcess: Codable, Equatable, Sendable {
    public var pid: Int32
    /// /proc/PID/stat start time, so a recycled pid is never signalled.
    public var startTime: UInt64
    public var socketPath: String
    public var pidFile: String
    public var logFile: String
    /// Where /proc/PID/exe pointed once passt listened (passt may exec passt.avx2 first);
    /// checked with the start time before the pid is signalled (nil: not read).
    public var executable: String?

    /// The passt executable on PATH, or nil.
    public static func locate() -> String? { Subprocess.which("passt") }

    /// Starts passt as `user` (nil: the calling user) and waits until its socket listens.
    ///
    /// - namespace: the network namespace passt (and so its forwarded ports) lives in; nil
    ///   for the current one.
    /// - Throws `UserModeError`: passt missing, socket path too long or its directory not
    ///   writable by the user, passt exiting early (with what it printed), no socket within
    ///   `timeout`, or a forwarded port passt did not get.
    /// Needs CAP_SETUID/CAP_SETGID when `user` differs from the caller.
    public static func start(_ options: PasstOptions, user: UserAccount?, namespace: NetworkNamespace? = nil,
                             timeout: Double = 10, executable: String? = nil) throws -> PasstProcess {
        guard let program = executable ?? locate() else { throw UserModeError.passtNotInstalled }
        let socketPath = options.socketPath
        guard socketPath.hasPrefix("/"), socketPath.utf8.count <= 107, !socketPath.contains("\n") else {
            throw UserModeError.invalidValue(what: "passt socket path", value: socketPath,
                                             allowed: "use an absolute path of at most 107 bytes (the UNIX socket limit)")
        }
        let directory = socketPath.lastIndex(of: "/").map { String(socketPath[..<$0]) } ?? "/"
        var info = stat()
        guard stat(directory.isEmpty ? "/" : directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw UserModeError.passtSocketDirectoryMissing(directory: directory)
        }
        if let user, !user.canAccess(directory.isEmpty ? "/" : directory, write: true) {
            throw UserModeError.passtSocketDirectoryNotWritable(directory: directory, user: user.name)
        }
        // Leftovers of an earlier run would look like a ready passt.
        unlink(socketPath)
        unlink(options.pidFile)

        let output: Int32
        do { output = try VMStore.openForAppending(options.logFile, mode: 0o640) } catch let error as SystemError {
            throw UserModeError.passtStartFailed(error)
        }
        defer { close(output) }
        let runsAsRoot = (user?.uid ?? geteuid()) == 0
        let arguments = options.arguments(runAsRoot: runsAsRoot)
        let command = Command(program, arguments, environment: ["PATH": Subprocess.defaultSearchPath], user: user)
        let spawn = { try Subprocess.startDetached(command, output: output) }
        let pid: Int32
        do {
            pid = try namespace.map { try $0.withEntered(spawn) } ?? spawn()
        } catch let error as SystemError {
            throw UserModeError.passtStartFailed(error)
        }
        let process = PasstProcess(pid: pid, startTime: ProcessIdentity.of(pid)?.startTime ?? 0, socketPath: socketPath,
                                   pidFile: options.pidFile, logFile: options.logFile)
        var succeeded = false
        defer { if !succeeded { process.stop(grace: 1) } }

        let deadline = monotonicSeconds() + timeout
        while true {
            if let status = Subprocess.reapIfExited(pid)?.description {
                throw UserModeError.passtExited(status: status, output: process.outputSummary())
            }
            if process.isReady { break }
            guard monotonicSeconds() < deadline else {
                throw UserModeError.passtTimeout(socketPath: socketPath, seconds: timeout, output: process.outputSummary())
            }
            usleep(10_000)  // poll interval; bounded by the start deadline
        }
        // Listening, so exec'd for good: its executable is part of its identity.
        var started = process
        started.executable = ProcessIdentity.of(pid)?.executable
        // passt carries on when only some sockets of a forward bind (none: it exits); make
        // sure it holds one on every forwarded port.
        if let missing = process.unboundForward(options.forwards) {
            throw UserModeError.portInUse(protocol: missing.transportProtocol.rawValue, port: missing.hostPort,
                                          address: missing.hostAddress?.description ?? "every address")
        }
        succeeded = true
        return started
    }

    /// Whether the pid file names this passt and the socket exists (passt writes the pid
    /// file only after its socket listens).
    var isReady: Bool {
        guard let text = pidFileText(), Int32(String(text.filter(\.isNumber))) == pid else { return false }
        var info = stat()
        return stat(socketPath, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK
    }

    /// The start of the pid file, read without following a symlink or blocking: passt writes
    /// it in a folder its own (the VM's) uid owns, so it may have put anything there (a
    /// link to /dev/zero or a FIFO would hang a plain read). Only its first bytes are read,
    /// and only from a regular file.
    func pidFileText() -> String? {
        guard let slash = pidFile.lastIndex(of: "/"),
              let directory = try? DirectoryDescriptor(opening: slash == pidFile.startIndex ? "/" : String(pidFile[..<slash]), followSymlinks: true),
              let fd = try? directory.openFile(String(pidFile[pidFile.index(after: slash)...]), flags: O_RDONLY | O_NONBLOCK) else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
    }

    /// Whether this passt is still running (same pid and start time, not a zombie).
    public var isAlive: Bool { ProcessInfoReader.isAlive(pid, startTime: startTime) }

    /// SIGTERM, then SIGKILL after `grace` seconds; reaps it when it is qnet's child, and
    /// removes its socket and pid file. Idempotent; never signals a recycled pid.
    public func stop(grace: Double = 3) {
        if startTime == 0 {
            // The start time could not be read at start: the pid alone has to do.
            if isAlive { Subprocess.stop(pid, grace: .seconds(grace)) }
        } else {
            Subprocess.stop(ProcessIdentity(pid: pid, startTime: startTime, executable: executable), grace: .seconds(grace))
        }
        unlink(socketPath)
        unlink(pidFile)
    }

    /// passt's output as one line: the syslog noise dropped, the usage text after an
    /// option error cut off, at most the last three lines.
    public func outputSummary() -> String {
        let lines = VMStore.readText(logFile).split(separator: "\n").map { $0.trimmingSpaces }
            .filter { !$0.isEmpty && !($0.hasPrefix("Failed to send ") && $0.hasSuffix(" bytes to syslog")) }
        var relevant = lines
        if let usage = lines.firstIndex(where: { $0.hasPrefix("Usage:") }) { relevant = Array(lines[..<usage]) }
        return relevant.suffix(3).joined(separator: " | ")
    }

    /// The first forward with no socket of passt's bound to its host port, or nil.
    /// Reads /proc/PID/fd (root, or passt's own user while it is dumpable); when that is
    /// not readable, nothing can be verified and nil is returned.
    func unboundForward(_ forwards: [PortForward]) -> PortForward? {
        guard !forwards.isEmpty else { return nil }
        var inodes: Set<String> = []
        for name in FileSystem.list("/proc/\(pid)/fd") {
            var buffer = [CChar](repeating: 0, count: 256)
            let count = readlink("/proc/\(pid)/fd/\(name)", &buffer, buffer.count - 1)
            guard count > 0 else { continue }
            let target = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if target.hasPrefix("socket:[") { inodes.insert(String(target.dropFirst(8).dropLast())) }
        }
        guard !inodes.isEmpty else { return nil }
        func boundPorts(_ tables: [String], listening: Bool) -> Set<UInt16> {
            var ports: Set<UInt16> = []
            for table in tables {
                // /proc/PID/net/* shows passt's network namespace.
                for line in ((try? FileSystem.readText("/proc/\(pid)/net/\(table)")) ?? "").split(separator: "\n").dropFirst() {
                    let fields = line.split(separator: " ")
                    guard fields.count > 9, inodes.contains(String(fields[9])), !listening || fields[3] == "0A",
                          let colon = fields[1].lastIndex(of: ":"), let port = UInt16(fields[1][fields[1].index(after: colon)...], radix: 16)
                    else { continue }
                    ports.insert(port)
                }
            }
            return ports
        }
        let tcp = boundPorts(["tcp", "tcp6"], listening: true)
        let udp = boundPorts(["udp", "udp6"], listening: false)
        return forwards.first { !($0.transportProtocol == .tcp ? tcp : udp).contains($0.hostPort) }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
    }
}
