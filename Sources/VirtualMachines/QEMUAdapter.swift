import Glibc
import QEMU
import QMP

/// Turns a VM definition into QEMU's argument list through the QEMU target's builder.
enum QEMUArgumentsBuilder {
    /// `qmpSocketDescriptor` and `consoleLog` are as QEMU sees them (a descriptor number,
    /// `/proc/self/fd/N`): qnet opens both (QEMUHandover).
    static func arguments(for definition: VMDefinition, accel: Acceleration, qmpSocketDescriptor: Int32, consoleLog: String,
                          networkInterfaces: [NetworkInterface]) throws -> [String] {
        var drives = definition.disks.map { Drive.disk($0, format: detectFormat($0)) }
        if let cdrom = definition.cdrom { drives.append(.cdrom(cdrom)) }
        let commandLine = QEMUCommandLine(
            name: definition.name,
            machineType: "q35",
            // A firmware boot (disk, CD, --boot n) shows SeaBIOS and iPXE in the console log;
            // a direct kernel boot keeps the log to the kernel's own output.
            firmwareOnSerial: definition.kernel == nil,
            accelerator: accel == .kvm ? .kvm : .tcg,
            cpuModel: accel == .kvm ? "host" : nil,
            memoryMiB: definition.memory,
            cpus: definition.cpus,
            vnc: definition.vnc.map { .display($0) },
            startPaused: true,
            qmpSocketDescriptor: qmpSocketDescriptor,
            serial: .file(consoleLog, append: true),
            directKernelBoot: definition.kernel.map { DirectKernelBoot(kernel: $0, initrd: definition.initrd, commandLine: definition.append) },
            drives: drives,
            bootOrder: definition.boot,
            networkInterfaces: networkInterfaces,
            extraArguments: definition.extraArguments)
        do {
            return try commandLine.arguments()
        } catch let error as QEMUError {
            throw VMError.qemuCommandLine(error)
        }
    }

    /// qcow2 images start with "QFI\xfb"; everything else is passed as raw.
    static func detectFormat(_ path: String) -> DiskFormat {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .raw }
        defer { close(descriptor) }
        var magic = [UInt8](repeating: 0, count: 4)
        let count = magic.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, 4) }
        return count == 4 && magic == [0x51, 0x46, 0x49, 0xfb] ? .qcow2 : .raw
    }
}

/// The QMP operations the VM manager needs, over the QMP target's client.
final class VMControl {
    private let client: QMPClient

    init(socketPath: String, timeout: Double) throws {
        do {
            client = try QMPClient.connect(socketPath: socketPath, timeout: .milliseconds(Int(timeout * 1000)))
        } catch let error as QMPError {
            throw VMError.qmp(error)
        }
    }

    func cont() throws { try wrap("cont") { try client.cont() } }
    func runState() throws -> String { try wrap("query-status") { try client.queryStatus().status } }
    func systemPowerdown() throws { try wrap("system_powerdown") { try client.systemPowerdown() } }
    func quit() throws { try wrap("quit") { try client.quit() } }
    func close() { client.close() }

    private func wrap<T>(_ command: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as QMPError { throw VMError.qmp(error) }
    }
}
