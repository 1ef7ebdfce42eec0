import Foundation
import QNetTypes
import QEMU
import QNetTestSupport
import Testing

/// Realistic VMs rendered to argv and compared with reviewed golden files.
struct CommandLineGoldenTests {
    static let mac1 = MACAddress("52:54:00:ab:cd:01")!
    static let mac2 = MACAddress("52:54:00:ab:cd:02")!

    /// The classic recipe: `qemu-kvm -m 1024 -smp 2 --boot order=cd --hda centos6.img
    /// --cdrom X.iso ... -vnc :0`, with qnet's TAP descriptor instead of `-net tap,script=`,
    /// and the firmware's screen mirrored on the serial log.
    static var recipe: QEMUCommandLine {
        QEMUCommandLine(
            name: "centos6", machineType: "q35", firmwareOnSerial: true, accelerator: .kvm, cpuModel: "host", memoryMiB: 1024, cpus: 2,
            vnc: .display(0), startPaused: true, pidFile: "/run/qnet/vms/centos6/qemu.pid",
            qmpSocket: "/run/qnet/vms/centos6/qmp.sock", serial: .file("/run/qnet/vms/centos6/console.log", append: true),
            drives: [.disk("/var/lib/qnet/centos6.img"), .cdrom("/srv/iso/CentOS-6.10-x86_64-minimal.iso")],
            bootOrder: "cd",
            networkInterfaces: [NetworkInterface(id: "net0", backend: .tap(TAPBackend(descriptors: [3])), macAddress: mac1)])
    }

    /// The probe micro-VM as qnet starts it: every file by descriptor (the QMP listening
    /// socket; the console log and a disk as `-add-fd` sets, the disk's with a read-write and
    /// a read-only descriptor; kernel and initrd as /proc/self/fd/N), under QEMU's seccomp
    /// sandbox, debug-exit, no reboot.
    static var microVM: QEMUCommandLine {
        var commandLine = QEMUCommandLine(
            name: "probe-br0", accelerator: .tcg, cpuModel: "max", memoryMiB: 256, cpus: 1, startPaused: true,
            qmpSocketDescriptor: 4, serial: .file("/dev/fdset/0", append: true),
            directKernelBoot: DirectKernelBoot(kernel: "/proc/self/fd/8", initrd: "/proc/self/fd/9",
                                               commandLine: "console=ttyS0 quiet panic=-1 qnet.address=dhcp qnet.ping=192.168.1.254"),
            drives: [.disk("/dev/fdset/1")],
            networkInterfaces: [NetworkInterface(id: "net0", backend: .tap(TAPBackend(descriptors: [3])), macAddress: mac1)],
            debugExit: DebugExitDevice(), noReboot: true)
        commandLine.descriptorSets = [DescriptorSet(set: 0, descriptors: [5]), DescriptorSet(set: 1, descriptors: [6, 7])]
        commandLine.sandbox = true
        return commandLine
    }

    /// Every NIC kind: a 4-queue vhost TAP, an e1000 TAP, user-mode with forwards, passt.
    static var networks: QEMUCommandLine {
        QEMUCommandLine(
            name: "router", accelerator: .tcg, memoryMiB: 512, cpus: 4, serial: .unixSocket("/run/qnet/vms/router/serial.sock", logFile: "/run/qnet/vms/router/console.log"),
            drives: [.disk("/var/lib/qnet/router.qcow2", format: .qcow2)],
            networkInterfaces: [
                NetworkInterface(id: "net0", backend: .tap(TAPBackend(descriptors: [3, 4, 5, 6], vhost: true)), macAddress: mac1),
                NetworkInterface(id: "net1", backend: .tap(TAPBackend(descriptors: [7])), model: .e1000, macAddress: mac2),
                NetworkInterface(id: "user0", backend: .user(UserNetwork(
                    restrict: true, network: IPPrefix("10.0.2.0/24"),
                    portForwards: [PortForward(hostAddress: IPAddress("127.0.0.1"), hostPort: 2222, guestPort: 22),
                                   PortForward(.udp, hostPort: 5353, guestAddress: IPAddress("10.0.2.15"), guestPort: 53)])),
                    model: .rtl8139, macAddress: MACAddress("52:54:00:ab:cd:03")),
                NetworkInterface(id: "passt0", backend: .stream(socketPath: "/run/user/1000/passt.socket"), macAddress: MACAddress("52:54:00:ab:cd:04")),
            ])
    }

