import Foundation
import QNetTestSupport
import Testing

/// Golden files for generated command lines: Tests/QEMUTests/Golden/NAME.args, one
/// argument per line, found next to this source file (#filePath), not as bundle resources.
///
/// Default: compare, and fail showing the first differing line. Deliberate regeneration,
/// to be reviewed in the diff like any code change:
///
///     QNET_UPDATE_GOLDEN=1 swift test --filter CommandLineGoldenTests
enum GoldenFiles {
    static func check(_ name: String, _ argv: [String], testFile: String = #filePath,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        try GoldenFile.check(name + ".args", argv.joined(separator: "\n") + "\n", suite: "CommandLineGoldenTests",
                             testFile: testFile, sourceLocation: sourceLocation)
    }
}
