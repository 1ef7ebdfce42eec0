import QNetSystem
import SystemPackage
import Yams

/// What is wrong inside a VM or network definition file, at which key path (`nics[0].model`).
public enum DefinitionProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file cannot be read (open or read failed).
    case unreadable(Errno)
    /// The file is not YAML at all (libyaml's own explanation).
    case notYAML(problem: String)
    /// Nothing but whitespace or comments.
    case empty
    /// The same key twice in one mapping.
    case duplicateKey(String)
    /// A key the definition does not have (a typo, or a setting qnet does not know).
    case unknownKey(path: String, allowed: [String])
    case missingKey(path: String)
    /// A value of the wrong kind: `found` is the value as written (or "a list", "a mapping").
    case wrongType(path: String, found: String, expected: String)
    /// A value of the right kind that is not allowed (`what` names it, `allowed` says what is).
    case invalidValue(path: String, what: String, value: String, allowed: String)
    /// A network setting refused by the network rules.
    case badSetting(path: String, NetworkConfigError)

    public var description: String {
        switch self {
        case let .unreadable(errno): "cannot read it: \(errno)"
        case let .notYAML(problem): "not valid YAML: \(problem)"
        case .empty: "the file is empty; write one 'key: value' per line, e.g. name: web"
        case let .duplicateKey(key): "key '\(key)' appears twice in one mapping; keep one"
        case let .unknownKey(path, allowed): "unknown key \(path); allowed: \(allowed.joined(separator: ", "))"
        case let .missingKey(path): "missing key \(path)"
        case let .wrongType(path, found, expected): "\(path): \(found) is not \(expected)"
        case let .invalidValue(path, what, value, allowed): "\(path): invalid \(what) '\(value)': \(allowed)"
        case let .badSetting(path, error): "\(path): \(error)"
        }
    }
}

/// A VM or network definition file that was refused: the file, the line when known, and
/// one problem. Bad input (exit status 2).
public struct DefinitionFileError: UserFacingError, Equatable, Sendable {
    public var file: String
    public var line: Int?
    public var problem: DefinitionProblem

    public init(file: String, line: Int? = nil, problem: DefinitionProblem) {
        self.file = file
        self.line = line
        self.problem = problem
    }

    public var isUsageError: Bool { true }

    /// `vm.yaml, line 4: unknown key nics[0].script; allowed: bridge, network, ...`.
    public var description: String { "\(file)\(line.map { ", line \($0)" } ?? ""): \(problem)" }
}

/// Strict YAML decoding for definition files, shared by VM and network definitions: YAML
/// errors, unknown keys, wrong types and bad values all come out as one `DefinitionFileError`
/// naming the key path and line. Each definition type's `init(from:)` calls
/// `rejectUnknownKeys(_:)` and decodes enumerated values with `decodeChoice`.
/// Public for the FuzzDefinitions fuzz target; the commands use `VMDefinition.load` and `NetworkStore`.
public enum DefinitionYAML {
    public static func decode<Value: Decodable>(_ type: Value.Type, from text: String, file: String) throws -> Value {
        try decode(type, from: try compose(text, file: file), file: file)
    }

    /// The file's YAML tree; YAML errors come out as `DefinitionFileError`.
    static func compose(_ text: String, file: String) throws -> Node {
        do {
            guard let node = try Yams.compose(yaml: text) else { throw DefinitionFileError(file: file, problem: .empty) }
            return node
        } catch let error as YamlError {
            throw DefinitionFileError(file: file, line: line(of: error), problem: problem(of: error))
        }
    }

    /// Decodes an already composed tree (lines come from its marks).
    static func decode<Value: Decodable>(_ type: Value.Type, from root: Node, file: String) throws -> Value {
        do {
            // Decoding from the composed node: Yams passes errors thrown by init(from:) through
            // unchanged here, where decode(from: String) would re-label them "not valid YAML".
            return try YAMLDecoder().decode(type, from: root)
        } catch let located as LocatedProblem {
            throw DefinitionFileError(file: file, line: line(at: located.path, in: root), problem: located.problem)
        } catch let error as DecodingError {
            let located = problem(of: error, in: root)
            throw DefinitionFileError(file: file, line: line(at: located.path, in: root), problem: located.problem)
        }
    }

