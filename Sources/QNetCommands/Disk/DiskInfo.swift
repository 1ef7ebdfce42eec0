import ArgumentParser
import QEMU

/// `qnet disk info PATH [--json]`.
struct DiskInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show an image's format, virtual size and space used (qemu-img info -U).",
        discussion: """
            Works on images a running VM has open (qemu-img -U). Without qemu-img installed, the file is \
            reported as raw (format unverified).
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Path of the image.")
    var path: String

    @Flag(help: "Print JSON (schema version 1: path, format, virtualSize, actualSize, backingFile, formatAssumed).")
    var json = false

    func run() throws {
        let info = try DiskImage.info(path: path)
        if json {
            print(try Output.json(DiskInfoReport(info)))
            return
        }
        print("path: \(info.path)")
        print("format: \(info.format)" + (info.formatAssumed ? " (assumed: qemu-img is not installed)" : ""))
        print("virtual size: \(DiskSize.human(info.virtualSize)) (\(info.virtualSize) bytes)")
        print("disk size: \(DiskSize.human(info.actualSize)) (\(info.actualSize) bytes)")
        if let backing = info.backingFile { print("backing file: \(backing)") }
    }
}

/// `qnet disk info --json` (schema version 1, in the README).
struct DiskInfoReport: Encodable {
    var schemaVersion = 1
    var path: String
    var format: String
    /// Bytes the guest sees.
    var virtualSize: UInt64
    /// Bytes allocated on the host.
    var actualSize: UInt64
    @NullWhenAbsent var backingFile: String?
    var formatAssumed: Bool

    init(_ info: DiskImageInfo) {
        path = info.path
        format = info.format
        virtualSize = info.virtualSize
        actualSize = info.actualSize
        backingFile = info.backingFile
        formatAssumed = info.formatAssumed
    }
}
