import Glibc
import QNetSystem

/// A built micro-VM: a kernel and an initramfs that QEMU boots with `-kernel`/`-initrd`.
public struct GuestImage: Equatable, Sendable {
    /// Directory holding the image's files.
    public var directory: String
    /// The kernel (a copy of the host's bzImage).
    public var kernel: String
    /// The initramfs (cpio newc, gzip-compressed unless built with `.none`).
    public var initramfs: String
    /// The kernel's release (`uname -r` in the guest), e.g. `6.1.0-56-amd64`.
    public var kernelRelease: String
    /// Modules in the image, in the order a NIC of each kind loads them.
    public var modules: [String]
    /// Optional programs included (`iperf3`).
    public var tools: [String]
    public var sizes: Sizes
    /// Hash of every input (paths, sizes, mtimes, scripts, options): equal fingerprints, equal images.
    public var fingerprint: String

    public struct Sizes: Equatable, Sendable {
        public var kernel: Int
        public var initramfs: Int
        /// The cpio archive before compression.
        public var initramfsUncompressed: Int
        public var total: Int { kernel + initramfs }
    }

    /// The QEMU arguments that boot this image with `plan`:
    /// `-kernel K -initrd I -append '...'` (no NIC, machine or console options).
    public func qemuBootArguments(plan: ProbePlan) throws -> [String] {
        ["-kernel", kernel, "-initrd", initramfs, "-append", try plan.kernelCommandLine()]
    }

    static let manifestName = "manifest"
    static let kernelName = "vmlinuz"
    static let initramfsName = "initramfs.img"

    /// Reads the image described by `DIRECTORY/manifest`, or nil when there is none or
    /// its files are gone, or are not regular files of qnet's user (see `load(in:)`).
    public static func load(from directory: String) -> GuestImage? {
        guard let opened = try? DirectoryDescriptor(opening: directory, followSymlinks: true) else { return nil }
        return load(in: opened, at: directory)
    }

    /// The image in `directory` (shown as `path`): its files read relative to it, never
    /// through a symlink, and only when each is a regular file of qnet's user with one link
    /// that others cannot write (`openStateFile`), so a file planted there is not handed to
    /// QEMU as the guest's kernel or initramfs. Sizes are of the files opened.
    static func load(in directory: DirectoryDescriptor, at path: String) -> GuestImage? {
        guard let bytes = try? directory.readStateFile(manifestName, kind: "guest image manifest") else { return nil }
        var values: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        func size(_ name: String) -> Int? {
            guard let fd = try? directory.openStateFile(name, flags: O_RDONLY, kind: "guest image file") else { return nil }
            defer { close(fd) }
            var info = stat()
            return fstat(fd, &info) == 0 ? Int(info.st_size) : nil
        }
        guard let fingerprint = values["fingerprint"], let release = values["release"],
              let kernelSize = size(kernelName), let initramfsSize = size(initramfsName),
              String(kernelSize) == values["kernel_bytes"], String(initramfsSize) == values["initramfs_bytes"] else { return nil }
        func list(_ key: String) -> [String] { (values[key] ?? "").split(separator: ",").map(String.init) }
        return GuestImage(directory: path, kernel: "\(path)/\(kernelName)", initramfs: "\(path)/\(initramfsName)", kernelRelease: release,
                          modules: list("modules"), tools: list("tools"),
                          sizes: Sizes(kernel: kernelSize, initramfs: initramfsSize,
                                       initramfsUncompressed: Int(values["uncompressed_bytes"] ?? "") ?? 0),
                          fingerprint: fingerprint)
    }

    var manifest: String {
        """
        fingerprint=\(fingerprint)
        release=\(kernelRelease)
        modules=\(modules.joined(separator: ","))
        tools=\(tools.joined(separator: ","))
        kernel_bytes=\(sizes.kernel)
        initramfs_bytes=\(sizes.initramfs)
        uncompressed_bytes=\(sizes.initramfsUncompressed)

        """
    }
}

