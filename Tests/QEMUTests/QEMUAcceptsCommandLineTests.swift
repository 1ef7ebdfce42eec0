import Foundation
import QNetTypes
import QEMU
import QNetTestSupport
import Testing

/// The builder's argv given to the real QEMU (TCG, no privilege): QEMU must accept it and
/// report, over QMP, exactly the files, sockets and devices the typed values named —
/// commas included. Golden files fix the text; these tests prove the text is right.
@Suite(.timeLimit(.minutes(15)))
struct QEMUAcceptsCommandLineTests {
    @Test func recipeLikeVMWithCommasInEveryPath() throws {
        let base = try TestDirectory("argv")
        let directory = base.file("vm,1")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let disk = directory + "/disk,1.img", overlay = directory + "/data,2.qcow2", iso = directory + "/install,x86.iso"
        try DiskImage.create(path: disk, size: DiskSize(parsing: "64M"))
        try DiskImage.create(path: overlay, size: DiskSize(parsing: "16M"), format: .qcow2)
        try DiskImage.create(path: iso, size: DiskSize(parsing: "1M"))
        try DiskImage.create(path: directory + "/c:d.img", size: DiskSize(parsing: "1M"))
        let mac = MACAddress("52:54:00:12:ab:01")!, userMAC = MACAddress("52:54:00:12:ab:02")!
        let line = QEMUCommandLine(
            name: "web,db", machineType: "pc", accelerator: .tcg, memoryMiB: 64, cpus: 2,
            vnc: .unixSocket(directory + "/vnc,1.sock"), startPaused: true, pidFile: directory + "/qemu,1.pid",
            qmpSocket: directory + "/qmp,1.sock", serial: .file(directory + "/console,1.log", append: true),
            drives: [.disk(disk), .disk(overlay, format: .qcow2), .cdrom(iso), .disk("c:d.img")],
            bootOrder: "cd",
            networkInterfaces: [
                NetworkInterface(id: "net0", backend: .user(UserNetwork(
                    restrict: true, network: IPPrefix("10.9.0.0/24"),
                    portForwards: [PortForward(hostAddress: IPAddress("127.0.0.1"), hostPort: 0, guestPort: 22)])), macAddress: mac),
                NetworkInterface(id: "net1", backend: .user(UserNetwork()), model: .e1000, macAddress: userMAC),
            ],
            debugExit: DebugExitDevice())
        let qemu = try QEMUProcess(line.argv(executable: QEMUBinary.systemEmulator()), workingDirectory: directory)
        try qemu.handshake()

        // Drives: the file names QEMU opened are the paths as given.
        let blocks = try #require(try qemu.result("query-block") as? [[String: Any]])
        let files = blocks.compactMap { ($0["inserted"] as? [String: Any])?["file"] as? String }
        #expect(files == [disk, overlay, iso, "./c:d.img"], "\(files)")
        let formats = blocks.compactMap { ($0["inserted"] as? [String: Any])?["drv"] as? String }
        #expect(formats == ["raw", "qcow2", "raw", "raw"])
        let readOnly = blocks.compactMap { ($0["inserted"] as? [String: Any])?["ro"] as? Bool }
        #expect(readOnly == [false, false, true, false])
        #expect(blocks.compactMap { $0["removable"] as? Bool } == [false, false, true, false])

        // -S: paused before the first instruction.
        let status = try #require(try qemu.result("query-status") as? [String: Any])
        #expect(status["status"] as? String == "prelaunch" && status["running"] as? Bool == false)

        // Sockets, pid file and serial log exist where the (comma-laden) paths say.
        for socket in [directory + "/qmp,1.sock", directory + "/vnc,1.sock"] {
            #expect(fileStatus(socket).map { $0.st_mode & S_IFMT == S_IFSOCK } == true, "\(socket)")
        }
        let pid = try String(contentsOfFile: directory + "/qemu,1.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(pid == String(qemu.process.processIdentifier))
        #expect(FileManager.default.fileExists(atPath: directory + "/console,1.log"))
        let vnc = try #require(try qemu.result("query-vnc") as? [String: Any])
        #expect(vnc["enabled"] as? Bool == true)

        // NICs: models, MACs, user-network settings; the boot order; the debug-exit device.
        let network = try #require(try qemu.result("human-monitor-command", ["command-line": "info network"]) as? String)
        #expect(network.contains("model=virtio-net-pci,macaddr=52:54:00:12:ab:01"), "\(network)")
        #expect(network.contains("model=e1000,macaddr=52:54:00:12:ab:02"), "\(network)")
        #expect(network.contains("net0: index=0,type=user,net=10.9.0.0,restrict=on"), "\(network)")
        let usernet = try #require(try qemu.result("human-monitor-command", ["command-line": "info usernet"]) as? String)
        #expect(usernet.contains("HOST_FORWARD") && usernet.contains("127.0.0.1"), "\(usernet)")
        let tree = try #require(try qemu.result("human-monitor-command", ["command-line": "info qtree"]) as? String)
        #expect(tree.contains("isa-debug-exit") && tree.contains("iobase = 244 (0xf4)"), "\(tree.prefix(200))")
        #expect(tree.contains("dev: VGA"))
        let chardevs = try #require(try qemu.result("query-chardev") as? [[String: Any]])
        let labels = Dictionary(uniqueKeysWithValues: chardevs.compactMap { entry in
            (entry["label"] as? String).map { ($0, entry["filename"] as? String ?? "") }
        })
        #expect(labels["serial0"] == "file", "\(labels)")
        #expect(labels["qmp0"]?.contains("qmp,1.sock") == true, "\(labels)")

        _ = try qemu.execute("quit")
        #expect(qemu.waitForExit(timeout: 10) == 0)
        // QEMU removes its pid file on exit.
        #expect(!FileManager.default.fileExists(atPath: directory + "/qemu,1.pid"))
    }

    /// Direct kernel boot with a comma in the kernel's path and in the command line
    /// (plain values: not doubled), serial to a file, -no-reboot: the Debian kernel boots
    /// under TCG, prints its command line on ttyS0, panics (no root) and QEMU exits.
    @Test func kernelBootsAndWritesTheSerialLog() throws {
        let kernels = try FileManager.default.contentsOfDirectory(atPath: "/boot").filter { $0.hasPrefix("vmlinuz-") }.sorted()
        let kernel = try #require(kernels.last.map { "/boot/" + $0 }, "no /boot/vmlinuz-*; `make test` installs linux-image-amd64")
        let directory = try TestDirectory("kboot")
        let linked = directory.file("vmlinuz,1")
        try FileManager.default.createSymbolicLink(atPath: linked, withDestinationPath: kernel)
        let log = directory.file("console,1.log")
        let line = QEMUCommandLine(
            machineType: "pc", accelerator: .tcg, memoryMiB: 128, serial: .file(log),
            directKernelBoot: DirectKernelBoot(kernel: linked, commandLine: "console=ttyS0 panic=-1 qnet.test=a,b"),
            noReboot: true)
        let qemu = try QEMUProcess(line.argv(executable: QEMUBinary.systemEmulator()), workingDirectory: directory.path, qmpOnStdio: false)
        let status = qemu.waitForExit(timeout: 90)
        let console = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 0, "QEMU did not exit by itself; stderr: \(qemu.stderr)")
        #expect(console.contains("Linux version"), "\(console.suffix(500))")
        #expect(console.contains("Command line: console=ttyS0 panic=-1 qnet.test=a,b"), "\(console.prefix(800))")
        #expect(console.contains("Kernel panic"), "\(console.suffix(500))")
    }

