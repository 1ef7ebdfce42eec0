import Glibc

/// The kernel and initrd of a direct kernel boot, opened by qnet and handed to QEMU as
/// inherited descriptors that QEMU reads as `/proc/self/fd/N`.
///
/// So QEMU needs no search permission on the directories above them: a guest image under
/// a 0700 state directory, or a kernel in /root, boots as an unprivileged QEMU user.
/// Equivalent to `qemu-system-x86_64 -kernel /proc/self/fd/5 5<vmlinuz`. Needs only read
/// access for qnet itself.
///
/// QEMU 7.2 quirk: the x86 loader opens `-kernel` and `-initrd` by path (fopen,
/// g_file_get_contents), not through qemu_open, so `-add-fd` + `/dev/fdset/N` does not work
/// for them; the /proc/self/fd/N link does. Opening that link checks the file's own mode
/// against QEMU's user (not the directories), so that is checked here, before QEMU starts.
struct BootFiles {
    /// qnet's descriptors and the numbers they get in QEMU.
    private(set) var mappings: [(from: Int32, to: Int32)] = []
    private var kernelPath: String?
    private var initrdPath: String?

    /// Opens `definition`'s kernel and initrd (if any), to become QEMU's descriptors from
    /// `firstDescriptor` upwards. Throws `unreadableFile` when `user` could not read one.
    static func open(_ definition: VMDefinition, user: UserAccount, firstDescriptor: Int32) throws -> BootFiles {
        var files = BootFiles()
        do {
            for (what, path) in [("kernel", definition.kernel), ("initrd", definition.initrd)] {
                guard let path else { continue }
                let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else {
                    throw errno == ENOENT ? VMError.missingFile(what: what, path: path) : VMError.unreadableFile(what: what, path: path, user: user.name)
                }
                let target = firstDescriptor + Int32(files.mappings.count)
                files.mappings.append((descriptor, target))
                var info = stat()
                guard fstat(descriptor, &info) == 0, user.permits(info) else {
                    throw VMError.unreadableFile(what: what, path: path, user: user.name)
                }
                if what == "kernel" { files.kernelPath = "/proc/self/fd/\(target)" } else { files.initrdPath = "/proc/self/fd/\(target)" }
            }
        } catch {
            files.close()
            throw error
        }
        return files
    }

    /// `definition` as QEMU gets it: the kernel and initrd named by their descriptors.
    func applied(to definition: VMDefinition) -> VMDefinition {
        var launched = definition
        launched.kernel = kernelPath ?? definition.kernel
        launched.initrd = initrdPath ?? definition.initrd
        return launched
    }

    /// Closes qnet's copies (QEMU keeps its own once started).
    func close() {
        for mapping in mappings { Glibc.close(mapping.from) }
    }
}
