import QNetTypes
@testable import QEMU
import Testing

/// Escaping rules and the values the builder refuses, each with a one-line reason.
struct CommandLineValidationTests {
    func arguments(_ configure: (inout QEMUCommandLine) -> Void) throws -> [String] {
        var line = QEMUCommandLine(machineType: "none")
        configure(&line)
        return try line.arguments()
    }

    func error(_ configure: (inout QEMUCommandLine) -> Void) -> QEMUError? {
        do {
            _ = try arguments(configure)
            return nil
        } catch let error as QEMUError {
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    @Test(arguments: [
        ("plain", "plain"), ("a,b", "a,,b"), ("a,,b", "a,,,,b"), (",", ",,"), ("/x/y,", "/x/y,,"),
        ("é,ü", "é,,ü"), (",\u{301}", ",,\u{301}"), ("a=b", "a=b"), ("sp ace", "sp ace"),
    ])
    func commasAreDoubled(input: String, expected: String) throws {
        #expect(try QEMUOptionSyntax.escape(input, option: "test") == expected)
    }

    @Test(arguments: ["a\nb", "a\rb", "tab\there", "nul\0byte", "bell\u{7}", "del\u{7f}"])
    func controlCharactersAreRejectedNamingTheValue(value: String) {
        let thrown = error { $0.drives = [.disk("/vms/" + value)] }
        guard case let .inexpressibleValue(option, reported, _)? = thrown else {
            Issue.record("expected inexpressibleValue, got \(String(describing: thrown))")
            return
        }
        #expect(option == "drive file")
        #expect(reported == "/vms/" + value)
        let message = thrown!.description
        #expect(!message.contains("\n") && !message.contains("\r") && !message.contains("\0"))
        #expect(message.hasPrefix("cannot pass drive file '/vms/"))
    }

    @Test func newlinesRejectedInPlainValuesToo() {
        #expect(error { $0.directKernelBoot = DirectKernelBoot(kernel: "/boot/vm\nlinuz") } != nil)
        #expect(error { $0.directKernelBoot = DirectKernelBoot(kernel: "/k", commandLine: "console=ttyS0\nx") } != nil)
        #expect(error { $0.pidFile = "/run/a\nb" } != nil)
        #expect(error { $0.qmpSocket = "/run/a\nb" } != nil)
        #expect(error { $0.name = "a\nb" } != nil)
        #expect(error { $0.extraArguments = ["-foo\0"] } != nil)
        // Other characters in extra arguments pass through untouched.
        #expect((try? arguments { $0.extraArguments = ["-append", "a,b\tc"] })?.suffix(2) == ["-append", "a,b\tc"])
    }

    /// A QMP socket is a path or a passed descriptor, never both, never negative.
    @Test func qmpSocketIsAPathOrADescriptor() throws {
        #expect(error { $0.qmpSocket = "/run/q.sock"; $0.qmpSocketDescriptor = 4 } != nil)
        #expect(error { $0.qmpSocketDescriptor = -1 } != nil)
        let argv = try arguments { $0.qmpSocketDescriptor = 4 }
        #expect(argv.contains("socket,id=qmp0,fd=4,server=on,wait=off"))
    }

    @Test func plainValuesKeepTheirCommas() throws {
        let argv = try arguments {
            $0.directKernelBoot = DirectKernelBoot(kernel: "/k,1", initrd: "/i,1", commandLine: "a=b,c")
            $0.pidFile = "/run/p,1"
        }
        #expect(argv.contains("/k,1") && argv.contains("/i,1") && argv.contains("a=b,c") && argv.contains("/run/p,1"))
    }

    @Test(arguments: [("c:d.img", "./c:d.img"), ("json:{}", "./json:{}"), ("/abs/c:d.img", "/abs/c:d.img"),
                      ("dir/c:d.img", "dir/c:d.img"), ("plain.img", "plain.img"), ("nbd:x/y", "./nbd:x/y")])
    func protocolPrefixesAreDefused(path: String, expected: String) {
        #expect(QEMUOptionSyntax.blockLayerFileName(path) == expected)
    }

    @Test func socketPathsLongerThanSunPathAreRejected() {
        let long = "/run/qnet/vms/" + String(repeating: "x", count: 100) + "/qmp.sock"
        guard case let .invalidValue(what, value, allowed)? = error({ $0.qmpSocket = long }) else {
            Issue.record("expected invalidValue")
            return
        }
        #expect(what == "QMP socket path" && value == long && allowed.contains("107"))
        let exactly107 = "/" + String(repeating: "y", count: 106)
        #expect(error { $0.qmpSocket = exactly107 } == nil)
        #expect(error { $0.qmpSocket = exactly107 + "z" } != nil)
        #expect(error { $0.serial = .unixSocket(long) } != nil)
        #expect(error { $0.vnc = .unixSocket(long) } != nil)
        #expect(error { $0.networkInterfaces = [NetworkInterface(id: "n", backend: .stream(socketPath: long))] } != nil)
    }

    @Test func multiqueueNeedsVirtioAndSaneDescriptors() {
        let tap = { (fds: [Int32], model: NICModel) in { (line: inout QEMUCommandLine) in
            line.networkInterfaces = [NetworkInterface(id: "net0", backend: .tap(TAPBackend(descriptors: fds)), model: model)]
        } }
        #expect(error(tap([3, 4], .e1000))?.description == "invalid NIC model for 2 queues 'e1000': multiqueue needs model=virtio; use queues=1 with e1000")
        #expect(error(tap([], .virtio)) != nil)
        #expect(error(tap([-1], .virtio)) != nil)
        #expect(error(tap(Array(3..<260), .virtio)) != nil)
        #expect(error(tap([3], .e1000)) == nil)
        #expect(error {
            $0.networkInterfaces = [NetworkInterface(id: "net0", backend: .tap(TAPBackend(descriptors: [3, 4], vhostDescriptors: [5])))]
        } != nil)
    }

