import QNetSystem

/// The running kernel's build configuration (`CONFIG_*`), from `/boot/config-$(uname -r)`
/// or, when the distribution does not install that, `/proc/config.gz` (CONFIG_IKCONFIG_PROC).
public struct KernelConfig: Sendable, Equatable {
    public enum Setting: Sendable, Equatable, CustomStringConvertible {
        /// `=y`: built into the kernel.
        case builtIn
        /// `=m`: a loadable module.
        case module
        /// `# CONFIG_X is not set`, or not mentioned at all.
        case notSet
        /// Any other value (numbers, strings).
        case value(String)

        public var description: String {
            switch self {
            case .builtIn: "y"
            case .module: "m"
            case .notSet: "not set"
            case let .value(text): text
            }
        }
    }

    /// Where the configuration came from ("/boot/config-6.1.0-56-amd64", "/proc/config.gz").
    public var source: String
    public var settings: [String: String]

    public init(source: String, text: String) {
        self.source = source
        var settings: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("CONFIG_") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            settings[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        self.settings = settings
    }

    public subscript(_ option: String) -> Setting {
        switch settings[option] {
        case "y"?: .builtIn
        case "m"?: .module
        case nil, "n"?: .notSet
        case let other?: .value(other)
        }
    }

    /// Reads the configuration of the kernel `root` runs: `boot/config-RELEASE` first,
    /// then `proc/config.gz`. There is no zlib in the toolchain, so the gzip file is
    /// decompressed by `gzip -dc` (only on systems without /boot/config-RELEASE; ~1 ms).
    /// Nil when neither is readable (the reasons go to `problems`).
    public static func load(root: HostRoot, problems: inout [String]) -> KernelConfig? {
        if let release = root.kernelRelease {
            let path = root.boot + "/config-" + release
            if let text = root.read(path) { return KernelConfig(source: path, text: text) }
            problems.append("no \(path)")
        } else {
            problems.append("cannot read \(root.proc)/sys/kernel/osrelease")
        }
        let compressed = root.proc + "/config.gz"
        guard root.exists(compressed) else {
            problems.append("no \(compressed)")
            return nil
        }
        guard let gzip = root.executable("gzip") ?? HostRoot.host.executable("gzip") else {
            problems.append("\(compressed) exists but gzip is not installed to read it")
            return nil
        }
        do {
            let result = try Subprocess.run(Command(gzip, ["-dc", compressed]), timeout: .seconds(5))
            guard result.succeeded else {
                problems.append("gzip -dc \(compressed): \(result.termination)")
                return nil
            }
            return KernelConfig(source: compressed, text: result.standardOutput)
        } catch {
            problems.append("\(error)")
            return nil
        }
    }
}
