import Glibc
import ArgumentParser
import QNetSystem
import VirtualMachines

/// Where an import's files go: printed, or written under CONFIG_DIR with --write.
struct ImportOutputOptions: ParsableArguments {
    @Flag(help: "Write the files under CONFIG_DIR instead of printing them.")
    var write = false

    @Option(name: .customLong("config-dir"), help: ArgumentHelp("Where --write puts them (default /etc/qnet).", valueName: "dir"))
    var configDirectory: String?
}

/// How the import verbs hand out a result: printed, or written under CONFIG_DIR.
enum ImportOutput {
    static func emit(_ result: ImportResult, _ options: ImportOutputOptions, global: GlobalOptions) throws {
        if let stateDirectory = global.stateDirectory { setenvOverride(stateDirectory) }
        guard options.write else {
            print(try result.rendered(), terminator: "")
            for line in result.report { Output.printError("qnet: import: \(line)") }
            return
        }
        let directory = options.configDirectory ?? QNetPaths.configuration
        for file in try result.files() {
            let path = "\(directory)/\(file.path)"
            try FileSystem.makeDirectories(String(path[..<path.lastIndex(of: "/")!]))
            try FileSystem.writeAtomically(path, Array(file.text.utf8))
            print("wrote \(path)")
        }
        for line in result.report { Output.printError("qnet: import: \(line)") }
    }

    private static func setenvOverride(_ directory: String) {
        _ = directory.withCString { value in Glibc.setenv("QNET_STATE_DIR", value, 1) }
    }
}
