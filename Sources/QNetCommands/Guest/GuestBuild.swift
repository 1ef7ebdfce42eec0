import ArgumentParser
import GuestImage

/// `qnet guest build`: the micro-VM's kernel and initramfs, made in-process
/// (like `mkinitramfs` + `cpio -o -H newc | gzip`, without running either).
struct GuestBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build the probe micro-VM image (kernel + initramfs) from the host's kernel, modules and busybox-static.",
        discussion: """
            The image holds the kernel (a copy of --kernel), and an initramfs with busybox-static, the \
            kernel's virtio-net, e1000 and rtl8139 drivers (with their dependencies from modules.dep), \
            iperf3 with its libraries when installed, and qnet's /init, which takes its instructions from \
            the kernel command line and prints QNET result lines on the serial console. \
            Without --out the image goes to the cache (STATE_DIR/guest with --state-dir or $QNET_STATE_DIR, \
            else /var/cache/qnet/guest), \
            where `qnet probe` finds it. An image whose inputs have not changed is not rebuilt unless --force.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Kernel image (bzImage) to boot (default: the newest /boot/vmlinuz-*).", valueName: "path"))
    var kernel: String?

    @Option(help: ArgumentHelp("Write the image here instead of the cache.", valueName: "dir"))
    var out: String?

    @Option(help: ArgumentHelp("A statically linked busybox.", valueName: "path"))
    var busybox: String = "/bin/busybox"

    @Flag(help: "Leave iperf3 out even when it is installed.")
    var noIperf3 = false

    @Flag(help: "Write an uncompressed cpio initramfs (boots a little faster, about twice the size).")
    var uncompressed = false

    @Flag(help: "Rebuild even when the image is up to date.")
    var force = false

    /// GuestImageError reaches the CLI's error mapping (exit 2 for bad input, 1 otherwise).
    func run() throws {
        var builder = try GuestImageBuilder(kernel: kernel, busybox: busybox, iperf3: noIperf3 ? nil : "/usr/bin/iperf3",
                                            compression: uncompressed ? .none : .gzip)
        if uncompressed { builder.sizeLimit = Int.max }
        let image: GuestImage
        let built: Bool
        if let out {
            if !force, let existing = GuestImage.load(from: out), existing.fingerprint == (try builder.fingerprint()) {
                (image, built) = (existing, false)
            } else {
                (image, built) = (try builder.build(into: out), true)
            }
        } else {
            let cache = global.stateDirectory.map { "\($0)/guest" } ?? GuestImageBuilder.defaultCacheDirectory()
            (image, built) = try builder.cached(in: cache, rebuild: force)
        }
        print("\(built ? "built" : "up to date:") guest image \(image.directory) (kernel \(image.kernelRelease))")
        print("  kernel     \(image.kernel)  \(megabytes(image.sizes.kernel))")
        print("  initramfs  \(image.initramfs)  \(megabytes(image.sizes.initramfs))"
              + (image.sizes.initramfsUncompressed != image.sizes.initramfs ? " (gzip; \(megabytes(image.sizes.initramfsUncompressed)) as cpio)" : ""))
        print("  total      \(megabytes(image.sizes.total))")
        print("  modules    \(image.modules.joined(separator: " "))")
        print("  tools      \(image.tools.isEmpty ? "none" : image.tools.joined(separator: " "))")
    }

    private func megabytes(_ bytes: Int) -> String {
        let tenths = (bytes * 10 + 500_000) / 1_000_000
        return "\(tenths / 10).\(tenths % 10) MB (\(bytes) bytes)"
    }
}
