import Glibc
import QEMU
import QMP

/// Turns a VM definition into QEMU's argument list through the QEMU target's builder.
enum QEMUArgumentsBuilder {
    /// `qmpSocketDescriptor`, `consoleLog` and the definition's files are as QEMU sees them
    /// (a descriptor number, `/dev/fdset/N`, `/proc/self/fd/N`): qnet opens them all
    /// (QEMUHandover) and hands them over as `descriptorSets`. `diskFormats` are those of
    /// the disks' real files, in order; QEMU runs under `-sandbox`.
    static func arguments(for definition: VMDefinition, accel: Acceleration, qmpSocketDescriptor: Int32, consoleLog: String,
                          descriptorSets: [DescriptorSet] = [], diskFormats: [DiskFormat]? = nil,
                          networkInterfaces: [NetworkInterface], hostDevices: [PCIHostDevice] = []) throws -> [String] {
        var drives = definition.disks.enumerated().map { index, disk in
            Drive.disk(disk, format: diskFormats.flatMap { index < $0.count ? $0[index] : nil } ?? detectFormat(disk))
        }
        if let cdrom = definition.cdrom { drives.append(.cdrom(cdrom)) }
        var commandLine = QEMUCommandLine(
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
        commandLine.descriptorSets = descriptorSets
        commandLine.hostDevices = hostDevices
        commandLine.sandbox = true
        do {
            return try commandLine.arguments()
        } catch let error as QEMUError {
            throw VMError.qemuCommandLine(error)
        }
    }

    /// The vfio-pci devices of the passthrough NICs (`pci=`, `vf=`), by NIC index: id
    /// `hostdevN` after the NIC's index, host address as resolved (a VF's own address).
    static func hostDevices(_ addresses: [Int: String]) -> [PCIHostDevice] {
        addresses.keys.sorted().map { PCIHostDevice(id: "hostdev\($0)", address: addresses[$0]!) }
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