    /// Why the doubling matters, shown with QEMU itself.
    @Test func qemuItselfRejectsAnUndoubledComma() throws {
        let directory = try TestDirectory("argv")
        let disk = directory.file("a,b.img")
        try DiskImage.create(path: disk, size: DiskSize(parsing: "1M"))
        let emulator = try QEMUBinary.systemEmulator()
        let wrong = try run(emulator, ["-machine", "none", "-nodefaults", "-display", "none", "-drive", "file=\(disk),format=raw,if=none"])
        // QEMU cuts the path at the comma: it tries another file ('.../a') and reads "b.img" as an option.
        #expect(wrong.status != 0 && wrong.stderr.contains("Could not open '\(directory.file("a"))'"), "\(wrong.stderr)")
        let doubled = "file=\(try QEMUOptionSyntax.escape(disk, option: "drive file")),format=raw,if=none"
        let qemu = try QEMUProcess([emulator, "-machine", "none", "-nodefaults", "-display", "none", "-drive", doubled],
                                   workingDirectory: directory.path)
        try qemu.handshake()
        let blocks = try #require(try qemu.result("query-block") as? [[String: Any]])
        #expect(blocks.compactMap { ($0["inserted"] as? [String: Any])?["file"] as? String } == [disk])
        _ = try qemu.execute("quit")
        #expect(qemu.waitForExit(timeout: 10) == 0)
    }
}