    /// Reads and decodes a definition file.
    static func load<Value: Decodable>(_ type: Value.Type, path: String) throws -> Value {
        let text: String
        do { text = try FileSystem.readText(path) } catch let error as SystemError {
            throw DefinitionFileError(file: path, problem: .unreadable(error.errno))
        }
        return try decode(type, from: text, file: path)
    }

    // MARK: - problems

    private static func problem(of error: YamlError) -> DefinitionProblem {
        switch error {
        case let .scanner(_, problem, _, _), let .parser(_, problem, _, _), let .composer(_, problem, _, _):
            .notYAML(problem: problem)
        case let .reader(problem, _, _, _): .notYAML(problem: problem)
        case let .duplicatedKeysInMapping(duplicates, _): .duplicateKey(duplicates.first ?? "?")
        default: .notYAML(problem: "\(error)")
        }
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): mark.line
        case let .duplicatedKeysInMapping(_, context): context.mark.line
        default: nil
        }
    }

    private static func problem(of error: DecodingError, in root: Node) -> LocatedProblem {
        switch error {
        case let .keyNotFound(key, context):
            return LocatedProblem(context.codingPath) { _ in .missingKey(path: render((context.codingPath + [key]).map(KeyPathComponent.init))) }
        case let .typeMismatch(type, context), let .valueNotFound(type, context):
            let found = node(at: context.codingPath.map(KeyPathComponent.init), in: root).map(describe) ?? "nothing"
            return LocatedProblem(context.codingPath) { .wrongType(path: $0, found: found, expected: kind(of: type)) }
        case let .dataCorrupted(context):
            let value = node(at: context.codingPath.map(KeyPathComponent.init), in: root).map(describe) ?? "?"
            return LocatedProblem(context.codingPath) { .invalidValue(path: $0, what: "value", value: value, allowed: context.debugDescription) }
        @unknown default:
            return LocatedProblem([]) { _ in .notYAML(problem: "\(error)") }
        }
    }

    // MARK: - key paths

    /// `nics[0].model`: keys joined with dots, list positions in brackets.
    static func render(_ path: [KeyPathComponent]) -> String {
        var text = ""
        for component in path {
            switch component {
            case let .index(index): text += "[\(index)]"
            case let .key(name): text += (text.isEmpty ? "" : ".") + name
            }
        }
        return text.isEmpty ? "(top level)" : text
    }

    static func node(at path: [KeyPathComponent], in root: Node) -> Node? {
        var current = root
        for component in path {
            switch component {
            case let .index(index):
                guard let sequence = current.sequence, index < sequence.count else { return nil }
                current = sequence[index]
            case let .key(name):
                guard let next = current.mapping?[name] else { return nil }
                current = next
            }
        }
        return current
    }

    /// The line of what `path` names: a key's own line (where an unknown key is written), a
    /// list element's first line; the nearest enclosing one when the path goes nowhere.
    static func line(at path: [KeyPathComponent], in root: Node) -> Int? {
        var current = root
        var line = root.mark?.line
        for component in path {
            switch component {
            case let .index(index):
                guard let sequence = current.sequence, index < sequence.count else { return line }
                current = sequence[index]
                line = current.mark?.line ?? line
            case let .key(name):
                guard let pair = current.mapping?.first(where: { $0.key.string == name }) else { return line }
                line = pair.key.mark?.line ?? line
                current = pair.value
            }
        }
        return line
    }

    private static func describe(_ node: Node) -> String {
        switch node {
        case let .scalar(scalar): scalar.string.isEmpty ? "an empty value" : "'\(scalar.string)'"
        case .sequence: "a list"
        case .mapping: "a mapping"
        case .alias: "an alias"
        }
    }

    /// What was expected, in words. Yams names the node kind it wanted (Node.Sequence, ...)
    /// or the scalar type it could not build.
    private static func kind(of type: Any.Type) -> String {
        switch type {
        case is any BinaryInteger.Type: "a whole number"
        case is any BinaryFloatingPoint.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type, is Node.Scalar.Type: "a single value"
        case is Node.Sequence.Type: "a list"
        default: "a mapping (key: value lines)"
        }
    }
}

