import NetlinkWire

/// One guest NIC backed by TAP descriptors already placed at `descriptors` in QEMU.
public struct QEMUNetworkDevice: Equatable, Sendable {
    public var id: String
    public var descriptors: [Int32]
    public var model: NICModel
    public var mac: MACAddress
    public var queues: Int
}

/// Turns a VM definition into QEMU's argument list (through the QEMU target's builder).
enum QEMUArgumentsBuilder {
    static func arguments(for definition: VMDefinition, accel: Acceleration, qmpSocket: String, consoleLog: String,
                          pidFile: String, networkDevices: [QEMUNetworkDevice]) throws -> [String] {
        fatalError("adapter pending")
    }
}

enum QEMUBinary {
    static func locate() -> String? {
        ProcessLauncher.which("qemu-kvm") ?? ProcessLauncher.which("qemu-system-x86_64")
    }
}

/// The QMP operations the VM manager needs.
final class VMControl {
    init(socketPath: String, timeout: Double) throws { fatalError("adapter pending") }
    func cont() throws {}
    func runState() throws -> String { "" }
    func systemPowerdown() throws {}
    func quit() throws {}
    func close() {}
}