/// Builds the probe micro-VM from the host's own files: the Debian kernel, its network
/// driver modules, busybox-static and (when installed) iperf3 with its libraries, plus
/// qnet's /init. Everything happens in-process: the cpio archive and its gzip compression
/// are qnet's own code; no external tool runs.
///
/// Equivalent to a hand-made `mkinitramfs`: `mkdir -p root/{bin,dev,...}; cp busybox ...;
/// cp $(modprobe --show-depends virtio_net) ...; find . | cpio -o -H newc | gzip`.
/// Needs read access to /boot and /lib/modules, and write access to the output directory.
public struct GuestImageBuilder: Sendable {
    /// The kernel image (bzImage).
    public var kernel: String
    /// Parent of the per-release module trees.
    public var modulesRoot: String
    /// A statically linked busybox.
    public var busybox: String
    /// iperf3 to include with its libraries; nil or a missing file leaves it out.
    public var iperf3: String?
    /// dhcpcd (Debian's dhcpcd-base), the guest's DHCPv6 client (busybox-static has no
    /// udhcpc6); nil or a missing file leaves it out, and the guest's dhcp6 step says so.
    public var dhcpcd: String?
    /// Network drivers that must be in the image (with their dependencies).
    public var requiredDrivers: [String]
    /// Drivers included when the kernel has them.
    public var optionalDrivers: [String]
    /// Modules loaded by name at run time (the ACPI power button for serve mode).
    public var extraModules: [String]
    public var compression: Compression
    /// Refuse to produce an image (kernel + initramfs) larger than this.
    public var sizeLimit: Int
    /// Further programs, each with every library it needs (`ProgramClosure`), e.g. qnet
    /// itself for the passthrough guest test.
    public var extraPrograms: [ExtraProgram] = []
    /// Further files given by their contents, e.g. a step script /init runs (`qnet.run=PATH`).
    public var extraFiles: [ExtraFile] = []

    /// A host program copied to `guestPath` with its libraries.
    public struct ExtraProgram: Equatable, Sendable {
        public var hostPath: String
        public var guestPath: String
        public init(hostPath: String, guestPath: String) {
            self.hostPath = hostPath
            self.guestPath = guestPath
        }
    }

    /// A file written at `guestPath` (absolute) with `contents` and `permissions`.
    public struct ExtraFile: Equatable, Sendable {
        public var guestPath: String
        public var contents: String
        public var permissions: UInt32
        public init(guestPath: String, contents: String, permissions: UInt32 = 0o755) {
            self.guestPath = guestPath
            self.contents = contents
            self.permissions = permissions
        }
    }

    public enum Compression: String, Sendable, CaseIterable {
        case none, gzip
    }

    /// virtio-net (QEMU's default NIC) and e1000 (`-net nic`'s default) are required.
    public static let defaultRequiredDrivers = ["virtio_pci", "virtio_net", "e1000"]
    /// rtl8139 (QEMU's `rtl8139` model) when the kernel has it.
    public static let defaultOptionalDrivers = ["8139cp", "8139too"]
    /// The ACPI power button and the event device the guest reads it from.
    public static let defaultExtraModules = ["button", "evdev"]
    /// 15 MB, the budget of the probe image.
    public static let defaultSizeLimit = 15_000_000

    /// Busybox applets linked in /bin (what /init and the udhcpc script use, plus a few for debugging).
    public static let applets = [
        "sh", "ash", "awk", "basename", "cat", "cut", "dd", "dmesg", "echo", "grep", "head", "hostname", "insmod",
        "ip", "kill", "ls", "lsmod", "mkdir", "mount", "mv", "nslookup", "ping", "ping6", "poweroff", "printf",
        "ps", "readlink", "reboot", "rm", "sed", "sleep", "tail", "timeout", "tr", "udhcpc", "umount", "uname",
        "wc", "[", "test", "true", "false",
    ]

    /// Version of the image layout; part of the fingerprint, so a new qnet rebuilds.
    static let layoutVersion = 1