    @Test func multiqueueVectorsAreTwoPerQueuePlusTwo() throws {
        for queues in [2, 4, 8] {
            let argv = try arguments {
                $0.networkInterfaces = [NetworkInterface(id: "net0", backend: .tap(TAPBackend(descriptors: (0..<queues).map { Int32(10 + $0) })))]
            }
            let fds = (0..<queues).map { String(10 + $0) }.joined(separator: ":")
            #expect(argv.contains("tap,id=net0,fds=\(fds)"))
            #expect(argv.contains("virtio-net-pci,netdev=net0,mq=on,vectors=\(2 * queues + 2)"))
        }
    }

    @Test func singleQueueUsesFdAndVhostFd() throws {
        let argv = try arguments {
            $0.networkInterfaces = [NetworkInterface(id: "net0", backend: .tap(TAPBackend(descriptors: [3], vhostDescriptors: [9])))]
        }
        #expect(argv.contains("tap,id=net0,fd=3,vhost=on,vhostfd=9"))
    }

    @Test func noNICsMeansNicNone() throws {
        let argv = try arguments { _ in }
        #expect(argv.suffix(2) == ["-nic", "none"])
    }

    @Test func badMACsIdsAndDuplicatesAreRejected() {
        #expect(error { $0.networkInterfaces = [NetworkInterface(id: "net0", backend: .user(UserNetwork()), macAddress: MACAddress("01:00:5e:00:00:01"))] }?
            .description.contains("unicast") == true)
        #expect(error { $0.networkInterfaces = [NetworkInterface(id: "net0", backend: .user(UserNetwork()), macAddress: MACAddress("00:00:00:00:00:00"))] } != nil)
        for bad in ["0net", "", "net 0", "net,0", "né"] {
            #expect(error { $0.networkInterfaces = [NetworkInterface(id: bad, backend: .user(UserNetwork()))] } != nil, "\(bad)")
        }
        #expect(error {
            $0.networkInterfaces = [NetworkInterface(id: "a", backend: .user(UserNetwork())), NetworkInterface(id: "a", backend: .user(UserNetwork()))]
        }?.description == "invalid NIC id 'a': each NIC needs its own id")
    }

    /// vfio-pci devices: full addresses only (lower-cased as sysfs writes them), ids unique
    /// among NICs and devices, boot index not negative; each refusal names the value.
    @Test func hostDevicesNeedFullAddressesAndUniqueIDs() throws {
        let argv = try arguments { $0.hostDevices = [PCIHostDevice(id: "hostdev0", address: "0000:0A:1f.7", bootIndex: 2)] }
        #expect(argv.suffix(2) == ["-device", "vfio-pci,host=0000:0a:1f.7,id=hostdev0,bootindex=2"])
        for bad in ["03:00.0", "0000:03:00", "0000:03:20.0", "0000:03:00.8", "0000:0g:00.0", "0000:03:00.0,x=1", " 0000:03:00.0"] {
            #expect(error { $0.hostDevices = [PCIHostDevice(id: "h", address: bad)] }?.description
                .contains("'\(bad)'") == true, "\(bad)")
        }
        #expect(error {
            $0.networkInterfaces = [NetworkInterface(id: "net0", backend: .user(UserNetwork()))]
            $0.hostDevices = [PCIHostDevice(id: "net0", address: "0000:03:00.0")]
        }?.description == "invalid device id 'net0': each NIC and host device needs its own id")
        #expect(error { $0.hostDevices = [PCIHostDevice(id: "h", address: "0000:03:00.0", bootIndex: -1)] } != nil)
    }

    @Test func userNetworkForwardsAreIPv4() {
        let v6 = PortForward(hostAddress: IPAddress("::1"), hostPort: 2222, guestPort: 22)
        #expect(error { $0.networkInterfaces = [NetworkInterface(id: "u", backend: .user(UserNetwork(portForwards: [v6])))] } != nil)
        #expect(error { $0.networkInterfaces = [NetworkInterface(id: "u", backend: .user(UserNetwork(network: IPPrefix("fd00::/64"))))] } != nil)
        #expect(error { $0.networkInterfaces = [NetworkInterface(id: "u", backend: .user(UserNetwork(portForwards: [PortForward(hostPort: 1, guestPort: 0)])))] } != nil)
    }

    @Test func otherLimits() {
        #expect(error { $0.cpus = 0 }?.description == "invalid CPU count '0': use 1 to 288")
        #expect(error { $0.memoryMiB = 0 } != nil)
        #expect(error { $0.bootOrder = "cdc" }?.description.contains("without repeats") == true)
        #expect(error { $0.bootOrder = "x" } != nil)
        #expect(error { $0.bootOrder = "" } != nil)
        #expect(error { $0.vnc = .display(-1) } != nil)
        #expect(error { $0.vnc = .display(60000) } != nil)
        #expect(error { $0.vnc = .display(1, address: "localhost") } != nil)
        #expect(error { $0.machineType = "q35,accel=kvm" } != nil)
        #expect(error { $0.cpuModel = "host,+x" } != nil)
        #expect(error { $0.drives = [Drive(path: "/x.iso", interface: .virtio, media: .cdrom)] }?.description.contains("if=ide") == true)
    }

    @Test func vncForms() throws {
        #expect(try arguments { $0.vnc = .display(0) }.contains(":0"))
        #expect(try arguments { $0.vnc = .display(3, address: "127.0.0.1") }.contains("127.0.0.1:3"))
        #expect(try arguments { $0.vnc = .display(1, address: "::1") }.contains("[::1]:1"))
        // With -nodefaults a VNC client would see no display adapter: a VGA is added.
        let argv = try arguments { $0.vnc = .display(0) }
        #expect(argv.contains("VGA"))
        #expect(try arguments { $0.vnc = .display(0); $0.videoDevice = .virtio }.contains("virtio-vga"))
    }

    @Test func serialForms() throws {
        #expect(try arguments { $0.serial = SerialPort.none }.contains("none"))
        #expect(try arguments { $0.serial = .stdio }.contains("stdio,id=serial0,signal=off"))
        let socket = try arguments { $0.serial = .unixSocket("/run/s,1.sock", logFile: "/run/log,1") }
        #expect(socket.contains("socket,id=serial0,path=/run/s,,1.sock,server=on,wait=off,logfile=/run/log,,1,logappend=on"))
        #expect(socket.contains("chardev:serial0"))
    }

    @Test func errorsAreUsageErrors() {
        #expect(QEMUError.invalidValue(what: "x", value: "y", allowed: "z").isUsageError)
        #expect(QEMUError.inexpressibleValue(option: "x", value: "y", reason: "z").isUsageError)
        #expect(!QEMUError.toolFailed(program: "qemu-img", arguments: [], status: 1, message: "").isUsageError)
    }
}