/// One step of a key path: a mapping key or a list position.
enum KeyPathComponent: Equatable, Sendable {
    case key(String)
    case index(Int)

    init(_ key: CodingKey) {
        self = key.intValue.map(KeyPathComponent.index) ?? .key(key.stringValue)
    }
}

/// A problem and where in the file it is, thrown inside `init(from:)` and turned into a
/// `DefinitionFileError` (with the line) by `DefinitionYAML.decode`.
struct LocatedProblem: Error {
    var path: [KeyPathComponent]
    var problem: DefinitionProblem

    init(_ codingPath: [CodingKey], _ make: (String) -> DefinitionProblem) {
        path = codingPath.map(KeyPathComponent.init)
        problem = make(DefinitionYAML.render(path))
    }
}

/// A list position in a key path.
struct ListIndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { String(intValue ?? 0) }
    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}

/// Any key of a mapping, to see the keys a type's CodingKeys do not list.
private struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}

extension Decoder {
    /// Refuses a mapping key that `Keys` does not list, naming its path and the allowed keys
    /// (synthesised and hand-written `init(from:)` alike ignore unknown keys otherwise).
    func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        let allowed = Keys.allCases.map(\.stringValue)
        let present = try container(keyedBy: AnyCodingKey.self).allKeys
        if let unknown = present.first(where: { !allowed.contains($0.stringValue) }) {
            throw LocatedProblem(codingPath + [unknown]) { .unknownKey(path: $0, allowed: allowed) }
        }
    }

    /// Runs a check on decoded values and reports a refusal (`VMError.invalidValue`,
    /// `UserModeError`, `NetworkConfigError`) at this decoder's path (plus `extraPath`).
    func checked<Value>(at extraPath: [CodingKey] = [], _ body: () throws -> Value) throws -> Value {
        let codingPath = codingPath + extraPath
        do {
            return try body()
        } catch let VMError.invalidValue(what, value, allowed), let UserModeError.invalidValue(what, value, allowed) {
            throw LocatedProblem(codingPath) { .invalidValue(path: $0, what: what, value: value, allowed: allowed) }
        } catch let UserModeError.invalidForward(value, problem) {
            throw LocatedProblem(codingPath) { .invalidValue(path: $0, what: "hostfwd", value: value, allowed: "\(problem); use \(HostForward.syntax)") }
        } catch let error as NetworkConfigError {
            throw LocatedProblem(codingPath) { .badSetting(path: $0, error) }
        }
    }
}

extension KeyedDecodingContainer {
    /// A text value turned into `Value` by `parse`; a value it refuses is reported with its
    /// path, the value and `allowed`.
    func decodeChoice<Value>(_ key: Key, what: String, allowed: String, _ parse: (String) -> Value?) throws -> Value? {
        guard let text = try decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let value = parse(text) else {
            throw LocatedProblem(codingPath + [key]) { .invalidValue(path: $0, what: what, value: text, allowed: allowed) }
        }
        return value
    }

    /// One of an enumeration's raw values; the allowed ones are listed when another is given.
    func decodeChoice<Value: CaseIterable & RawRepresentable>(_ key: Key, what: String) throws -> Value? where Value.RawValue == String {
        let names = Value.allCases.map(\.rawValue)
        return try decodeChoice(key, what: what, allowed: "use " + names.joined(separator: ", "), Value.init(rawValue:))
    }
}