    /// - Parameter kernel: the bzImage; nil picks the newest /boot/vmlinuz-*.
    public init(kernel: String? = nil, modulesRoot: String = "/lib/modules", busybox: String = "/bin/busybox",
                iperf3: String? = "/usr/bin/iperf3", compression: Compression = .gzip,
                dhcpcd: String? = "/usr/sbin/dhcpcd") throws {
        guard let kernel = kernel ?? KernelImage.newest() else { throw GuestImageError.noKernelFound(directory: "/boot") }
        self.kernel = kernel
        self.modulesRoot = modulesRoot
        self.busybox = busybox
        self.iperf3 = iperf3
        self.dhcpcd = dhcpcd
        self.requiredDrivers = Self.defaultRequiredDrivers
        self.optionalDrivers = Self.defaultOptionalDrivers
        self.extraModules = Self.defaultExtraModules
        self.compression = compression
        self.sizeLimit = Self.defaultSizeLimit
    }

    /// The resolved inputs of a build.
    struct Inputs {
        var kernel: KernelImage
        var index: ModuleIndex
        var modules: [KernelModule]
        var iperf: ProgramClosure?
        var dhcpcd: ProgramClosure?
        var extraPrograms: [ProgramClosure] = []
        var fingerprint: String

        /// The optional programs included, as /etc/qnet/tools and the manifest name them.
        var tools: [String] { (iperf == nil ? [] : ["iperf3"]) + (dhcpcd == nil ? [] : ["dhcpcd"]) }
    }

    func resolveInputs() throws -> Inputs {
        let image = try KernelImage(path: kernel)
        let directory = "\(modulesRoot)/\(image.release)"
        guard FileSystem.exists(directory) else {
            throw GuestImageError.missingInput(what: "modules directory", path: directory,
                                               hint: "the kernel \(image.release) has no modules installed; pass the matching --kernel")
        }
        guard Files.isReadableFile(busybox) else {
            throw GuestImageError.missingInput(what: "busybox", path: busybox, hint: "install busybox-static")
        }
        let busyboxELF = try ELFDependencies(path: busybox)
        guard busyboxELF.interpreter == nil, busyboxELF.needed.isEmpty else {
            throw GuestImageError.dynamicallyLinked(path: busybox, needed: busyboxELF.needed)
        }
        let index = try ModuleIndex(directory: directory)
        let optional = Set(optionalDrivers.map { $0.replacingDashes() })
        let modules = try index.loadOrder(for: requiredDrivers + optionalDrivers + extraModules, optional: optional.union(extraModules.map { $0.replacingDashes() }))
        if let compressed = modules.first(where: \.isCompressed) {
            throw GuestImageError.compressedModule(name: compressed.name, path: "\(directory)/\(compressed.relativePath)")
        }
        var iperf: ProgramClosure?
        if let iperf3, Files.isReadableFile(iperf3) {
            iperf = try ProgramClosure(program: iperf3, guestPath: "/usr/bin/iperf3")
        }
        var dhcpClient: ProgramClosure?
        if let dhcpcd, Files.isReadableFile(dhcpcd) {
            dhcpClient = try ProgramClosure(program: dhcpcd, guestPath: "/usr/sbin/dhcpcd")
        }

        let extras = try extraPrograms.map { try ProgramClosure(program: $0.hostPath, guestPath: $0.guestPath) }

        var identity = "layout=\(Self.layoutVersion)\ncompression=\(compression.rawValue)\n"
        identity += Files.identity(kernel) + "\n" + Files.identity("\(directory)/modules.dep") + "\n"
        identity += Files.identity("\(directory)/modules.alias") + "\n" + Files.identity(busybox) + "\n"
        for module in modules { identity += Files.identity("\(directory)/\(module.relativePath)") + "\n" }
        for file in (iperf?.files ?? []) + (dhcpClient?.files ?? []) + extras.flatMap(\.files) {
            identity += file.guestPath + "=" + Files.identity(file.hostPath) + "\n"
        }
        for file in extraFiles { identity += "\(file.guestPath) \(String(file.permissions, radix: 8))\n\(file.contents)\n" }
        identity += Self.applets.joined(separator: ",") + "\n" + GuestScripts.initScript + GuestScripts.udhcpcScript
        identity += GuestScripts.dhcpcdConfig + GuestScripts.passwd
        return Inputs(kernel: image, index: index, modules: modules, iperf: iperf, dhcpcd: dhcpClient, extraPrograms: extras,
                      fingerprint: fnv1a64Hex(identity))
    }

