import Foundation

/// A fresh directory under /tmp for one test, removed when the value goes away.
/// Short on purpose: UNIX socket paths inside it must stay under 108 bytes.
final class TestDirectory: @unchecked Sendable {
    let path: String

    init(_ label: String) throws {
        var template = Array("/tmp/qnt-\(label)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

/// stat(2) of a path (st_blocks, st_size, st_mode).
func fileStatus(_ path: String) -> stat? {
    var status = stat()
    return stat(path, &status) == 0 ? status : nil
}
