import Foundation
import Testing

/// Golden files for generated command lines: Tests/QEMUTests/Golden/NAME.args, one
/// argument per line, found next to this source file (#filePath), not as bundle resources.
///
/// Default: compare, and fail showing the first differing line. Deliberate regeneration,
/// to be reviewed in the diff like any code change:
///
///     QNET_UPDATE_GOLDEN=1 swift test --filter CommandLineGoldenTests
enum GoldenFiles {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static let updating = ProcessInfo.processInfo.environment["QNET_UPDATE_GOLDEN"] == "1"

    static func check(_ name: String, _ argv: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let file = directory.appendingPathComponent(name + ".args")
        let actual = argv.joined(separator: "\n") + "\n"
        if updating {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try actual.write(to: file, atomically: true, encoding: .utf8)
            return
        }
        guard let expected = try? String(contentsOf: file, encoding: .utf8) else {
            Issue.record("missing golden file \(file.path); create it with QNET_UPDATE_GOLDEN=1", sourceLocation: sourceLocation)
            return
        }
        guard expected != actual else { return }
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let index = zip(expectedLines, actualLines).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(expectedLines.count, actualLines.count)
        let want = index < expectedLines.count ? String(expectedLines[index]) : "<end>"
        let got = index < actualLines.count ? String(actualLines[index]) : "<end>"
        Issue.record("""
            \(name).args differs at line \(index + 1): expected '\(want)', got '\(got)' \
            (if the change is intended: QNET_UPDATE_GOLDEN=1 swift test --filter CommandLineGoldenTests, then review the diff)
            """, sourceLocation: sourceLocation)
    }
}
