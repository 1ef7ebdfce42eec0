import Glibc
import QNetSystem

/// Renders DOT text into a picture with Graphviz's `dot` (Debian package graphviz). Equivalent
/// to `dot -Tsvg FILE.dot -o FILE.svg`. Needs no capability.
public enum Graphviz {
    /// Picture formats `dot` is asked for (`-T`).
    public enum Format: String, CaseIterable, Sendable {
        case svg, png, dot
    }

    /// `dot` on the search path, or nil when Graphviz is not installed.
    public static func locate() -> String? { Subprocess.which("dot") }

    /// Runs `dot -TFORMAT` on `text` and returns the picture's bytes. The DOT text goes through
    /// an unlinked temporary file as dot's standard input (no pipe to fill, nothing left on disk).
    public static func render(_ text: String, format: Format, dot: String, timeout: Duration = .seconds(60)) throws -> [UInt8] {
        var template = Array("/tmp/qnet-graph-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw SystemError.lastError("mkstemp", path: "/tmp") }
        defer { close(fd) }
        unlink(template)
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw SystemError.lastError("write", path: "DOT text") }
            written += count
        }
        lseek(fd, 0, SEEK_SET)
        var command = Command(dot, ["-T\(format.rawValue)"])
        command.descriptors[0] = fd
        let result = try Subprocess.run(command, timeout: timeout)
        guard result.succeeded else {
            throw TopologyError.renderingFailed(format: format.rawValue, reason: result.lastErrorLine.isEmpty ? result.termination.description : result.lastErrorLine)
        }
        return result.output
    }
}
