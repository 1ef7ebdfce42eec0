/// The bridge access list of QEMU's bridge helper, /etc/qemu/bridge.conf: which bridges an
/// unprivileged user's QEMU may put a TAP on (`-netdev bridge,br=BR,helper=...`).
///
/// Same file format and meaning as qemu-bridge-helper's (its facts, not its code):
/// one command per line, `allow NAME`, `deny NAME`, `allow all`, `deny all`, `include FILE`;
/// `#` starts a comment line; blank lines are ignored. A bridge is allowed only when some
/// allow line matches it and no deny line does (a deny always wins, in any order); with no
/// matching allow it is denied (default deny). A line that is not one of these makes the
/// whole file invalid, and an invalid file allows nothing.
///
/// Differences from qemu-bridge-helper, each on the safe side: a relative `include` path is
/// taken relative to the including file's folder (qemu-bridge-helper opens it relative to
/// the caller's working directory, which the caller chooses); includes nest at most
/// `maximumIncludeDepth` deep (an include loop is an error, not a crash).
///
/// Pure: files are read through the `read` closure given to `load`, so this module makes no
/// system call and has no dependency.
public struct BridgeACL: Equatable, Sendable {
    /// One rule and where it was written, so a verdict can name it.
    public struct Rule: Equatable, Sendable, CustomStringConvertible {
        public enum Action: String, Equatable, Sendable { case allow, deny }
        public var action: Action
        /// The bridge named, or nil for `all`.
        public var bridge: String?
        public var file: String
        public var line: Int

        public init(action: Action, bridge: String?, file: String, line: Int) {
            self.action = action
            self.bridge = bridge
            self.file = file
            self.line = line
        }

        public func matches(_ name: String) -> Bool { bridge == nil || bridge == name }

        /// `"deny br1" (/etc/qemu/bridge.conf line 3)`.
        public var description: String { "\"\(action.rawValue) \(bridge ?? "all")\" (\(file) line \(line))" }
    }

    /// Why a file could not be used; the whole list then allows nothing.
    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public var file: String
        /// 0 when the problem is the file itself (unreadable, nested too deep).
        public var line: Int
        public var reason: String

        public init(file: String, line: Int, reason: String) {
            self.file = file
            self.line = line
            self.reason = reason
        }

        public var description: String { line > 0 ? "\(file) line \(line): \(reason)" : "\(file): \(reason)" }
    }

    /// A decision for one bridge, with the rule that made it.
    public enum Verdict: Equatable, Sendable, CustomStringConvertible {
        /// Allowed by this allow rule (no deny matched).
        case allowed(by: Rule)
        /// Denied by this deny rule (deny wins over any allow).
        case denied(by: Rule)
        /// No allow rule names the bridge (default deny).
        case notAllowed

        public var isAllowed: Bool { if case .allowed = self { true } else { false } }

        public var description: String {
            switch self {
            case let .allowed(rule): "allowed by \(rule)"
            case let .denied(rule): "denied by \(rule)"
            case .notAllowed: "not allowed: no allow line matches it (default deny)"
            }
        }
    }

    /// Interface names are shorter than IFNAMSIZ (16) bytes, as qemu-bridge-helper checks.
    public static let maximumNameLength = 15
    public static let maximumIncludeDepth = 8

    public var rules: [Rule]

    public init(rules: [Rule]) { self.rules = rules }

    /// The verdict for `bridge`: the first matching deny rule if any, else the first matching
    /// allow rule, else `notAllowed`.
    public func verdict(for bridge: String) -> Verdict {
        if let deny = rules.first(where: { $0.action == .deny && $0.matches(bridge) }) { return .denied(by: deny) }
        if let allow = rules.first(where: { $0.action == .allow && $0.matches(bridge) }) { return .allowed(by: allow) }
        return .notAllowed
    }

    /// Reads `file` and every file it includes. `read` returns a file's bytes or throws a
    /// `Problem`-worthy reason (a String) when it cannot be used.
    public static func load(file: String, read: (String) throws(Problem) -> [UInt8]) throws(Problem) -> BridgeACL {
        var rules: [Rule] = []
        try load(file: file, depth: 0, read: read, into: &rules)
        return BridgeACL(rules: rules)
    }

    /// Parses one file's text; `include` lines are read through `read`.
    public static func parse(_ text: [UInt8], file: String, read: (String) throws(Problem) -> [UInt8]) throws(Problem) -> BridgeACL {
        var rules: [Rule] = []
        try parse(text, file: file, depth: 0, read: read, into: &rules)
        return BridgeACL(rules: rules)
    }

    private static func load(file: String, depth: Int, read: (String) throws(Problem) -> [UInt8], into rules: inout [Rule]) throws(Problem) {
        guard depth <= maximumIncludeDepth else {
            throw Problem(file: file, line: 0, reason: "includes nested more than \(maximumIncludeDepth) deep (an include loop?)")
        }
        try parse(try read(file), file: file, depth: depth, read: read, into: &rules)
    }

    private static func parse(_ text: [UInt8], file: String, depth: Int, read: (String) throws(Problem) -> [UInt8],
                              into rules: inout [Rule]) throws(Problem) {
        var number = 0
        for rawLine in text.split(separator: 0x0a, omittingEmptySubsequences: false) {
            number += 1
            let line = trimmed(rawLine)
            if line.isEmpty || line.first == 0x23 { continue }  // blank or '#' comment
            guard let gap = line.firstIndex(where: isSpace) else {
                throw Problem(file: file, line: number, reason: "\"\(string(line))\" has no argument (use allow NAME|all, deny NAME|all or include FILE)")
            }
            let command = string(line[line.startIndex..<gap])
            let argument = string(trimmed(line[gap...]))
            switch command {
            case "allow", "deny":
                guard argument.utf8.count <= maximumNameLength, !argument.utf8.contains(where: { $0 == 0x2f || isSpace($0) }) else {
                    throw Problem(file: file, line: number, reason: "\"\(argument)\" is not a bridge name (1 to \(maximumNameLength) bytes, no '/' or blank)")
                }
                rules.append(Rule(action: command == "allow" ? .allow : .deny, bridge: argument == "all" ? nil : argument,
                                  file: file, line: number))
            case "include":
                try load(file: resolve(argument, relativeTo: file), depth: depth + 1, read: read, into: &rules)
            default:
                throw Problem(file: file, line: number, reason: "unknown command \"\(command)\" (use allow, deny or include)")
            }
        }
    }

    /// An include path: absolute as written, relative to the including file's folder otherwise.
    static func resolve(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return path }
        guard let slash = file.utf8.lastIndex(of: 0x2f) else { return path }
        return String(file[...slash]) + path
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0d || byte == 0x0b || byte == 0x0c }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, isSpace(first) { slice = slice.dropFirst() }
        while let last = slice.last, isSpace(last) { slice = slice.dropLast() }
        return slice
    }

    private static func string(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }
}
