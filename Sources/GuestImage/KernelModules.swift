import QNetSystem

/// One loadable kernel module as listed in modules.dep.
public struct KernelModule: Equatable, Hashable, Sendable {
    /// The module's name as the kernel knows it (`lsmod`): file name without `.ko`, `-` as `_`.
    public var name: String
    /// Path relative to the modules directory, e.g. `kernel/drivers/net/virtio_net.ko`.
    public var relativePath: String
    /// Direct dependencies, as modules.dep lists them.
    public var dependencies: [String]

    /// Whether the file is compressed (`.ko.xz`, `.ko.zst`, `.ko.gz`), which busybox insmod cannot load.
    public var isCompressed: Bool { !relativePath.hasSuffix(".ko") }
}

/// The module index of one kernel (/lib/modules/RELEASE/modules.dep and modules.alias).
///
/// Equivalent to what `modprobe --show-depends NAME` computes; reads files only, no privilege.
public struct ModuleIndex: Sendable {
    /// The modules directory, e.g. `/lib/modules/6.1.0-56-amd64`.
    public var directory: String
    /// Every module in modules.dep, by name.
    public private(set) var modules: [String: KernelModule]

    /// Reads `DIRECTORY/modules.dep`.
    public init(directory: String) throws {
        let path = "\(directory)/modules.dep"
        guard Files.isReadableFile(path) else {
            throw GuestImageError.missingInput(what: "module index", path: path,
                                               hint: "install the modules of the kernel (e.g. linux-image-amd64) or run depmod")
        }
        try self.init(modulesDep: try FileSystem.readText(path), directory: directory)
    }

    /// Parses modules.dep text: one `PATH: DEP_PATH DEP_PATH...` line per module.
    public init(modulesDep text: String, directory: String) throws {
        self.directory = directory
        var modules: [String: KernelModule] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            guard let colon = line.firstIndex(of: ":") else {
                throw GuestImageError.invalidModuleIndex(path: "\(directory)/modules.dep", reason: "line \(number + 1) has no ':'")
            }
            let path = String(line[..<colon])
            let dependencies = line[line.index(after: colon)...].split(separator: " ").map { Self.moduleName(fromPath: String($0)) }
            let name = Self.moduleName(fromPath: path)
            modules[name] = KernelModule(name: name, relativePath: path, dependencies: dependencies)
        }
        self.modules = modules
    }

    /// `kernel/drivers/net/8139too.ko.xz` → `8139too`; `-` becomes `_` as in the kernel.
    public static func moduleName(fromPath path: String) -> String {
        var file = Substring(path.split(separator: "/").last ?? Substring(path))
        for suffix in [".xz", ".zst", ".gz"] where file.hasSuffix(suffix) { file = file.dropLast(suffix.count) }
        if file.hasSuffix(".ko") { file = file.dropLast(3) }
        return String(file).replacingDashes()
    }

    /// The module called `name` (`-` and `_` are equivalent), or nil.
    public func module(named name: String) -> KernelModule? {
        modules[name.replacingDashes()]
    }

    /// The modules to load for `names`, dependencies first, each once — the order
    /// `modprobe` would insert them (it walks modules.dep's list from the end).
    /// Names in `optional` are skipped when the index lacks them; others must exist.
    public func loadOrder(for names: [String], optional: Set<String> = []) throws -> [KernelModule] {
        var order: [KernelModule] = []
        var state: [String: Bool] = [:]  // false: being visited, true: done
        func visit(_ name: String, path: [String]) throws {
            if state[name] == true { return }
            if state[name] == false {
                throw GuestImageError.invalidModuleIndex(path: "\(directory)/modules.dep",
                                                         reason: "dependency cycle \((path + [name]).joined(separator: " -> "))")
            }
            guard let module = modules[name] else { throw GuestImageError.moduleNotFound(name: name, modulesDirectory: directory) }
            state[name] = false
            for dependency in module.dependencies.reversed() { try visit(dependency, path: path + [name]) }
            state[name] = true
            order.append(module)
        }
        for name in names.map({ $0.replacingDashes() }) {
            if modules[name] == nil && optional.contains(name) { continue }
            try visit(name, path: [])
        }
        return order
    }

    /// The subset of `order` that `name` needs, dependencies first, excluding `name` itself.
    public func dependencyClosure(of name: String) throws -> [String] {
        try loadOrder(for: [name]).map(\.name).filter { $0 != name.replacingDashes() }
    }

    /// The `alias PATTERN MODULE` lines of modules.alias whose module is in `names`:
    /// the device patterns (e.g. `pci:v00001AF4d*sv*sd*bc*sc*i*`) that make the kernel
    /// ask for those modules. The patterns are shell globs.
    public func aliases(for names: Set<String>) throws -> [(pattern: String, module: String)] {
        let path = "\(directory)/modules.alias"
        guard Files.isReadableFile(path) else { return [] }
        return Self.parseAliases(try FileSystem.readText(path), for: names)
    }

    static func parseAliases(_ text: String, for names: Set<String>) -> [(pattern: String, module: String)] {
        var result: [(pattern: String, module: String)] = []
        for line in text.split(separator: "\n") where line.hasPrefix("alias ") {
            let fields = line.split(separator: " ")
            guard fields.count == 3 else { continue }
            let module = String(fields[2]).replacingDashes()
            if names.contains(module) { result.append((String(fields[1]), module)) }
        }
        return result
    }
}

extension String {
    func replacingDashes() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}
