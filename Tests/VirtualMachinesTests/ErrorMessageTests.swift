import QEMU
import QMP
import QNetSystem
import QNetTypes
import SystemPackage
import Testing
import VirtualMachines

/// Every error of the VM and network layer reads as one line that names the bad value
/// (or the thing that failed), and says whether the input or the operation is at fault.
struct ErrorMessageTests {
    /// An error, a value its message must name, and whether it is bad input (exit 2).
    struct Sample: CustomStringConvertible {
        var error: any UserFacingError
        var names: String
        var isUsage: Bool
        var description: String { "\(error)" }
    }

    static let systemError = SystemError(errno: .permissionDenied, operation: "spawn", path: "/usr/bin/qemu-system-x86_64")

    static let samples: [Sample] = [
        Sample(error: VMError.invalidValue(what: "CPU count", value: "0", allowed: "use 1 to 255"), names: "'0'", isUsage: true),
        Sample(error: VMError.missingFile(what: "disk", path: "/nowhere.img"), names: "/nowhere.img", isUsage: true),
        Sample(error: VMError.unreadableFile(what: "kernel", path: "/root/vmlinuz", user: "nobody"), names: "/root/vmlinuz", isUsage: false),
        Sample(error: VMError.duplicateName("web", pid: 42), names: "'web'", isUsage: false),
        Sample(error: VMError.noSuchVM("ghost"), names: "'ghost'", isUsage: false),
        Sample(error: VMError.macInUse(mac: "52:54:00:00:00:01", vm: "a"), names: "52:54:00:00:00:01", isUsage: false),
        Sample(error: VMError.noSuchUser("alice", requested: true), names: "'alice'", isUsage: true),
        Sample(error: VMError.noSuchUser("qnet", requested: false), names: "useradd", isUsage: true),
        Sample(error: VMError.qemuStartFailed(systemError), names: "/usr/bin/qemu-system-x86_64: Permission denied", isUsage: false),
        Sample(error: VMError.qemuCommandLine(.invalidValue(what: "drive path", value: "a\nb", allowed: "no newlines")),
               names: "drive path", isUsage: true),
        Sample(error: VMError.qemuExited(.exited(1), output: "qemu: -bogus: invalid option\n"), names: "-bogus", isUsage: false),
        Sample(error: VMError.qemuExited(nil, output: ""), names: "no longer running", isUsage: false),
        Sample(error: VMError.qmpSocketTimeout(path: "/run/qnet/vms/a/qmp.sock", seconds: 15), names: "/run/qnet/vms/a/qmp.sock", isUsage: false),
        Sample(error: VMError.qmp(.commandFailed(command: "cont", class: "GenericError", description: "nope")), names: "'cont'", isUsage: false),
        Sample(error: VMError.didNotExit(pid: 4321), names: "4321", isUsage: false),
        Sample(error: VMError.nicNotOnBridge(tap: "vnet3", bridge: "br0"), names: "vnet3", isUsage: false),

        Sample(error: NetworkError.noSuchNetwork("lab"), names: "'lab'", isUsage: false),
        Sample(error: NetworkError.unreadableDefinition(DefinitionFileError(file: "/var/lib/qnet/networks/lab.yaml", line: 3,
                                                                            problem: .missingKey(path: "mode"))),
               names: "lab.yaml, line 3: missing key mode", isUsage: false),
        Sample(error: NetworkError.nameTaken("lab"), names: "'lab'", isUsage: true),
        Sample(error: NetworkError.bridgeTaken(bridge: "br7", network: "other"), names: "'br7'", isUsage: true),
        Sample(error: NetworkError.bridgeNameExists(bridge: "eth0", mode: .nat), names: "'eth0'", isUsage: true),
        Sample(error: NetworkError.badSetting(network: "lab", .badSubnet("10.0.0")), names: "'10.0.0'", isUsage: true),
        Sample(error: NetworkError.badSetting(network: "lab", .noFreeSubnet), names: "'lab'", isUsage: false),
        Sample(error: NetworkError.notRunning("lab"), names: "'lab'", isUsage: false),
        Sample(error: NetworkError.nicOnStoppedNetwork("lab"), names: "'lab'", isUsage: true),
        Sample(error: NetworkError.inUse(network: "lab", vms: ["web", "db"], canForce: true), names: "web, db", isUsage: false),
        Sample(error: NetworkError.noDHCP(network: "lan"), names: "'lan'", isUsage: true),
        Sample(error: NetworkError.notInstalled(.dnsmasq), names: "dnsmasq-base", isUsage: false),
        Sample(error: NetworkError.dnsmasqExited(network: "lab", output: "dnsmasq: failed to bind DHCP server socket"),
               names: "failed to bind", isUsage: false),
        Sample(error: NetworkError.dnsmasqTimeout(network: "lab", seconds: 10), names: "'lab'", isUsage: false),
        Sample(error: NetworkError.servicePortTaken(service: "DNS (udp 53)", address: IPAddress("10.0.100.1")!), names: "10.0.100.1", isUsage: false),
        Sample(error: NetworkError.firewallRejected(path: "/run/qnet/networks/firewall.nft", output: "Error: syntax error"),
               names: "firewall.nft", isUsage: false),
        Sample(error: NetworkError.stopIncomplete(network: "lab", problems: [NetworkStopProblem(.sysctl(path: "/proc/sys/net/ipv4/ip_forward"), systemError)]),
               names: "/proc/sys/net/ipv4/ip_forward", isUsage: false),

        Sample(error: UserModeError.passtStartFailed(SystemError(errno: .noSuchFileOrDirectory, operation: "open", path: "/x/passt.log")),
               names: "/x/passt.log", isUsage: false),
        Sample(error: UserModeError.passtSocketDirectoryMissing(directory: "/gone"), names: "/gone", isUsage: false),
        Sample(error: UserModeError.passtSocketDirectoryNotWritable(directory: "/root", user: "nobody"), names: "/root", isUsage: false),
        Sample(error: UserModeError.portUnavailable(protocol: "tcp", port: 8080, address: "0.0.0.0", reason: Errno.addressNotAvailable.description),
               names: "8080", isUsage: false),
    ]

