import CLinuxSystem
import Glibc
import SystemPackage

/// What a receive found before its deadline.
public enum QMPReceived: Equatable, Sendable {
    /// One line, without its "\r\n".
    case line(String)
    /// The deadline passed with no complete line.
    case deadlinePassed
    /// The peer closed the connection (QEMU exited or quit).
    case endOfStream
}

/// A line-oriented byte stream to QEMU's monitor. `QMPClient` speaks QMP over it; tests
/// substitute a fake that records what was sent and plays back scripted replies.
public protocol QMPTransport: AnyObject {
    /// Sends one line (a command followed by "\n"). A `descriptor`, when given, travels
    /// with the line's bytes as SCM_RIGHTS; the caller keeps its own copy open.
    func sendLine(_ line: String, passing descriptor: Int32?, before deadline: ContinuousClock.Instant) throws
    /// The next line QEMU sent, waiting at most until `deadline`.
    func receiveLine(before deadline: ContinuousClock.Instant) throws -> QMPReceived
    /// Closes the connection (idempotent).
    func close()
}

/// QMP over a UNIX stream socket, as QEMU serves it with
/// `-chardev socket,id=qmp0,path=PATH,server=on,wait=off -mon chardev=qmp0,mode=control`
/// (or `-qmp unix:PATH,server=on,wait=off`). Equivalent to `socat - UNIX-CONNECT:PATH`.
///
/// Non-blocking socket, poll(2) with deadlines for every read and write. Needs permission
/// to connect to the socket file (QEMU creates it with its own owner and umask).
public final class UnixSocketTransport: QMPTransport {
    /// The connected socket (owned: closed by `close()` and on deinit).
    public private(set) var descriptor: Int32
    private var buffer: [UInt8] = []
    /// A line longer than this is a broken peer (query-qmp-schema, the longest reply, is ~200 KB).
    public static let maximumLineBytes = 64 << 20

    /// Connects to the socket at `path`, retrying while it is absent or refuses
    /// (QEMU creates it a moment after it starts) until `timeout` passes or `keepTrying`
    /// returns false (e.g. "QEMU has exited").
    ///
    /// Kernel quirk: a UNIX socket path is limited to 107 bytes; a longer path is reached
    /// through its directory's descriptor as /proc/self/fd/N/NAME.
    public init(connectingTo path: String, timeout: Duration = .seconds(10), keepTrying: () -> Bool = { true }) throws {
        let deadline = ContinuousClock.now + timeout
        var directory: Int32 = -1
        defer { if directory >= 0 { Glibc.close(directory) } }
        var connectPath = path
        if path.utf8.count > Int(QNET_UNIX_PATH_MAX), let slash = path.lastIndex(of: "/") {
            let parent = slash == path.startIndex ? "/" : String(path[..<slash])
            directory = open(parent, O_RDONLY | O_CLOEXEC)
            guard directory >= 0 else { throw QMPError.connectFailed(path: path, errno: Errno(rawValue: errno)) }
            connectPath = "/proc/self/fd/\(directory)/" + path[path.index(after: slash)...]
        }
        while true {
            let fd = qnet_unix_stream_socket()
            guard fd >= 0 else { throw QMPError.io(operation: "socket", errno: Errno(rawValue: errno)) }
            if qnet_unix_connect(fd, connectPath) == 0 {
                descriptor = fd
                return
            }
            let error = Errno(rawValue: errno)
            Glibc.close(fd)
            // ENOENT/ECONNREFUSED: not listening yet; EAGAIN: its backlog is full.
            let transient = error == .noSuchFileOrDirectory || error == .connectionRefused || error == .resourceTemporarilyUnavailable
            guard transient, keepTrying(), ContinuousClock.now < deadline else {
                throw QMPError.connectFailed(path: path, errno: error)
            }
            usleep(10_000)  // retry interval; bounded by the connect deadline
        }
    }

    /// Takes ownership of a connected stream socket (made non-blocking here).
    public init(adopting descriptor: Int32) {
        self.descriptor = descriptor
        let flags = fcntl(descriptor, F_GETFL)
        if flags >= 0 { _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) }
    }

    deinit { close() }

    public func close() {
        if descriptor >= 0 {
            Glibc.close(descriptor)
            descriptor = -1
        }
    }

    public func sendLine(_ line: String, passing passed: Int32?, before deadline: ContinuousClock.Instant) throws {
        guard descriptor >= 0 else { throw QMPError.connectionClosed(waitingFor: "sending a command") }
        let bytes = Array((line.hasSuffix("\n") ? line : line + "\n").utf8)
        var offset = 0
        var pendingDescriptor = passed ?? -1
        while offset < bytes.count {
            // The descriptor rides on the first bytes that go out; QEMU keeps it with the
            // connection until the command (getfd/add-fd) that reads it.
            let sent = bytes.withUnsafeBytes { raw in
                qnet_send_with_descriptor(descriptor, raw.baseAddress! + offset, raw.count - offset, pendingDescriptor)
            }
            if sent > 0 {
                offset += sent
                pendingDescriptor = -1
                continue
            }
            let error = Errno(rawValue: errno)
            switch error {
            case .interrupted: continue
            case .resourceTemporarilyUnavailable:
                guard try wait(for: Int16(POLLOUT), until: deadline) else {
                    // The socket buffer stayed full: QEMU is not reading its monitor.
                    throw QMPError.io(operation: "send (QEMU is not reading its monitor)", errno: .timedOut)
                }
            case .brokenPipe, .connectionReset: throw QMPError.connectionClosed(waitingFor: "sending a command")
            default: throw QMPError.io(operation: "send", errno: error)
            }
        }
    }

    public func receiveLine(before deadline: ContinuousClock.Instant) throws -> QMPReceived {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                var line = buffer[..<newline]
                if line.last == 0x0D { line = line.dropLast() }
                let text = String(decoding: line, as: UTF8.self)
                buffer.removeSubrange(...newline)
                return .line(text)
            }
            guard descriptor >= 0 else { return .endOfStream }
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                buffer += chunk[..<count]
                if buffer.count > Self.maximumLineBytes {
                    buffer.removeAll()
                    throw QMPError.malformedMessage("", reason: "a line longer than \(Self.maximumLineBytes) bytes")
                }
                continue
            }
            if count == 0 { return .endOfStream }
            let error = Errno(rawValue: errno)
            switch error {
            case .interrupted: continue
            case .resourceTemporarilyUnavailable:
                guard try wait(for: Int16(POLLIN), until: deadline) else { return .deadlinePassed }
            case .connectionReset: return .endOfStream
            default: throw QMPError.io(operation: "read", errno: error)
            }
        }
    }

    /// poll(2) until the socket is ready for `events` (true) or `deadline` passes (false).
    /// A hang-up counts as ready: the following read reports it.
    private func wait(for events: Int16, until deadline: ContinuousClock.Instant) throws -> Bool {
        while true {
            let remaining = deadline - ContinuousClock.now
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let milliseconds = remaining <= .zero ? 0 : Int32(clamping: Self.milliseconds(remaining))
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return true }
            if ready == 0 {
                if ContinuousClock.now >= deadline { return false }
                continue
            }
            if errno == EINTR { continue }
            throw QMPError.io(operation: "poll", errno: Errno(rawValue: errno))
        }
    }

    /// Rounded up, so a wait never ends just before its deadline.
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    }
}
