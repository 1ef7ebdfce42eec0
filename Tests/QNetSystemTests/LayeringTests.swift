import Foundation
import Testing

/// The import lines of every target against Package.swift: each module a target imports is
/// one it declares, each declared dependency is imported somewhere in it, and a library
/// target imports only targets above it in the layer list at the top of Package.swift.
/// Pure: reads files, runs nothing.
@Suite struct LayeringTests {
    /// Modules that come with the toolchain and need no declaration.
    static let toolchainModules: Set<String> = [
        "Swift", "Glibc", "Musl", "Darwin", "Foundation", "FoundationEssentials", "FoundationNetworking",
        "Dispatch", "Synchronization", "Testing", "XCTest", "_Concurrency", "_StringProcessing", "PackageDescription",
    ]

    let package: PackageManifest

    init() throws {
        package = try PackageManifest(root: Self.repositoryRoot)
    }

    static var repositoryRoot: String {
        // #filePath is ROOT/Tests/QNetSystemTests/LayeringTests.swift.
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }

    @Test func theManifestAndTheLayerListAreRead() {
        // Guards the parser itself: a manifest it could not read would make every other test pass.
        #expect(package.layers.first == "QNetTypes")
        #expect(package.layers.last == "qnet")
        #expect(package.targets["QNetSystem"]?.dependencies.contains("CLinuxSystem") == true)
        #expect(package.targets["QNetCommands"]?.dependencies.contains("ArgumentParser") == true)
        #expect(package.targets.count > 15)
    }

    @Test func everyLibraryTargetUnderSourcesIsInTheLayerList() {
        let missing = package.targets.values.filter { $0.path.hasPrefix("Sources/") && !package.layers.contains($0.name) }
        #expect(missing.isEmpty, "not in Package.swift's layer list: \(missing.map(\.name).sorted())")
        let unknown = package.layers.filter { package.targets[$0] == nil }
        #expect(unknown.isEmpty, "layer list names no target: \(unknown)")
    }

