import QNetTypes

/// A QEMU command line as typed values; `arguments()` renders it as argv.
///
/// Equivalent to writing `qemu-system-x86_64 -machine q35 -accel tcg -m 1024 -smp 2 ...`
/// by hand, with QEMU's comma escaping done for every value and values QEMU cannot take
/// (control characters, overlong socket paths, multiqueue on a non-virtio NIC) rejected
/// with a thrown `QEMUError` naming them. Building needs no privilege and touches no file.
///
/// qnet supervises QEMU itself, so `-daemonize` is never used: QEMU stays the child qnet
/// started (with TAP descriptors it inherited), and the caller detaches it if asked.
public struct QEMUCommandLine: Equatable, Sendable {
    /// `-name guest=NAME`: the VM's name in QEMU's messages and window titles.
    public var name: String?
    /// `-machine TYPE`: `q35` (default), `pc`, `microvm`, or `none` (no guest at all).
    public var machineType: String
    /// `-machine TYPE,graphics=off`: the firmware (SeaBIOS) mirrors its screen on the first
    /// serial port — its banner, boot messages and option ROMs such as iPXE — so a serial log
    /// shows a firmware or network boot. QEMU quirk: with `-nodefaults` and no `-nographic`,
    /// SeaBIOS writes only to the (absent) screen; `graphics=off` makes QEMU tell SeaBIOS to
    /// use its serial console ("sercon", port 0x3f8). A VGA, when present, still shows it too.
    public var firmwareOnSerial: Bool
    /// `-accel kvm|tcg`. QEMU quirk: nil leaves QEMU's default, which depends on the
    /// program's name — TCG for `qemu-system-x86_64`, KVM first for a binary whose name
    /// ends in "kvm" — so set it.
    public var accelerator: Accelerator?
    /// `-cpu MODEL`, e.g. `host` with KVM or `max` with TCG; nil leaves QEMU's default.
    public var cpuModel: String?
    /// `-m N`: guest memory in MiB.
    public var memoryMiB: Int?
    /// `-smp N`: virtual CPUs.
    public var cpus: Int?
    /// `-nodefaults`: no default serial port, monitor, VGA, floppy, CD-ROM or NIC.
    public var noDefaults: Bool
    /// `-no-user-config`: ignore /etc/qemu config files, so the argv says everything.
    public var noUserConfig: Bool
    /// `-display none`: never open a window (a VNC server still works).
    public var headless: Bool
    /// `-device VGA|virtio-vga`. With `-nodefaults` a VM has no display adapter, so a VNC
    /// client would see nothing: when `vnc` is set and this is nil, a standard VGA is added.
    public var videoDevice: VideoDevice?
    /// `-vnc :N` (the recipe's `-vnc :0`), `-vnc ADDR:N` or `-vnc unix:PATH`.
    public var vnc: VNCListener?
    /// `-S`: start with the CPUs stopped; QMP `cont` starts them.
    public var startPaused: Bool
    /// `-pidfile PATH`: QEMU writes its pid there (and removes it when it exits).
    public var pidFile: String?
    /// A QMP server on a UNIX socket:
    /// `-chardev socket,id=qmp0,path=PATH,server=on,wait=off -mon chardev=qmp0,mode=control`.
    public var qmpSocket: String?
    /// A QMP server on a listening UNIX socket the caller made and passes as descriptor N
    /// (as QEMU sees it): `-chardev socket,id=qmp0,fd=N,server=on,wait=off -mon ...`. QEMU then
    /// needs no access to the socket's directory. Instead of `qmpSocket`, not with it.
    public var qmpSocketDescriptor: Int32?
    /// The first serial port (ttyS0): a file, a UNIX socket, stdio, or none.
    public var serial: SerialPort?
    /// `-kernel`/`-initrd`/`-append`: boot a Linux kernel directly, without firmware disks.
    public var directKernelBoot: DirectKernelBoot?
    /// `-drive ...`, in order.
    public var drives: [Drive]
    /// `-boot order=LETTERS`: `c` first disk, `d` CD-ROM, `n` network, `a`/`b` floppy.
    public var bootOrder: String?
    /// `-netdev ... -device MODEL,netdev=ID,mac=...`, in order. Empty renders `-nic none`.
    public var networkInterfaces: [NetworkInterface]
    /// `-device vfio-pci,host=ADDR,id=ID`: host PCI functions handed to the guest (NIC
    /// passthrough, SR-IOV VFs), after the emulated NICs.
    public var hostDevices: [PCIHostDevice] = []
    /// `-device isa-debug-exit`: a guest write to the port makes QEMU exit with (value << 1) | 1.
    public var debugExit: DebugExitDevice?
    /// `-no-reboot`: QEMU exits instead of rebooting the guest.
    public var noReboot: Bool
    /// Passed through verbatim at the end (`qnet vm run NAME -- ARGS`).
    public var extraArguments: [String]
    /// `-add-fd fd=N,set=S`: descriptors QEMU inherited, grouped into sets that file names
    /// `/dev/fdset/S` reach (disks, CD image, the console log), so QEMU needs no access to
    /// the files' paths. Rendered before anything that names a set.
    public var descriptorSets: [DescriptorSet] = []
    /// `-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny`:
    /// QEMU's seccomp filter, which also forbids it to exec anything, change its ids or
    /// scheduling (libvirt's `seccomp_sandbox`).
    public var sandbox = false

