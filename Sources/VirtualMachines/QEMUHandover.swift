import CLinuxSystem
import Glibc
import QNetSystem

/// What QEMU would otherwise open by path, opened by qnet and handed to QEMU as inherited
/// descriptors: the QMP listening socket, the console log, and the kernel and initrd of a
/// direct kernel boot (read as `/proc/self/fd/N`).
///
/// So QEMU needs no access to the VM's state directory or to the directories above the
/// kernel and initrd: a state directory or guest image under a 0700 directory (as
/// `mktemp -d` makes), or a kernel in /root, works with an unprivileged QEMU user.
/// Equivalent to `qemu-system-x86_64 -chardev socket,id=qmp0,fd=4,server=on,wait=off
/// -chardev file,id=serial0,path=/proc/self/fd/5 -kernel /proc/self/fd/6 4<>qmp.sock
/// 5>>console.log 6<vmlinuz`. Needs nothing beyond what qnet itself may open.
///
/// QEMU 7.2 quirks: the x86 loader opens `-kernel` and `-initrd` by path (fopen,
/// g_file_get_contents), not through qemu_open, so `-add-fd` + `/dev/fdset/N` does not work
/// for them; the /proc/self/fd/N link does. Opening that link checks the file's own mode
/// against QEMU's user (not the directories), so that is checked here, before QEMU starts.
final class QEMUHandover {
    /// QEMU's descriptor number → qnet's descriptor.
    private(set) var descriptors: [Int32: Int32] = [:]
    /// QEMU's number for the QMP listening socket.
    private(set) var qmpDescriptor: Int32 = -1
    /// The console log as QEMU opens it (`/proc/self/fd/N`).
    private(set) var consoleLog = ""
    private var kernel: String?
    private var initrd: String?
    private let firstDescriptor: Int32

    private init(firstDescriptor: Int32) { self.firstDescriptor = firstDescriptor }

    /// Opens everything for `definition`: a listening socket bound at `qmpSocket`, the
    /// console log at `consoleLog` (created empty and given to `user`), the kernel and
    /// initrd. They become QEMU's descriptors from `firstDescriptor` upwards.
    static func open(_ definition: VMDefinition, qmpSocket: String, consoleLog: String, user: UserAccount,
                     firstDescriptor: Int32) throws -> QEMUHandover {
        let handover = QEMUHandover(firstDescriptor: firstDescriptor)
        do {
            let listener = qnet_unix_listen(qmpSocket)
            guard listener >= 0 else { throw SystemError.lastError("listen on", path: qmpSocket) }
            handover.qmpDescriptor = handover.add(listener)

            let console = Glibc.open(consoleLog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
            guard console >= 0 else { throw SystemError.lastError("open", path: consoleLog) }
            // QEMU opens it again through /proc/self/fd/N as its user.
            _ = fchown(console, user.uid, user.gid)
            handover.consoleLog = "/proc/self/fd/\(handover.add(console))"

            for (what, path) in [("kernel", definition.kernel), ("initrd", definition.initrd)] {
                guard let path else { continue }
                let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else {
                    throw errno == ENOENT ? VMError.missingFile(what: what, path: path) : VMError.unreadableFile(what: what, path: path, user: user.name)
                }
                let number = handover.add(descriptor)
                var info = stat()
                guard fstat(descriptor, &info) == 0, user.permits(info) else {
                    throw VMError.unreadableFile(what: what, path: path, user: user.name)
                }
                if what == "kernel" { handover.kernel = "/proc/self/fd/\(number)" } else { handover.initrd = "/proc/self/fd/\(number)" }
            }
        } catch {
            handover.close()
            throw error
        }
        return handover
    }

    private func add(_ descriptor: Int32) -> Int32 {
        let number = firstDescriptor + Int32(descriptors.count)
        descriptors[number] = descriptor
        return number
    }

    /// `definition` as QEMU gets it: the kernel and initrd named by their descriptors.
    func applied(to definition: VMDefinition) -> VMDefinition {
        var launched = definition
        launched.kernel = kernel ?? definition.kernel
        launched.initrd = initrd ?? definition.initrd
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
