import Glibc
import QNetSystem
import VirtualMachines

/// How the import verbs hand out a result: printed, or written under CONFIG_DIR.
enum ImportOutput {
    static func emit(_ result: ImportResult, write: Bool, global: GlobalOptions, configDirectory: String?) throws {
        if let stateDirectory = global.stateDirectory { setenvOverride(stateDirectory) }
        guard write else {
            print(try result.rendered(), terminator: "")
            for line in result.report { Output.printError("qnet: import: \(line)") }
            return
        }
        let directory = configDirectory ?? QNetPaths.configuration
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