    public init(
        name: String? = nil, machineType: String = "q35", firmwareOnSerial: Bool = false, accelerator: Accelerator? = nil, cpuModel: String? = nil,
        memoryMiB: Int? = nil, cpus: Int? = nil, noDefaults: Bool = true, noUserConfig: Bool = true,
        headless: Bool = true, videoDevice: VideoDevice? = nil, vnc: VNCListener? = nil, startPaused: Bool = false,
        pidFile: String? = nil, qmpSocket: String? = nil, qmpSocketDescriptor: Int32? = nil, serial: SerialPort? = nil,
        directKernelBoot: DirectKernelBoot? = nil, drives: [Drive] = [], bootOrder: String? = nil,
        networkInterfaces: [NetworkInterface] = [], debugExit: DebugExitDevice? = nil, noReboot: Bool = false,
        extraArguments: [String] = []
    ) {
        self.name = name
        self.machineType = machineType
        self.firmwareOnSerial = firmwareOnSerial
        self.accelerator = accelerator
        self.cpuModel = cpuModel
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.noDefaults = noDefaults
        self.noUserConfig = noUserConfig
        self.headless = headless
        self.videoDevice = videoDevice
        self.vnc = vnc
        self.startPaused = startPaused
        self.pidFile = pidFile
        self.qmpSocket = qmpSocket
        self.qmpSocketDescriptor = qmpSocketDescriptor
        self.serial = serial
        self.directKernelBoot = directKernelBoot
        self.drives = drives
        self.bootOrder = bootOrder
        self.networkInterfaces = networkInterfaces
        self.debugExit = debugExit
        self.noReboot = noReboot
        self.extraArguments = extraArguments
    }

    /// The argv for `executable` (argv[0] is the executable itself).
    public func argv(executable: String) throws -> [String] {
        [executable] + (try arguments())
    }
}

/// `-accel NAME`.
public enum Accelerator: String, Equatable, Sendable, CaseIterable, Codable {
    /// Hardware virtualization through /dev/kvm.
    case kvm
    /// QEMU's portable binary translator (no privilege, slower).
    case tcg
}

/// A display adapter for VNC.
public enum VideoDevice: String, Equatable, Sendable, CaseIterable {
    /// `-device VGA` (QEMU's standard VGA, `-vga std`).
    case standard = "VGA"
    /// `-device virtio-vga`.
    case virtio = "virtio-vga"
}

/// Where the VNC server listens.
public enum VNCListener: Equatable, Sendable {
    /// `-vnc [ADDRESS]:N`: TCP port 5900 + N, on every address when `address` is nil.
    case display(Int, address: String? = nil)
    /// `-vnc unix:PATH`.
    case unixSocket(String)
}

