import Foundation
import Testing

/// Golden files: generated text compared with a reviewed copy under a test target's
/// `Golden/` folder (found through the caller's #filePath, not bundle resources).
///
/// Default: compare, and fail naming the first differing line. Regeneration is a
/// deliberate command whose diff is reviewed like code:
///
///     QNET_UPDATE_GOLDEN=1 swift test --filter SUITE
public enum GoldenFile {
    public static let updating = ProcessInfo.processInfo.environment["QNET_UPDATE_GOLDEN"] == "1"

    /// Compares `actual` with `Golden/FILE` next to the calling test file; `suite` names the
    /// filter that regenerates it.
    public static func check(_ file: String, _ actual: String, suite: String, testFile: String = #filePath,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let directory = URL(fileURLWithPath: testFile).deletingLastPathComponent().appendingPathComponent("Golden")
        let url = directory.appendingPathComponent(file)
        if updating {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            Issue.record("missing golden file \(url.path); create it with QNET_UPDATE_GOLDEN=1 and review it", sourceLocation: sourceLocation)
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
            \(file) differs at line \(index + 1): expected '\(want)', got '\(got)' \
            (if intended: QNET_UPDATE_GOLDEN=1 swift test --filter \(suite), then review the diff)
            """, sourceLocation: sourceLocation)
    }
}
