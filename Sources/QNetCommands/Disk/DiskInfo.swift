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

    @Flag(help: "Print JSON (path, format, virtualSize, actualSize, backingFile, formatAssumed).")
    var json = false

    func run() throws {
        let info = try DiskImage.info(path: path)
        if json {
            print(try Output.json(info))
            return
        }
        print("path: \(info.path)")
        print("format: \(info.format)" + (info.formatAssumed ? " (assumed: qemu-img is not installed)" : ""))
        print("virtual size: \(DiskSize.human(info.virtualSize)) (\(info.virtualSize) bytes)")
        print("disk size: \(DiskSize.human(info.actualSize)) (\(info.actualSize) bytes)")
        if let backing = info.backingFile { print("backing file: \(backing)") }
    }
}