/// The guest's first serial port.
public enum SerialPort: Equatable, Sendable {
    /// Everything the guest writes goes to the file:
    /// `-chardev file,id=serial0,path=PATH[,append=on] -serial chardev:serial0`.
    /// Without `append` QEMU truncates the file when it starts.
    case file(String, append: Bool = false)
    /// An interactive console on a UNIX socket (QEMU listens, does not wait), optionally
    /// logging all output: `-chardev socket,id=serial0,path=PATH,server=on,wait=off[,logfile=LOG,logappend=on]`.
    case unixSocket(String, logFile: String? = nil)
    /// `-chardev stdio,id=serial0,signal=off -serial chardev:serial0`: QEMU's own stdin/stdout
    /// (signal=off: Ctrl-C goes to the guest, not to QEMU).
    case stdio
    /// `-serial none`.
    case none
}

/// `-kernel PATH [-initrd PATH] [-append TEXT]`.
///
/// QEMU quirk: these three are plain values (QEMU stores them without parsing options), so
/// commas are passed as they are — doubling them here would be wrong.
public struct DirectKernelBoot: Equatable, Sendable {
    public var kernel: String
    public var initrd: String?
    /// The kernel command line, e.g. `console=ttyS0 quiet`.
    public var commandLine: String?

    public init(kernel: String, initrd: String? = nil, commandLine: String? = nil) {
        self.kernel = kernel
        self.initrd = initrd
        self.commandLine = commandLine
    }
}

/// One `-drive`.
///
/// QEMU quirk: without `format=`, QEMU guesses the format and restricts writes to sector 0
/// of raw images (with a warning); qnet always says the format.
public struct Drive: Equatable, Sendable {
    public var path: String
    public var format: DiskFormat
    public var interface: DriveInterface
    public var media: DriveMedia
    public var readOnly: Bool

    public init(path: String, format: DiskFormat = .raw, interface: DriveInterface = .virtio,
                media: DriveMedia = .disk, readOnly: Bool = false) {
        self.path = path
        self.format = format
        self.interface = interface
        self.media = media
        self.readOnly = readOnly
    }

    /// A writable disk: `-drive file=PATH,format=FORMAT,if=virtio` (the recipe's `--hda`, on virtio).
    public static func disk(_ path: String, format: DiskFormat = .raw, interface: DriveInterface = .virtio) -> Drive {
        Drive(path: path, format: format, interface: interface)
    }

    /// A read-only CD-ROM on the IDE/AHCI bus (the recipe's `--cdrom X.iso`):
    /// `-drive file=PATH,format=raw,if=ide,media=cdrom,readonly=on`.
    public static func cdrom(_ path: String) -> Drive {
        Drive(path: path, format: .raw, interface: .ide, media: .cdrom, readOnly: true)
    }
}

/// `-drive if=...`.
public enum DriveInterface: String, Equatable, Sendable, CaseIterable {
    case virtio, ide, scsi
    /// `if=none`: only a backend, for a `-device` given in `extraArguments`.
    case none
}

/// `-drive media=...`.
public enum DriveMedia: String, Equatable, Sendable, CaseIterable {
    case disk, cdrom
}

/// A guest NIC and the host side it is connected to:
/// `-netdev BACKEND,id=ID,... -device MODEL,netdev=ID,mac=MAC`.
public struct NetworkInterface: Equatable, Sendable {
    /// The netdev id (`net0`): a letter, then letters, digits, '-', '.', '_'.
    public var id: String
    public var backend: NetworkBackend
    public var model: NICModel
    /// nil lets QEMU pick 52:54:00:12:34:56 + index — the same for every VM, so set it.
    public var macAddress: MACAddress?

    public init(id: String, backend: NetworkBackend, model: NICModel = .virtio, macAddress: MACAddress? = nil) {
        self.id = id
        self.backend = backend
        self.model = model
        self.macAddress = macAddress
    }
}