    @Test(arguments: samples)
    func messageIsOneLineNamingTheValue(_ sample: Sample) {
        let message = sample.error.message
        #expect(!message.contains("\n"), "\(message)")
        #expect(message.contains(sample.names), "\(message)")
        #expect(sample.error.isUsageError == sample.isUsage, "\(message)")
        #expect(sample.error.exitCode == (sample.isUsage ? 2 : 1), "\(message)")
    }

    /// A failure wrapped with context keeps the inner error's words.
    @Test func wrappedErrorsKeepTheInnerMessage() {
        #expect(VMError.qemuStartFailed(Self.systemError).description
                == "cannot start QEMU: spawn /usr/bin/qemu-system-x86_64: Permission denied")
        #expect(VMError.qmp(.connectFailed(path: "/s", errno: .connectionRefused)).description.hasPrefix("QMP: cannot connect to QMP socket '/s'"))
        #expect(NetworkError.badSetting(network: "lab", .badNetworkName("Lab")).description
                == "network 'lab': " + NetworkConfigError.badNetworkName("Lab").description)
    }

    /// The whole `--nic` text of a refused NIC is named, whichever layer refuses it.
    @Test func nicErrorsNameTheValue() {
        for (text, value) in [("bridge=br0,network=lab", "bridge=br0,network=lab"), ("model=e1000", "'model=e1000'"),
                              ("network=Lab", "'Lab'"), ("bridge=br0,queues=99", "'99'")] {
            do {
                _ = try NICSpec.parse(text)
                Issue.record("\(text) was accepted")
            } catch let error as any UserFacingError {
                #expect(error.message.contains(value) && error.isUsageError, "\(text): \(error)")
            } catch {
                Issue.record("\(text): \(type(of: error)) is not a UserFacingError")
            }
        }
    }
}

extension ErrorMessageTests {
    /// A value with control characters is quoted escaped: the message stays one line.
    @Test func controlCharactersInValuesAreEscaped() {
        let errors: [any UserFacingError] = [
            VMError.invalidValue(what: "VM name", value: "a\nb", allowed: "letters"),
            VMError.noSuchVM("a\u{1B}[2Jb"),
            VMError.missingFile(what: "disk", path: "/tmp/a\rb"),
            NetworkError.noSuchNetwork("a\nb"),
            NetworkConfigError.badNetworkName("a\tb"),
        ]
        for error in errors {
            #expect(!error.message.contains(where: { $0.isNewline || $0 == "\u{1B}" || $0 == "\t" }), "\(error.message)")
        }
        #expect(printable("a\nb\u{1B}c\u{2028}") == "a\\nb\\u{1B}c\\u{2028}")
    }
}
