import ArgumentParser
import QEMU

/// `qnet disk create PATH SIZE [--format raw|qcow2] [--force]`.
struct DiskCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a disk image (raw: truncate -s SIZE PATH, sparse; qcow2: qemu-img create -f qcow2).",
        discussion: """
            A raw image is a sparse file: no data block is written, so a 10G image takes no space until the \
            guest writes. qcow2 images are made by the real qemu-img. SIZE is bytes, or a number with K, M, G \
            or T (1024-based; KiB... also accepted; decimals like 1.5G allowed when they come to whole bytes); \
            it must be a multiple of 512 bytes. An existing file is refused unless --force, which replaces it \
            atomically (the old file stays intact if creation fails).
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Path of the new image file.")
    var path: String

    @Argument(help: ArgumentHelp("Virtual size: e.g. 512M, 10G, 1.5T (1024-based).", valueName: "size"),
              transform: DiskParse.size)
    var size: DiskSize

    @Option(help: "Image format: raw (sparse file) or qcow2.")
    var format: DiskFormat = .raw

    @Flag(help: "Replace an existing file.")
    var force = false

    func run() throws {
        let info = try DiskImage.create(path: path, size: size, format: format, force: force)
        print("created \(format.rawValue) disk \(path): \(size.humanReadable) (\(size.bytes) bytes) virtual, "
              + "\(DiskSize.human(info.actualSize)) allocated")
    }
}
