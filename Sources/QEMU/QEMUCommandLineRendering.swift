import QNetTypes

extension QEMUCommandLine {
    /// The kernel's limit for a UNIX socket path (sizeof(sun_path) - 1 for the NUL byte).
    /// QEMU fails at start-up ("UNIX socket path '...' is too long") beyond it.
    public static let maximumSocketPathBytes = 107

    /// The arguments after the executable, in a fixed order (identity, machine, memory and
    /// CPUs, displays, control, serial, boot, disks, NICs, devices, pass-through).
    /// Throws `QEMUError` naming the first value that cannot be expressed or is not allowed.
    public func arguments() throws -> [String] {
        var argv: [String] = []

        if let name {
            var list = try QEMUOptionList(option: "VM name")
            try list.add("guest", name, option: "VM name")
            argv += ["-name", list.rendered]
        }

        try Self.checkIdentifier(machineType, what: "machine type", allowed: "use a QEMU machine type such as q35, pc, microvm or none")
        argv += ["-machine", machineType + (firmwareOnSerial ? ",graphics=off" : "")]
        if let accelerator { argv += ["-accel", accelerator.rawValue] }
        if let cpuModel {
            try Self.checkIdentifier(cpuModel, what: "CPU model", allowed: "use a QEMU CPU model such as host, max or qemu64")
            argv += ["-cpu", cpuModel]
        }
        if let memoryMiB {
            guard memoryMiB > 0 else {
                throw QEMUError.invalidValue(what: "memory size", value: "\(memoryMiB) MiB", allowed: "use at least 1 MiB")
            }
            argv += ["-m", String(memoryMiB)]
        }
        if let cpus {
            guard (1...Self.maximumCPUs).contains(cpus) else {
                throw QEMUError.invalidValue(what: "CPU count", value: String(cpus), allowed: "use 1 to \(Self.maximumCPUs)")
            }
            argv += ["-smp", String(cpus)]
        }
        if sandbox { argv += ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"] }
        if noDefaults { argv.append("-nodefaults") }
        if noUserConfig { argv.append("-no-user-config") }

        if headless { argv += ["-display", "none"] }
        if let video = videoDevice ?? (vnc != nil ? .standard : nil) {
            argv += ["-device", video.rawValue]
        }
        if let vnc { argv += ["-vnc", try Self.render(vnc)] }

        if startPaused { argv.append("-S") }
        var sets = Set<Int>()
        for descriptorSet in descriptorSets {
            guard descriptorSet.set >= 0, sets.insert(descriptorSet.set).inserted, !descriptorSet.descriptors.isEmpty else {
                throw QEMUError.invalidValue(what: "descriptor set", value: String(descriptorSet.set),
                                             allowed: "use each set number (0 or more) once, with at least one descriptor")
            }
            for descriptor in descriptorSet.descriptors {
                guard descriptor > 2 else {
                    throw QEMUError.invalidValue(what: "descriptor", value: String(descriptor), allowed: "use an inherited descriptor above 2")
                }
                argv += ["-add-fd", "fd=\(descriptor),set=\(descriptorSet.set)"]
            }
        }
        if let pidFile {
            // A plain value (not an option list): commas pass as they are.
            try QEMUOptionSyntax.checkExpressible(pidFile, option: "pid file")
            argv += ["-pidfile", pidFile]
        }
        if let qmpSocket {
            try Self.checkSocketPath(qmpSocket, what: "QMP socket path")
            var chardev = try QEMUOptionList("socket", option: "QMP chardev")
            chardev.add("id", "qmp0")
            try chardev.add("path", qmpSocket, option: "QMP socket path")
            chardev.add("server", true)
            chardev.add("wait", false)
            argv += ["-chardev", chardev.rendered, "-mon", "chardev=qmp0,mode=control"]
        }
        if let qmpSocketDescriptor {
            guard qmpSocket == nil else {
                throw QEMUError.invalidValue(what: "QMP socket", value: "a path and descriptor \(qmpSocketDescriptor)", allowed: "give a path or a descriptor, not both")
            }
            guard qmpSocketDescriptor >= 0 else {
                throw QEMUError.invalidValue(what: "QMP socket descriptor", value: String(qmpSocketDescriptor), allowed: "use an open descriptor (0 or more)")
            }
            argv += ["-chardev", "socket,id=qmp0,fd=\(qmpSocketDescriptor),server=on,wait=off", "-mon", "chardev=qmp0,mode=control"]
        }
        if let serial { argv += try Self.render(serial) }

        if let boot = directKernelBoot {
            try QEMUOptionSyntax.checkExpressible(boot.kernel, option: "kernel")
            argv += ["-kernel", boot.kernel]
            if let initrd = boot.initrd {
                try QEMUOptionSyntax.checkExpressible(initrd, option: "initrd")
                argv += ["-initrd", initrd]
            }
            if let commandLine = boot.commandLine {
                try QEMUOptionSyntax.checkExpressible(commandLine, option: "kernel command line", allowEmpty: true)
                argv += ["-append", commandLine]
            }
        }

        for drive in drives { argv += ["-drive", try Self.render(drive)] }
        if let bootOrder {
            try Self.checkBootOrder(bootOrder)
            argv += ["-boot", "order=" + bootOrder]
        }

        if networkInterfaces.isEmpty {
            argv += ["-nic", "none"]
        } else {
            var seen = Set<String>()
            for nic in networkInterfaces {
                guard seen.insert(nic.id).inserted else {
                    throw QEMUError.invalidValue(what: "NIC id", value: nic.id, allowed: "each NIC needs its own id")
                }
                argv += try Self.render(nic)
            }
        }

        var deviceIDs = Set(networkInterfaces.map(\.id))
        for device in hostDevices {
            guard deviceIDs.insert(device.id).inserted else {
                throw QEMUError.invalidValue(what: "device id", value: device.id, allowed: "each NIC and host device needs its own id")
            }
            argv += ["-device", try Self.render(device)]
        }

        if let debugExit {
            argv += ["-device", "isa-debug-exit,iobase=\(Self.hex(debugExit.ioBase)),iosize=\(Self.hex(debugExit.ioSize))"]
        }
        if noReboot { argv.append("-no-reboot") }

        for argument in extraArguments where argument.unicodeScalars.contains("\0") {
            throw QEMUError.inexpressibleValue(option: "extra argument", value: argument, reason: "it contains a NUL byte, which no command line can carry")
        }
        argv += extraArguments
        return argv
    }

    /// QEMU's x86 limit for `-smp` on q35 (MachineClass.max_cpus).
    public static let maximumCPUs = 288

    // MARK: - Pieces

    static func render(_ vnc: VNCListener) throws -> String {
        switch vnc {
        case let .display(number, address):
            guard (0...(65535 - 5900)).contains(number) else {
                throw QEMUError.invalidValue(what: "VNC display", value: ":\(number)", allowed: "use :0 to :\(65535 - 5900) (TCP port 5900 + N)")
            }
            var host = ""
            if let address {
                guard let ip = IPAddress(address) else {
                    throw QEMUError.invalidValue(what: "VNC listen address", value: address, allowed: "use an IP address such as 127.0.0.1 or ::1")
                }
                host = ip.isIPv4 ? ip.description : "[\(ip)]"
            }
            return "\(host):\(number)"
        case let .unixSocket(path):
            try checkSocketPath(path, what: "VNC socket path")
            return "unix:" + (try QEMUOptionSyntax.escape(path, option: "VNC socket path"))
        }
    }

    static func render(_ serial: SerialPort) throws -> [String] {
        var chardev: QEMUOptionList
        switch serial {
        case .none:
            return ["-serial", "none"]
        case let .file(path, append):
            chardev = try QEMUOptionList("file", option: "serial chardev")
            chardev.add("id", "serial0")
            try chardev.add("path", path, option: "serial log file")
            if append { chardev.add("append", true) }
        case let .unixSocket(path, logFile):
            try checkSocketPath(path, what: "serial socket path")
            chardev = try QEMUOptionList("socket", option: "serial chardev")
            chardev.add("id", "serial0")
            try chardev.add("path", path, option: "serial socket path")
            chardev.add("server", true)
            chardev.add("wait", false)
            if let logFile {
                try chardev.add("logfile", logFile, option: "serial log file")
                chardev.add("logappend", true)
            }
        case .stdio:
            chardev = try QEMUOptionList("stdio", option: "serial chardev")
            chardev.add("id", "serial0")
            chardev.add("signal", false)
        }
        return ["-chardev", chardev.rendered, "-serial", "chardev:serial0"]
    }

    static func render(_ drive: Drive) throws -> String {
        if drive.media == .cdrom && (drive.interface == .virtio || drive.interface == .none) {
            throw QEMUError.invalidValue(what: "CD-ROM interface", value: drive.interface.rawValue,
                                         allowed: "a CD-ROM needs if=ide or if=scsi (virtio-blk has no removable media)")
        }
        var list = try QEMUOptionList(option: "drive")
        try list.add("file", QEMUOptionSyntax.blockLayerFileName(drive.path), option: "drive file")
        list.add("format", drive.format.rawValue)
        list.add("if", drive.interface.rawValue)
        if drive.media == .cdrom { list.add("media", "cdrom") }
        if drive.readOnly { list.add("readonly", true) }
        return list.rendered
    }

    static func render(_ nic: NetworkInterface) throws -> [String] {
        try checkIdentifier(nic.id, what: "NIC id", allowed: "start with a letter; then letters, digits, '-', '.' or '_'", qemuID: true)
        if let mac = nic.macAddress, !mac.isValidUnicast {
            throw QEMUError.invalidValue(what: "MAC address", value: mac.description,
                                         allowed: "use a unicast, non-zero address (even first byte), e.g. 52:54:00:12:34:56")
        }
        var netdev: QEMUOptionList
        var queues = 1
        switch nic.backend {
        case let .tap(tap):
            queues = tap.descriptors.count
            guard (1...TAPBackend.maximumQueues).contains(queues) else {
                throw QEMUError.invalidValue(what: "TAP descriptor count for \(nic.id)", value: String(queues),
                                             allowed: "pass 1 to \(TAPBackend.maximumQueues) descriptors (one per queue)")
            }
            if let bad = (tap.descriptors + tap.vhostDescriptors).first(where: { $0 < 0 }) {
                throw QEMUError.invalidValue(what: "descriptor for \(nic.id)", value: String(bad), allowed: "use an open descriptor (0 or more)")
            }
            if !tap.vhostDescriptors.isEmpty && tap.vhostDescriptors.count != queues {
                throw QEMUError.invalidValue(what: "vhost descriptor count for \(nic.id)", value: String(tap.vhostDescriptors.count),
                                             allowed: "pass one per TAP queue (\(queues))")
            }
            if queues > 1 && nic.model != .virtio {
                throw QEMUError.invalidValue(what: "NIC model for \(queues) queues", value: nic.model.rawValue,
                                             allowed: "multiqueue needs model=virtio; use queues=1 with \(nic.model.rawValue)")
            }
            netdev = try QEMUOptionList("tap", option: "netdev")
            netdev.add("id", nic.id)
            let numbers = tap.descriptors.map(String.init)
            if queues == 1 { netdev.add("fd", numbers[0]) } else { netdev.add("fds", numbers.joined(separator: ":")) }
            if tap.vhost || !tap.vhostDescriptors.isEmpty {
                netdev.add("vhost", true)
                let vhostNumbers = tap.vhostDescriptors.map(String.init)
                if vhostNumbers.count == 1 { netdev.add("vhostfd", vhostNumbers[0]) }
                if vhostNumbers.count > 1 { netdev.add("vhostfds", vhostNumbers.joined(separator: ":")) }
            }
        case let .user(user):
            netdev = try QEMUOptionList("user", option: "netdev")
            netdev.add("id", nic.id)
            if let network = user.network {
                guard network.address.isIPv4, network.length <= 30 else {
                    throw QEMUError.invalidValue(what: "user network", value: network.description, allowed: "use an IPv4 prefix of /30 or wider, e.g. 10.0.2.0/24")
                }
                netdev.add("net", network.description)
            }
            if user.restrict { netdev.add("restrict", true) }
            for forward in user.portForwards {
                for address in [forward.hostAddress, forward.guestAddress].compactMap({ $0 }) where !address.isIPv4 {
                    throw QEMUError.invalidValue(what: "port forward address", value: address.description,
                                                 allowed: "QEMU's user network forwards IPv4 only; use an IPv4 address")
                }
                guard forward.guestPort != 0 else {
                    throw QEMUError.invalidValue(what: "guest port", value: "0", allowed: "use 1 to 65535")
                }
                let host = forward.hostAddress?.description ?? ""
                let guest = forward.guestAddress?.description ?? ""
                netdev.add("hostfwd", "\(forward.transportProtocol.rawValue):\(host):\(forward.hostPort)-\(guest):\(forward.guestPort)")
            }
        case let .stream(socketPath):
            try checkSocketPath(socketPath, what: "stream socket path")
            netdev = try QEMUOptionList("stream", option: "netdev")
            netdev.add("id", nic.id)
            netdev.add("server", false)
            netdev.add("addr.type", "unix")
            try netdev.add("addr.path", socketPath, option: "stream socket path")
        }

        var device = try QEMUOptionList(nic.model.deviceDriver, option: "NIC device")
        device.add("netdev", nic.id)
        if let mac = nic.macAddress { device.add("mac", mac.description) }
        if queues > 1 {
            // virtio-net needs one MSI-X vector per queue in each direction, plus one for
            // configuration changes and one for the control queue.
            device.add("mq", true)
            device.add("vectors", 2 * queues + 2)
        }
        return ["-netdev", netdev.rendered, "-device", device.rendered]
    }

    static func render(_ device: PCIHostDevice) throws -> String {
        try checkIdentifier(device.id, what: "host device id", allowed: "start with a letter; then letters, digits, '-', '.' or '_'", qemuID: true)
        guard PCIHostDevice.isAddress(device.address) else {
            throw QEMUError.invalidValue(what: "PCI address", value: device.address, allowed: "use the full form DDDD:BB:DD.F, e.g. 0000:03:00.0")
        }
        var list = try QEMUOptionList("vfio-pci", option: "host device")
        list.add("host", device.address.lowercased())
        list.add("id", device.id)
        if let bootIndex = device.bootIndex {
            guard bootIndex >= 0 else {
                throw QEMUError.invalidValue(what: "boot index of \(device.id)", value: String(bootIndex), allowed: "use 0 or more")
            }
            list.add("bootindex", bootIndex)
        }
        return list.rendered
    }

    // MARK: - Validation

    /// QEMU ids: a letter, then letters, digits, '-', '.', '_' (id_wellformed()).
    /// Machine types and CPU models also allow digits and '+' first-free forms such as `pc-q35-7.2`.
    static func checkIdentifier(_ value: String, what: String, allowed: String, qemuID: Bool = false) throws {
        let ok = !value.isEmpty && value.unicodeScalars.allSatisfy { scalar in
            (scalar.isASCII && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)))
                || scalar == "-" || scalar == "." || scalar == "_" || (!qemuID && scalar == "+")
        }
        let letterFirst = value.unicodeScalars.first.map { ("a"..."z").contains($0) || ("A"..."Z").contains($0) } ?? false
        guard ok, !qemuID || letterFirst else {
            throw QEMUError.invalidValue(what: what, value: value, allowed: allowed)
        }
    }

    static func checkSocketPath(_ path: String, what: String) throws {
        try QEMUOptionSyntax.checkExpressible(path, option: what)
        guard path.utf8.count <= maximumSocketPathBytes else {
            throw QEMUError.invalidValue(what: what, value: path,
                                         allowed: "it is \(path.utf8.count) bytes; a UNIX socket path may have at most \(maximumSocketPathBytes)")
        }
    }

    static func checkBootOrder(_ order: String) throws {
        let allowed = "use drive letters from a-p without repeats: c first disk, d CD-ROM, n network (e.g. cd)"
        var seen = Set<Unicode.Scalar>()
        guard !order.isEmpty else { throw QEMUError.invalidValue(what: "boot order", value: order, allowed: allowed) }
        for scalar in order.unicodeScalars {
            guard ("a"..."p").contains(scalar), seen.insert(scalar).inserted else {
                throw QEMUError.invalidValue(what: "boot order", value: order, allowed: allowed)
            }
        }
    }

    static func hex(_ value: UInt16) -> String {
        let digits = String(value, radix: 16)
        return "0x" + (digits.count < 2 ? "0" + digits : digits)
    }
}