    /// The fingerprint an image built now would carry: compare with `GuestImage.fingerprint`
    /// to know whether an existing image is current.
    public func fingerprint() throws -> String { try resolveInputs().fingerprint }

    /// The uncompressed initramfs (a cpio newc archive) for `inputs`.
    func archive(_ inputs: Inputs) throws -> [UInt8] {
        var cpio = CPIOArchive()
        for directory in ["bin", "dev", "etc", "etc/qnet", "lib", "lib64", "lib/modules", "proc", "run", "sys", "tmp", "usr", "usr/bin"] {
            try cpio.addDirectory(directory, permissions: directory == "tmp" ? 0o1777 : 0o755)
        }
        // The kernel opens /dev/console for init before /init can mount devtmpfs.
        try cpio.addCharacterDevice("dev/console", major: 5, minor: 1)
        try cpio.addCharacterDevice("dev/null", major: 1, minor: 3, permissions: 0o666)
        try cpio.addFile("init", contents: Array(GuestScripts.initScript.utf8), permissions: 0o755)
        try cpio.addFile("etc/qnet/udhcpc.script", contents: Array(GuestScripts.udhcpcScript.utf8), permissions: 0o755)
        try cpio.addFile("bin/busybox", contents: try FileSystem.readBytes(busybox), permissions: 0o755)
        for applet in Self.applets { try cpio.addSymbolicLink("bin/\(applet)", target: "busybox") }

        // Modules, at their usual place, and the two tables /init reads.
        let release = inputs.kernel.release
        var created: Set<String> = ["lib", "lib/modules"]
        func makeParents(_ path: String) throws {
            var parent = ""
            for component in path.split(separator: "/").dropLast() {
                parent += parent.isEmpty ? String(component) : "/\(component)"
                if created.insert(parent).inserted && !cpio.contains(parent) { try cpio.addDirectory(parent) }
            }
        }
        var table = ""
        for module in inputs.modules {
            let guestPath = "lib/modules/\(release)/\(module.relativePath)"
            try makeParents(guestPath)
            try cpio.addFile(guestPath, contents: try FileSystem.readBytes("\(inputs.index.directory)/\(module.relativePath)"))
            let closure = try inputs.index.dependencyClosure(of: module.name)
            table += ([module.name, module.relativePath] + closure).joined(separator: " ") + "\n"
        }
        try cpio.addFile("etc/qnet/modules", contents: Array(table.utf8))
        let names = Set(inputs.modules.map(\.name)).subtracting(extraModules.map { $0.replacingDashes() })
        let aliases = try inputs.index.aliases(for: names).map { "\($0.pattern) \($0.module)\n" }.joined()
        try cpio.addFile("etc/qnet/modaliases", contents: Array(aliases.utf8))

        let tools = inputs.tools
        for program in [inputs.iperf, inputs.dhcpcd].compactMap({ $0 }) + inputs.extraPrograms {
            for file in program.files where !cpio.contains(String(file.guestPath.dropFirst())) {
                try makeParents(String(file.guestPath.dropFirst()))
                try cpio.addFile(String(file.guestPath.dropFirst()), contents: try FileSystem.readBytes(file.hostPath), permissions: 0o755)
            }
        }
        if inputs.dhcpcd != nil {
            // dhcpcd drops privileges to its own user (privilege separation) and keeps its
            // DUID and leases under /var/lib/dhcpcd.
            try cpio.addFile("etc/qnet/dhcpcd.conf", contents: Array(GuestScripts.dhcpcdConfig.utf8))
            try cpio.addFile("etc/passwd", contents: Array(GuestScripts.passwd.utf8))
            try cpio.addFile("etc/group", contents: Array(GuestScripts.group.utf8))
        }
        for file in extraFiles {
            let path = String(file.guestPath.drop { $0 == "/" })
            try makeParents(path)
            try cpio.addFile(path, contents: Array(file.contents.utf8), permissions: file.permissions)
        }
        try cpio.addFile("etc/qnet/tools", contents: Array((tools.isEmpty ? "none" : tools.joined(separator: ",")).utf8) + [10])
        try cpio.addFile("etc/qnet/fingerprint", contents: Array(inputs.fingerprint.utf8) + [10])
        return cpio.finishedBytes()
    }