    /// Commas in every kind of value: doubled inside option lists, untouched in plain
    /// values (-kernel, -initrd, -append, -pidfile); a relative drive name with ':' made "./".
    static var commas: QEMUCommandLine {
        QEMUCommandLine(
            name: "web,db", accelerator: .tcg, memoryMiB: 128, vnc: .unixSocket("/run/qnet/vms/web,db/vnc.sock"),
            pidFile: "/run/qnet/vms/web,db/qemu.pid", qmpSocket: "/run/qnet/vms/web,db/qmp.sock",
            serial: .file("/run/qnet/vms/web,db/console,1.log"),
            directKernelBoot: DirectKernelBoot(kernel: "/boot/vmlinuz,old", initrd: "/boot/initrd,old", commandLine: "root=/dev/vda opt=a,b"),
            drives: [.disk("/srv/vms/a,b/disk,1.qcow2", format: .qcow2), .disk("c:d.img"), .cdrom("install,,x86.iso")],
            networkInterfaces: [NetworkInterface(id: "net0", backend: .user(UserNetwork()))],
            extraArguments: ["-device", "virtio-rng-pci", "-global", "kvm-pit.lost_tick_policy=discard"])
    }

    /// Direct assignment (`vm run --nic pci=0000:03:00.0 --nic vf=enp3s0f0:2`): a whole NIC
    /// and an SR-IOV VF through vfio-pci beside a TAP NIC, the NIC first in the boot order.
    static var passthrough: QEMUCommandLine {
        var commandLine = QEMUCommandLine(
            name: "db", accelerator: .kvm, cpuModel: "host", memoryMiB: 4096, cpus: 4, startPaused: true,
            qmpSocketDescriptor: 3, serial: .file("/dev/fdset/0", append: true), drives: [.disk("/dev/fdset/1")],
            networkInterfaces: [NetworkInterface(id: "net0", backend: .tap(TAPBackend(descriptors: [4])), macAddress: mac1)])
        commandLine.descriptorSets = [DescriptorSet(set: 0, descriptors: [5]), DescriptorSet(set: 1, descriptors: [6, 7])]
        commandLine.hostDevices = [PCIHostDevice(id: "hostdev1", address: "0000:03:00.0", bootIndex: 1),
                                   PCIHostDevice(id: "hostdev2", address: "0000:03:10.2")]
        commandLine.sandbox = true
        return commandLine
    }

    /// The smallest useful QEMU: no guest, a QMP socket only.
    static var machineNone: QEMUCommandLine {
        QEMUCommandLine(machineType: "none", qmpSocket: "/tmp/qnet-qmp.sock")
    }

    @Test func recipeVM() throws { try GoldenFiles.check("recipe", Self.recipe.argv(executable: "qemu-system-x86_64")) }
    @Test func microVMWithKernelSerialAndQMP() throws { try GoldenFiles.check("microvm", Self.microVM.argv(executable: "qemu-system-x86_64")) }
    @Test func multiqueueAndOtherNetworks() throws { try GoldenFiles.check("networks", Self.networks.argv(executable: "qemu-system-x86_64")) }
    @Test func commasInPaths() throws { try GoldenFiles.check("commas", Self.commas.argv(executable: "qemu-system-x86_64")) }
    @Test func passthroughNICs() throws { try GoldenFiles.check("passthrough", Self.passthrough.argv(executable: "qemu-system-x86_64")) }
    @Test func machineNoneWithQMP() throws { try GoldenFiles.check("machine-none", Self.machineNone.argv(executable: "qemu-system-x86_64")) }

    /// The golden files must not be regenerated by accident: CI never sets the variable.
    @Test func goldenFilesAreCompared() {
        #expect(!GoldenFile.updating || ProcessInfo.processInfo.environment["CI"] != "true")
    }
}