/// The guest-visible NIC model.
public enum NICModel: String, Equatable, Sendable, CaseIterable, Codable {
    /// virtio-net-pci: the fastest (with a vnet_hdr TAP), multiqueue-capable.
    case virtio
    /// Intel 82540EM, what the recipe's `-net nic` gives; every guest has a driver.
    case e1000
    /// Intel 82574L, q35's native NIC.
    case e1000e
    /// Realtek RTL8139, for very old guests.
    case rtl8139

    /// The QEMU device driver name (`-device NAME`).
    public var deviceDriver: String {
        switch self {
        case .virtio: "virtio-net-pci"
        case .e1000: "e1000"
        case .e1000e: "e1000e"
        case .rtl8139: "rtl8139"
        }
    }

    /// Accepts the names above and QEMU's driver names (`virtio-net-pci`, `virtio-net`).
    public init?(name: String) {
        switch name.lowercased() {
        case "virtio", "virtio-net", "virtio-net-pci": self = .virtio
        case "e1000": self = .e1000
        case "e1000e": self = .e1000e
        case "rtl8139": self = .rtl8139
        default: return nil
        }
    }
}

/// The host side of a NIC.
public enum NetworkBackend: Equatable, Sendable {
    /// TAP descriptors already open (qnet opens the TAP; QEMU needs no privilege).
    case tap(TAPBackend)
    /// QEMU's built-in user-mode network (slirp): NAT, no privilege, no bridge.
    case user(UserNetwork)
    /// A stream socket to a user-mode network daemon such as passt:
    /// `-netdev stream,id=ID,server=off,addr.type=unix,addr.path=PATH` (QEMU 7.2 or newer).
    case stream(socketPath: String)
}

/// `-netdev tap,id=ID,fd=N[,vhost=on]`, or `fds=N:M:...` for a multiqueue TAP.
///
/// The numbers are descriptors *as QEMU sees them* (the caller maps them into the child).
/// QEMU quirk: with `fd=`/`fds=`, QEMU reads IFF_VNET_HDR from the descriptor itself
/// (`ifname=`, `script=`, `vnet_hdr=`, `queues=` are rejected alongside `fd=`).
public struct TAPBackend: Equatable, Sendable {
    /// One descriptor per queue (IFF_MULTI_QUEUE when more than one).
    public var descriptors: [Int32]
    /// `vhost=on`: the in-kernel virtio-net datapath (QEMU opens /dev/vhost-net itself).
    public var vhost: Bool
    /// `vhostfd=`/`vhostfds=`: /dev/vhost-net descriptors opened by the caller, one per
    /// queue, for a QEMU that may not open /dev/vhost-net. Implies vhost.
    public var vhostDescriptors: [Int32]

    public init(descriptors: [Int32], vhost: Bool = false, vhostDescriptors: [Int32] = []) {
        self.descriptors = descriptors
        self.vhost = vhost
        self.vhostDescriptors = vhostDescriptors
    }

    /// The largest queue count (the kernel's MAX_TAP_QUEUES).
    public static let maximumQueues = 256
}

/// `-netdev user,id=ID[,net=CIDR][,restrict=on][,hostfwd=...]...`.
public struct UserNetwork: Equatable, Sendable {
    /// `restrict=on`: the guest cannot reach the host or the outside; forwards still work.
    public var restrict: Bool
    /// `net=ADDR/PREFIX`: the guest-side network (QEMU default 10.0.2.0/24).
    public var network: IPPrefix?
    public var portForwards: [PortForward]

    public init(restrict: Bool = false, network: IPPrefix? = nil, portForwards: [PortForward] = []) {
        self.restrict = restrict
        self.network = network
        self.portForwards = portForwards
    }
}

/// `hostfwd=PROTO:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT` (IPv4 only in QEMU 7.2).
public struct PortForward: Equatable, Sendable {
    public enum TransportProtocol: String, Equatable, Sendable, CaseIterable { case tcp, udp }