    /// Builds the image into `directory` (created if needed): `vmlinuz`, `initramfs.img`
    /// and a `manifest`. Files are written atomically and world-readable, since QEMU runs
    /// as an unprivileged user.
    @discardableResult
    public func build(into directory: String) throws -> GuestImage {
        let files = try make()
        try FileSystem.makeDirectories(directory)
        return try files.write(into: try DirectoryDescriptor(opening: directory, followSymlinks: true), at: directory)
    }

    /// An image made in memory, not written yet.
    struct ImageFiles {
        var kernel: [UInt8]
        var initramfs: [UInt8]
        var image: (String) -> GuestImage

        /// Writes the files into the open `directory` (shown as `path`), each with
        /// `writeStateFile` (never through a symlink, never over another user's file).
        func write(into directory: DirectoryDescriptor, at path: String) throws -> GuestImage {
            let image = image(path)
            try directory.writeStateFile(GuestImage.kernelName, kernel, mode: 0o644, kind: "guest kernel")
            try directory.writeStateFile(GuestImage.initramfsName, initramfs, mode: 0o644, kind: "guest initramfs")
            try directory.writeStateFile(GuestImage.manifestName, Array(image.manifest.utf8), mode: 0o644, kind: "guest image manifest")
            return image
        }
    }

    /// The image's files from the inputs (checked, archived, compressed, within the size limit).
    func make() throws -> ImageFiles {
        let inputs = try resolveInputs()
        let cpio = try archive(inputs)
        let initramfs = compression == .gzip ? Gzip.compress(cpio) : cpio
        let kernelBytes = try FileSystem.readBytes(kernel)
        let total = kernelBytes.count + initramfs.count
        guard total <= sizeLimit else { throw GuestImageError.tooLarge(bytes: total, limit: sizeLimit) }
        let sizes = GuestImage.Sizes(kernel: kernelBytes.count, initramfs: initramfs.count, initramfsUncompressed: cpio.count)
        return ImageFiles(kernel: kernelBytes, initramfs: initramfs) { path in
            GuestImage(directory: path, kernel: "\(path)/\(GuestImage.kernelName)", initramfs: "\(path)/\(GuestImage.initramfsName)",
                       kernelRelease: inputs.kernel.release, modules: inputs.modules.map(\.name), tools: inputs.tools,
                       sizes: sizes, fingerprint: inputs.fingerprint)
        }
    }

