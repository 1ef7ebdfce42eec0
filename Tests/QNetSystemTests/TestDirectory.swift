import Foundation

/// A fresh directory under /tmp for one test, removed when the test ends.
final class TestDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/qnet-systemtests-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
        }
        guard let made else { throw CocoaError(.fileWriteUnknown) }
        path = made
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func contents(_ name: String) -> String? {
        FileManager.default.contents(atPath: file(name)).map { String(decoding: $0, as: UTF8.self) }
    }
}