    public var transportProtocol: TransportProtocol
    /// nil listens on every host address.
    public var hostAddress: IPAddress?
    public var hostPort: UInt16
    /// nil means the guest's DHCP address.
    public var guestAddress: IPAddress?
    public var guestPort: UInt16

    public init(_ transportProtocol: TransportProtocol = .tcp, hostAddress: IPAddress? = nil, hostPort: UInt16,
                guestAddress: IPAddress? = nil, guestPort: UInt16) {
        self.transportProtocol = transportProtocol
        self.hostAddress = hostAddress
        self.hostPort = hostPort
        self.guestAddress = guestAddress
        self.guestPort = guestPort
    }
}

/// `-device isa-debug-exit,iobase=PORT,iosize=SIZE`: the guest ends QEMU with a status
/// by writing to an I/O port (exit status = (value << 1) | 1).
public struct DebugExitDevice: Equatable, Sendable {
    public var ioBase: UInt16
    public var ioSize: UInt16

    public init(ioBase: UInt16 = 0xf4, ioSize: UInt16 = 4) {
        self.ioBase = ioBase
        self.ioSize = ioSize
    }
}

/// A host PCI function assigned to the guest through VFIO (QEMU's fourth network mode,
/// direct assignment): `-device vfio-pci,host=DDDD:BB:DD.F,id=ID[,bootindex=N]`.
///
/// libvirt's `<hostdev mode='subsystem' type='pci' managed='yes'>` and `<interface
/// type='hostdev'>` give the same device. The function must already be bound to vfio-pci.
/// QEMU quirk (7.2): vfio-pci takes `host=` or `sysfsdev=` but no descriptor, so QEMU opens
/// /dev/vfio/vfio and /dev/vfio/GROUP itself: its uid needs read-write access to the group's
/// node, and RLIMIT_MEMLOCK must cover the guest's RAM (VFIO pins all of it for DMA).
/// On q35 the device sits on the root complex (pcie.0), as an integrated endpoint.
public struct PCIHostDevice: Equatable, Sendable {
    /// The QEMU device id (`hostdev0`): a letter, then letters, digits, '-', '.', '_'.
    public var id: String
    /// The function's full address as sysfs names it, `0000:03:00.0`.
    public var address: String
    /// `bootindex=N`: boot from this device's option ROM (PXE) in this order; nil: never.
    public var bootIndex: Int?

    public init(id: String, address: String, bootIndex: Int? = nil) {
        self.id = id
        self.address = address
        self.bootIndex = bootIndex
    }

    /// Whether `text` is a full PCI address: 4 hex digits (domain), ':', 2 (bus), ':',
    /// 2 (device, at most 0x1f), '.', 1 (function, 0-7), lower- or upper-case.
    public static func isAddress(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 12, bytes[4] == UInt8(ascii: ":"), bytes[7] == UInt8(ascii: ":"), bytes[10] == UInt8(ascii: ".") else { return false }
        let hexIndices = [0, 1, 2, 3, 5, 6, 8, 9]
        guard hexIndices.allSatisfy({ isHexDigit(bytes[$0]) }),
              let device = UInt8(String(decoding: bytes[8...9], as: UTF8.self), radix: 16), device <= 0x1f else { return false }
        return (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(bytes[11])
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}

/// One `/dev/fdset/SET`: the descriptors (QEMU's numbers) it holds. QEMU picks the one
/// whose access mode (O_RDONLY, O_WRONLY, O_RDWR) matches how it opens the file, so a
/// disk QEMU may open read-only first (format probing, `read-only=on`) needs both a
/// read-write and a read-only descriptor. Equivalent to `-add-fd fd=N,set=SET`.
public struct DescriptorSet: Equatable, Sendable {
    public var set: Int
    public var descriptors: [Int32]

    public init(set: Int, descriptors: [Int32]) {
        self.set = set
        self.descriptors = descriptors
    }

    /// The file name QEMU opens: `/dev/fdset/SET`.
    public var path: String { "/dev/fdset/\(set)" }
}
