import ArgumentParser
import QEMU

/// `qnet disk ...`: VM disk images (the recipe's `dd if=/dev/zero of=X.img bs=1M seek=4095 count=1`).
struct DiskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disk",
        abstract: "Create and inspect VM disk images (raw sparse files or qcow2).",
        subcommands: [DiskCreate.self, DiskInfo.self]
    )
}

extension DiskFormat: ExpressibleByArgument {}

/// Parsing at the edge: a library error becomes ArgumentParser's one-line usage error.
enum DiskParse {
    static func size(_ text: String) throws -> DiskSize {
        do { return try DiskSize(parsing: text) } catch let error as QEMUError { throw ValidationError(error.description) }
    }
}
