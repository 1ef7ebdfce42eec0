import QNetSystem
import ArgumentParser
import Glibc

/// The executable's whole job: pick the arguments (honouring qemu-ifup / qemu-ifdown
/// symlinks), run the command, and turn errors into one line and an exit status.
public enum Entry {
    public static func main(_ arguments: [String] = CommandLine.arguments) -> Never {
        let invokedAs = arguments.first.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? "qnet"
        var rest = Array(arguments.dropFirst())
        // Answered before the parser: ArgumentParser builds its argument sets by reflection,
        // and in the static binary each first protocol-conformance lookup scans every
        // conformance record, about 9 M instructions (3 ms) before anything runs.
        if rest == ["--version"] {
            print(QNet.version)
            exit(0)
        }
        switch invokedAs {
        case "qemu-ifup": rest.insert("ifup", at: 0)
        case "qemu-ifdown": rest.insert("ifdown", at: 0)
        default: break
        }
        rest = moveLeadingGlobalOptions(rest)
        do {
            if try FastPath.run(rest) { exit(0) }
            var command = try QNet.parseAsRoot(rest)
            try command.run()
            exit(0)
        } catch let error as ExitCode {
            // A command that already reported its outcome (doctor, probe) sets the status.
            exit(error.rawValue)
        } catch {
            let code = ErrorReporting.exitCode(for: error)
            if code == 0 {
                // --help, --version, completion scripts.
                print(QNet.fullMessage(for: error))
            } else {
                writeStandardError("qnet: error: \(ErrorReporting.message(for: error))\n")
            }
            exit(code)
        }
    }

    /// Global options may come before the subcommand (`qnet --netns NS show`). The parser
    /// reads them from the command that runs, so they are moved behind the subcommand
    /// path (before any `--`, after which arguments are passed through verbatim).
    static func moveLeadingGlobalOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            if (first == "--netns" || first == "--state-dir"), rest.count >= 2 {
                leading += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if first.hasPrefix("--netns=") || first.hasPrefix("--state-dir=") {
                leading.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        guard !leading.isEmpty else { return arguments }
        var result = Array(rest)
        let insertAt = result.firstIndex(of: "--") ?? result.count
        result.insert(contentsOf: leading, at: insertAt)
        return result
    }
}
