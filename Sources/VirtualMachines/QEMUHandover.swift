import CLinuxSystem
import Glibc
import QEMU
import QNetSystem

/// Everything QEMU would otherwise open by path, opened by qnet (as the invoking user) and
/// handed to QEMU as inherited descriptors: the QMP listening socket, the console log,
/// the disks and CD image (`-add-fd` sets reached as `/dev/fdset/N`), and the kernel and
/// initrd of a direct kernel boot (read as `/proc/self/fd/N`).
///
/// So QEMU owns nothing on the host and needs no access to the VM's state directory, the
/// images' directories or the images' modes: a kernel, initrd or disk under /root (0700)
/// boots with QEMU running as its own unprivileged uid, which libvirt users know as
/// "Permission denied" unless the files are relabelled or chowned.
/// Equivalent to `qemu-system-x86_64 -add-fd fd=5,set=0 -chardev file,id=serial0,path=/dev/fdset/0
/// -chardev socket,id=qmp0,fd=4,server=on,wait=off -kernel /proc/self/fd/6 4<>qmp.sock
/// 5>>console.log 6<vmlinuz`. Needs nothing beyond what qnet itself may open.
///
/// QEMU 7.2 quirks: the x86 loader opens `-kernel` and `-initrd` by path (fopen,
/// g_file_get_contents), not through qemu_open, so `/dev/fdset/N` does not work for them;
/// the /proc/self/fd/N link does, but reopening it checks the file's own mode against
/// QEMU's uid. A file QEMU's uid may not read is therefore handed over as a sealed
/// in-memory copy (memfd, mode 0777, reachable only through QEMU's own descriptor).
/// `/dev/fdset/N` picks the descriptor whose access mode matches QEMU's open: the block
/// layer opens a writable disk read-only first, so a disk's set holds a read-write and a
/// read-only descriptor, and the console log's set a write-only one.
final class QEMUHandover {
    /// QEMU's descriptor number → qnet's descriptor.
    private(set) var descriptors: [Int32: Int32] = [:]
    /// QEMU's number for the QMP listening socket.
    private(set) var qmpDescriptor: Int32 = -1
    /// The console log as QEMU opens it (`/dev/fdset/N`).
    private(set) var consoleLog = ""
    /// `-add-fd` sets: the console log's, then one per disk and the CD image's.
    private(set) var descriptorSets: [DescriptorSet] = []
    private var kernel: String?
    private var initrd: String?
    private var disks: [String] = []
    private var cdrom: String?
    private let firstDescriptor: Int32

    private init(firstDescriptor: Int32) { self.firstDescriptor = firstDescriptor }

    /// Opens everything for `definition`: a listening socket bound at `qmpSocket` (in the
    /// VM's root-only directory, so only root can connect), the console log (`console.log`
    /// in `directory`, or the `--console` path), the disks, CD image, kernel and initrd.
    /// They become QEMU's descriptors from `firstDescriptor` upwards.
    static func open(_ definition: VMDefinition, directory: DirectoryDescriptor, qmpSocket: String, consoleLog: String,
                     user: UserAccount, firstDescriptor: Int32) throws -> QEMUHandover {
        let handover = QEMUHandover(firstDescriptor: firstDescriptor)
        do {
            let listener = qnet_unix_listen(qmpSocket)
            guard listener >= 0 else { throw SystemError.lastError("listen on", path: qmpSocket) }
            handover.qmpDescriptor = handover.add(listener)
            // The directory already keeps everyone but root out; the socket says so too.
            _ = fchmodat(directory.fd, "qmp.sock", 0o600, 0)

            let console: Int32
            if consoleLog == directory.path + "/console.log" {
                console = try directory.openFile("console.log", flags: O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, mode: 0o600)
            } else {
                console = Glibc.open(consoleLog, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
                guard console >= 0 else { throw SystemError.lastError("open", path: consoleLog) }
            }
            handover.consoleLog = handover.addSet([handover.add(console)])

            for disk in definition.disks {
                let readWrite = try openImage("disk", disk, flags: O_RDWR, user: user)
                let readWriteNumber = handover.add(readWrite)
                let readOnly = try openImage("disk", disk, flags: O_RDONLY, user: user)
                handover.disks.append(handover.addSet([readWriteNumber, handover.add(readOnly)]))
            }
            if let cdrom = definition.cdrom {
                handover.cdrom = handover.addSet([handover.add(try openImage("ISO", cdrom, flags: O_RDONLY, user: user))])
            }

            for (what, path) in [("kernel", definition.kernel), ("initrd", definition.initrd)] {
                guard let path else { continue }
                var descriptor = try openImage(what, path, flags: O_RDONLY, user: user)
                var info = stat()
                if fstat(descriptor, &info) == 0, !user.permits(info) {
                    // QEMU's uid may not reopen it: a sealed copy it can.
                    let copy = qnet_sealed_copy(descriptor, "qnet-\(what)")
                    let failure = SystemError.lastError("copy into memory", path: path)
                    Glibc.close(descriptor)
                    guard copy >= 0 else { throw failure }
                    descriptor = copy
                }
                let number = handover.add(descriptor)
                if what == "kernel" { handover.kernel = "/proc/self/fd/\(number)" } else { handover.initrd = "/proc/self/fd/\(number)" }
            }
        } catch {
            handover.close()
            throw error
        }
        return handover
    }

    /// Opens an image as the invoking user (close-on-exec; QEMU gets it through the spawn).
    private static func openImage(_ what: String, _ path: String, flags: Int32, user: UserAccount) throws -> Int32 {
        let descriptor = Glibc.open(path, flags | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { throw VMError.missingFile(what: what, path: path) }
            throw SystemError.lastError("open \(what)", path: path)
        }
        return descriptor
    }

    private func add(_ descriptor: Int32) -> Int32 {
        let number = firstDescriptor + Int32(descriptors.count)
        descriptors[number] = descriptor
        return number
    }

    /// A new `-add-fd` set of QEMU's `numbers`; returns its `/dev/fdset/N` path.
    private func addSet(_ numbers: [Int32]) -> String {
        let set = DescriptorSet(set: descriptorSets.count, descriptors: numbers)
        descriptorSets.append(set)
        return set.path
    }

    /// `definition` as QEMU gets it: kernel and initrd as /proc/self/fd/N, disks and the
    /// CD image as /dev/fdset/N (`formats` were detected from the real paths).
    func applied(to definition: VMDefinition) -> VMDefinition {
        var launched = definition
        launched.kernel = kernel ?? definition.kernel
        launched.initrd = initrd ?? definition.initrd
        if disks.count == definition.disks.count { launched.disks = disks }
        launched.cdrom = cdrom ?? definition.cdrom
        return launched
    }

    /// Closes qnet's copies (idempotent). Once QEMU runs it holds its own; qnet must not keep
    /// the QMP listener open, or a connection to a QEMU that died would never be refused.
    func close() {
        for descriptor in descriptors.values { Glibc.close(descriptor) }
        descriptors = [:]
    }

    deinit { close() }
}