    /// The image for these inputs from the cache, building it only when an input changed.
    ///
    /// The cache holds one image per kernel release in `CACHE/RELEASE/`. Concurrent callers
    /// (VMs started in parallel) serialise on `CACHE/.lock` (flock), so each image is built once.
    /// With `rebuild`, builds even when the cached image is current.
    ///
    /// The cache is state: it is reached through checked directory descriptors
    /// (`DirectoryDescriptor.openState`: no symlink on the way, every level qnet's user's), its
    /// files are used only when they are qnet's, and an entry planted there (a symlink, another
    /// user's directory) is refused with one line naming it and left alone.
    public func cached(in cacheDirectory: String = GuestImageBuilder.defaultCacheDirectory(), rebuild: Bool = false) throws -> (image: GuestImage, built: Bool) {
        let inputs = try resolveInputs()
        guard let cache = try DirectoryDescriptor.openState(cacheDirectory) else {
            throw GuestImageError.fileOperation(operation: "opening", path: cacheDirectory, errno: ENOENT)
        }
        // A build takes seconds; ten minutes means the holder is stuck (its pid is named).
        let lock = try FileLock.acquire(".lock", in: cache, timeout: .seconds(600))
        defer { lock.release() }
        let release = inputs.kernel.release
        let directory = "\(cacheDirectory)/\(release)"
        if let foreign = try Self.foreignDirectory(release, in: cache) {
            throw SystemError(errno: .notPermitted, operation: "use as the guest image cache (\(foreign); refused and left alone)", path: directory)
        }
        if !rebuild, let opened = try? cache.openDirectory(release, expectedOwner: geteuid()),
           let existing = GuestImage.load(in: opened, at: directory), existing.fingerprint == inputs.fingerprint {
            return (existing, false)
        }
        // Build beside the old image and swap directories, so a reader never sees a new
        // kernel with an old initramfs (QEMU processes holding the old files keep them).
        let files = try make()
        let staging = "\(release).new-\(getpid())", retired = "\(release).old-\(getpid())"
        Self.removeLeftover(staging, in: cache)
        guard mkdirat(cache.fd, staging, 0o755) == 0, fchmodat(cache.fd, staging, 0o755, 0) == 0 else {
            throw SystemError.lastError("create directory", path: "\(cacheDirectory)/\(staging)")
        }
        do {
            _ = try files.write(into: try cache.openDirectory(staging, expectedOwner: geteuid()), at: "\(cacheDirectory)/\(staging)")
        } catch {
            Self.removeLeftover(staging, in: cache)
            throw error
        }
        if try cache.status(release) != nil && renameat(cache.fd, release, cache.fd, retired) != 0 {
            let code = errno
            Self.removeLeftover(staging, in: cache)
            throw GuestImageError.fileOperation(operation: "replacing", path: directory, errno: code)
        }
        guard renameat(cache.fd, staging, cache.fd, release) == 0 else {
            let code = errno
            Self.removeLeftover(staging, in: cache)
            renameat(cache.fd, retired, cache.fd, release)
            throw GuestImageError.fileOperation(operation: "renaming into place", path: directory, errno: code)
        }
        Self.removeLeftover(retired, in: cache)
        guard let opened = try? cache.openDirectory(release, expectedOwner: geteuid()),
              let image = GuestImage.load(in: opened, at: directory) else {
            throw GuestImageError.fileOperation(operation: "reading back", path: directory, errno: ENOENT)
        }
        return (image, true)
    }

    /// Why the entry `name` in the cache is not a directory of qnet's user (a symlink,
    /// another user's entry, a file); nil when it is one, or missing.
    static func foreignDirectory(_ name: String, in cache: DirectoryDescriptor) throws -> String? {
        guard let info = try cache.status(name) else { return nil }
        if info.st_mode & S_IFMT == S_IFLNK { return "a symbolic link owned by uid \(info.st_uid)" }
        if info.st_mode & S_IFMT != S_IFDIR { return "not a directory (owned by uid \(info.st_uid))" }
        if info.st_uid != geteuid() { return "a directory owned by uid \(info.st_uid), not qnet's (uid \(geteuid()))" }
        return nil
    }

    /// Removes a staging or retired image directory qnet made; what it did not make there
    /// is reported on stderr and left alone.
    static func removeLeftover(_ name: String, in cache: DirectoryDescriptor) {
        let left = cache.removeStateTree(name)
        if !left.isEmpty { writeStandardError("qnet: warning: guest image cache: left alone: \(left.joined(separator: ", "))\n") }
    }

    /// Where images are cached: `$QNET_STATE_DIR/guest` when set, else
    /// `/var/cache/qnet/guest` for root, else `$XDG_CACHE_HOME/qnet/guest` (or `~/.cache/qnet/guest`).
    public static func defaultCacheDirectory() -> String {
        if let state = Files.environment("QNET_STATE_DIR") { return "\(state)/guest" }
        if geteuid() == 0 { return "/var/cache/qnet/guest" }
        if let cache = Files.environment("XDG_CACHE_HOME") { return "\(cache)/qnet/guest" }
        return "\(Files.environment("HOME") ?? "/tmp")/.cache/qnet/guest"
    }
}

/// FNV-1a, 64 bits, as 16 hex digits (a change detector, not a security measure).
func fnv1a64Hex(_ text: String) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