    @Test func everyImportIsDeclared() throws {
        var violations: [String] = []
        for target in package.targets.values.sorted(by: { $0.name < $1.name }) {
            for (module, file) in try imports(of: target) where !Self.toolchainModules.contains(module) {
                if module != target.name && !target.dependencies.contains(module) {
                    violations.append("\(file) imports \(module), which target \(target.name) does not declare in Package.swift")
                }
            }
        }
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test func everyDeclaredDependencyIsImported() throws {
        var violations: [String] = []
        for target in package.targets.values.sorted(by: { $0.name < $1.name }) {
            let imported = Set(try imports(of: target).map(\.module))
            guard try !swiftFiles(of: target).isEmpty else { continue }  // the C shim
            for dependency in target.dependencies.sorted() where !imported.contains(dependency) {
                violations.append("\(target.name) declares \(dependency) but no file of it imports it")
            }
        }
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test func libraryTargetsImportOnlyLayersAboveThem() throws {
        var violations: [String] = []
        for (position, name) in package.layers.enumerated() {
            guard let target = package.targets[name] else { continue }
            for (module, file) in try imports(of: target) {
                guard let other = package.layers.firstIndex(of: module) else { continue }
                if other >= position {
                    violations.append("\(file): \(name) imports \(module), which is not above it in the layer list")
                }
            }
        }
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test func theCheckerSeesAViolation() throws {
        // A layer list and targets where the lower target imports the upper one.
        let manifest = try PackageManifest(text: """
            // Layers, bottom to top (each may import only the ones above it in this list):
            //   Lower     first
            //   Upper     second
            let package = Package(targets: [
                .target(name: "Lower"),
                .target(name: "Upper", dependencies: ["Lower", .product(name: "SystemPackage", package: "swift-system")]),
            ])
            """)
        #expect(manifest.layers == ["Lower", "Upper"])
        #expect(manifest.targets["Upper"]?.dependencies == ["Lower", "SystemPackage"])
        #expect(manifest.targets["Lower"]?.dependencies == [])
        let source = [
            "import Glibc", "@testable import HostChecks", "#if canImport(FoundationEssentials)", "import FoundationEssentials",
            "#endif", "import struct SystemPackage.Errno", "// import Commented", "    import Indented",
        ].joined(separator: "\n")
        #expect(PackageManifest.importedModules(in: source) == ["Glibc", "HostChecks", "FoundationEssentials", "SystemPackage"])
    }

    /// (module, file) for every import line in the target's Swift files.
    func imports(of target: PackageManifest.Target) throws -> [(module: String, file: String)] {
        try swiftFiles(of: target).flatMap { file in
            PackageManifest.importedModules(in: try String(contentsOfFile: "\(Self.repositoryRoot)/\(file)", encoding: .utf8))
                .map { ($0, file) }
        }
    }

    func swiftFiles(of target: PackageManifest.Target) throws -> [String] {
        let directory = "\(Self.repositoryRoot)/\(target.path)"
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        return enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.sorted().map { "\(target.path)/\($0)" }
    }
}

/// The parts of Package.swift the layering tests need, read as text: the layer list in
/// the comment at the top and each target's name, path and dependencies.
struct PackageManifest {
    struct Target {
        var name: String
        var path: String
        /// Target names and product (module) names.
        var dependencies: [String]
    }

    var layers: [String] = []
    var targets: [String: Target] = [:]

    init(root: String) throws {
        try self.init(text: String(contentsOfFile: "\(root)/Package.swift", encoding: .utf8))
    }

    init(text: String) throws {
        var inLayers = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("// Layers") { inLayers = true; continue }
            guard inLayers else { continue }
            guard line.hasPrefix("//   "), let name = line.dropFirst(5).split(separator: " ").first else { break }
            layers.append(String(name))
        }
        for kind in [".target(", ".executableTarget(", ".testTarget("] {
            var rest = Substring(text)
            while let start = rest.range(of: kind) {
                let body = Self.balanced(rest[start.upperBound...], open: "(", close: ")")
                rest = rest[body.endIndex...]
                guard let name = Self.stringArgument("name", in: body) else { continue }
                let defaultPath = kind == ".testTarget(" ? "Tests/\(name)" : "Sources/\(name)"
                var dependencies: [String] = []
                if let list = body.range(of: "dependencies: [") {
                    let items = Self.balanced(body[list.upperBound...], open: "[", close: "]")
                    var remaining = items
                    while let quote = remaining.firstIndex(of: "\"") {
                        let before = remaining[..<quote]
                        let after = remaining[remaining.index(after: quote)...]
                        guard let end = after.firstIndex(of: "\"") else { break }
                        let value = String(after[..<end])
                        // `.product(name: "M", package: "p")` names module M; skip the package.
                        if !before.hasSuffix("package: ") { dependencies.append(value) }
                        remaining = after[after.index(after: end)...]
                    }
                }
                targets[name] = Target(name: name, path: Self.stringArgument("path", in: body) ?? defaultPath,
                                       dependencies: dependencies)
            }
        }
    }

    /// The text up to the bracket that closes the one before `text`.
    static func balanced(_ text: Substring, open: Character, close: Character) -> Substring {
        var depth = 1
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == open { depth += 1 }
            if text[index] == close { depth -= 1; if depth == 0 { return text[text.startIndex..<index] } }
            index = text.index(after: index)
        }
        return text
    }

    /// The string after `label: "` at the top of a target's arguments.
    static func stringArgument(_ label: String, in body: Substring) -> String? {
        guard let range = body.range(of: "\(label): \"") else { return nil }
        let value = body[range.upperBound...]
        return value.firstIndex(of: "\"").map { String(value[..<$0]) }
    }

    /// The modules named by `import` lines (with attributes such as @testable, and
    /// `import struct M.Name` forms), in order. Imports start at the beginning of a line
    /// (inside `#if` blocks too); an indented "import" is text in a string or a comment.
    static func importedModules(in source: String) -> [String] {
        source.split(separator: "\n").compactMap { line in
            guard line.first == "@" || line.hasPrefix("import ") else { return nil }
            var words = line.split(separator: " ").map(String.init)
            while let first = words.first, first.hasPrefix("@") { words.removeFirst() }
            guard words.count >= 2, words[0] == "import" else { return nil }
            let kinds: Set<String> = ["struct", "class", "enum", "protocol", "typealias", "func", "var", "let"]
            let path = kinds.contains(words[1]) && words.count >= 3 ? words[2] : words[1]
            return path.split(separator: ".").first.map(String.init)
        }
    }
}
