import Foundation
@testable import GuestImage
import QNetTestSupport
import Testing

/// Reading the host's kernel, module index and ELF files, each against an independent witness.
@Suite(Host.needsGuestInputs)
struct HostInputTests {
    // MARK: kernel version

    /// The version in the bzImage header names the kernel's /lib/modules directory, and
    /// matches the string `file(1)`-style tools read at the same place.
    @Test func kernelReleaseFromRealBzImage() throws {
        let image = try KernelImage(path: Host.kernel)
        #expect(Host.kernel.hasSuffix("vmlinuz-\(image.release)"))
        #expect(FileManager.default.fileExists(atPath: "/lib/modules/\(image.release)/modules.dep"))
        #expect(image.versionString.hasPrefix(image.release + " ("))
        #expect(image.versionString.contains("#"))
        // Witness: the same string appears verbatim in the file (strings | grep).
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Host.kernel))
        #expect(bytes.range(of: Data(image.versionString.utf8)) != nil)
    }

    @Test func notAKernel() throws {
        let scratch = try ScratchDirectory("kernel")
        let short = scratch.path + "/short"
        try Data([0x55, 0xAA]).write(to: URL(fileURLWithPath: short))
        for path in ["/bin/busybox", short] {
            #expect { try KernelImage(path: path) } throws: { error in
                guard case .notAKernelImage(let reported, _) = error as? GuestImageError else { return false }
                return reported == path
            }
        }
        #expect { try KernelImage(path: scratch.path + "/absent") } throws: { error in
            (error as? GuestImageError)?.description
                == "kernel image '\(scratch.path)/absent' not found or unreadable: pass --kernel with a readable /boot/vmlinuz-* file"
        }
        // A header whose kernel_version points past the data.
        var header = [UInt8](repeating: 0, count: 0x300)
        header[0x1FE] = 0x55; header[0x1FF] = 0xAA
        header.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        header[0x206] = 0x0F; header[0x207] = 0x02
        header[0x20E] = 0x00; header[0x20F] = 0x40
        #expect(throws: GuestImageError.self) { try KernelImage.versionString(fromBootImage: header) }
        // Pointing at a version string works.
        header[0x20E] = 0x00; header[0x20F] = 0x00
        header[0x20E] = 0x10
        header.replaceSubrange(0x210..<0x21C, with: Array("6.9.0-1-test".utf8))
        #expect(try KernelImage.versionString(fromBootImage: header) == "6.9.0-1-test")
    }

    @Test func newestKernelByVersionOrder() throws {
        let scratch = try ScratchDirectory("boot")
        for name in ["vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-56-amd64", "vmlinuz-6.1.0-10-amd64", "config-6.1.0-99-amd64", "vmlinuz-5.10.0-30-amd64"] {
            _ = FileManager.default.createFile(atPath: scratch.path + "/" + name, contents: Data())
        }
        #expect(KernelImage.newest(in: scratch.path) == scratch.path + "/vmlinuz-6.1.0-56-amd64")
        #expect(KernelImage.newest(in: scratch.path + "/none") == nil)
        #expect(KernelImage.versionOrder("6.1.0-9", "6.1.0-10"))
        #expect(!KernelImage.versionOrder("6.10.0", "6.9.0"))
    }

    // MARK: modules

    /// The brief's load order, and the same order `modprobe --show-depends` (kmod) computes.
    @Test func virtioLoadOrderMatchesModprobe() throws {
        let index = try ModuleIndex(directory: Host.modulesDirectory)
        let order = try index.loadOrder(for: ["virtio_pci", "virtio_net"]).map(\.name)
        #expect(order == ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
                          "failover", "net_failover", "virtio_net"])
        for module in ["virtio_net", "virtio_pci", "e1000", "8139cp", "8139too"] {
            let witness = try run("modprobe", ["-S", Host.release, "--show-depends", module])
            guard witness.status == 0 else { Issue.record("modprobe --show-depends \(module): \(witness.stderr)"); continue }
            let expected = witness.stdout.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("insmod ") else { return nil }
                return ModuleIndex.moduleName(fromPath: String(line.split(separator: " ")[1]))
            }
            #expect(try index.loadOrder(for: [module]).map(\.name) == expected, "\(module)")
        }
        #expect(try index.dependencyClosure(of: "8139cp") == ["mii"])
        #expect(try index.dependencyClosure(of: "e1000") == [])
    }

    /// Debian 12's modules are plain .ko (CONFIG_MODULE_COMPRESS_NONE), which busybox insmod loads.
    @Test func imageModulesAreUncompressed() throws {
        let index = try ModuleIndex(directory: Host.modulesDirectory)
        let modules = try index.loadOrder(for: GuestImageBuilder.defaultRequiredDrivers + GuestImageBuilder.defaultOptionalDrivers
                                              + GuestImageBuilder.defaultExtraModules)
        #expect(!modules.isEmpty)
        for module in modules {
            #expect(!module.isCompressed, "\(module.relativePath)")
            #expect(FileManager.default.fileExists(atPath: "\(Host.modulesDirectory)/\(module.relativePath)"))
        }
        let aliases = try index.aliases(for: ["virtio_pci", "virtio_net", "e1000"])
        #expect(aliases.contains { $0 == ("pci:v00001AF4d*sv*sd*bc*sc*i*", "virtio_pci") })
        #expect(aliases.contains { $0.module == "virtio_net" && $0.pattern.hasPrefix("virtio:d00000001v") })
        #expect(aliases.contains { $0 == ("pci:v00008086d0000100Esv*sd*bc*sc*i*", "e1000") })  // QEMU's e1000 (82540EM)
    }

    @Test func moduleIndexErrors() throws {
        let index = try ModuleIndex(modulesDep: """
            kernel/a.ko: kernel/b.ko
            kernel/b.ko: kernel/a.ko
            kernel/c-d.ko.xz:
            kernel/e.ko: kernel/c-d.ko.xz

            """, directory: "/fake")
        #expect { try index.loadOrder(for: ["a"]) } throws: { error in
            (error as? GuestImageError)?.description == "invalid module index /fake/modules.dep: dependency cycle a -> b -> a"
        }
        #expect { try index.loadOrder(for: ["missing"]) } throws: { error in
            (error as? GuestImageError) == .moduleNotFound(name: "missing", modulesDirectory: "/fake")
        }
        #expect(try index.loadOrder(for: ["missing", "e"], optional: ["missing"]).map(\.name) == ["c_d", "e"])
        #expect(index.module(named: "c-d")?.isCompressed == true)
        #expect(throws: GuestImageError.self) { try ModuleIndex(modulesDep: "no colon here\n", directory: "/fake") }
    }

    /// A kernel whose modules are compressed is refused with a clear reason (busybox insmod
    /// cannot load .ko.xz).
    @Test func compressedModulesAreRefused() throws {
        let scratch = try ScratchDirectory("modroot")
        let release = Host.release
        let directory = "\(scratch.path)/\(release)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let dep = """
            kernel/drivers/virtio/virtio_ring.ko.xz:
            kernel/drivers/virtio/virtio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz
            kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
            kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
            kernel/drivers/net/ethernet/intel/e1000/e1000.ko.xz:

            """
        try dep.write(toFile: directory + "/modules.dep", atomically: true, encoding: .utf8)
        let builder = try GuestImageBuilder(kernel: Host.kernel, modulesRoot: scratch.path)
        #expect { try builder.build(into: scratch.path + "/out") } throws: { error in
            guard case .compressedModule(let name, let path) = error as? GuestImageError else { return false }
            return name == "virtio_ring" && path.hasSuffix("virtio_ring.ko.xz")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/out"))
    }

    // MARK: ELF

    /// iperf3's libraries, found by reading DT_NEEDED, are exactly what `ldd` lists.
    @Test func iperf3ClosureMatchesLdd() throws {
        guard FileManager.default.fileExists(atPath: "/usr/bin/iperf3") else {
            if Privileged.required { Issue.record("iperf3 is not installed") }
            return
        }
        let closure = try ProgramClosure(program: "/usr/bin/iperf3", guestPath: "/usr/bin/iperf3")
        let ldd = try run("ldd", ["/usr/bin/iperf3"])
        #expect(ldd.status == 0)
        var expected: Set<String> = []
        for line in ldd.stdout.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = words.first, !first.hasPrefix("linux-vdso") else { continue }
            expected.insert(String(first.split(separator: "/").last!))
        }
        let names = Set(closure.files.dropFirst().map { String($0.guestPath.split(separator: "/").last!) })
        #expect(names == expected)
        #expect(closure.files.first?.guestPath == "/usr/bin/iperf3")
        #expect(closure.files.contains { $0.guestPath == "/lib64/ld-linux-x86-64.so.2" })
        let top = try ELFDependencies(path: "/usr/bin/iperf3")
        #expect(top.interpreter == "/lib64/ld-linux-x86-64.so.2")
        #expect(top.needed.contains("libiperf.so.0"))
    }

    /// A Swift debug build names its runtime's folder in DT_RUNPATH (as `readelf -d` shows):
    /// the closure finds libswiftCore.so there, and its libraries are exactly `ldd`'s.
    @Test func swiftDebugBuildClosureFollowsRunPath() throws {
        let qnet = try qnetExecutable()
        let readelf = try run("readelf", ["-d", qnet])
        let runPathLine = readelf.stdout.split(separator: "\n").first { $0.contains("(RUNPATH)") || $0.contains("(RPATH)") }
        let top = try ELFDependencies(path: qnet)
        let expectedRunPath = runPathLine.flatMap { line in line.split(separator: "[").last?.split(separator: "]").first }
            .map { $0.split(separator: ":").map(String.init) } ?? []
        #expect(top.runPath == expectedRunPath, "\(runPathLine ?? "no RUNPATH")")
        let closure = try ProgramClosure(program: qnet, guestPath: "/usr/bin/qnet")
        let ldd = try run("ldd", [qnet])
        var expected: [String: String] = [:]
        for line in ldd.stdout.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 3, words[1] == "=>" else { continue }
            expected[String(words[0])] = URL(fileURLWithPath: String(words[2])).resolvingSymlinksInPath().path
        }
        let found = Dictionary(closure.files.dropFirst().map { (String($0.guestPath.split(separator: "/").last!), $0.hostPath) },
                               uniquingKeysWith: { first, _ in first })
        #expect(expected.keys.contains("libswiftCore.so"))
        for (name, path) in expected { #expect(found[name] == path, "\(name)") }
    }

    @Test func staticBusyboxHasNoDependencies() throws {
        let busybox = try ELFDependencies(path: "/bin/busybox")
        #expect(busybox == ELFDependencies(interpreter: nil, needed: []))
        #expect(throws: GuestImageError.self) { try ELFDependencies(bytes: Array("#!/bin/sh\n".utf8) + [UInt8](repeating: 0, count: 64)) }
        var truncated = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/usr/bin/iperf3")).prefix(80))
        truncated[0x20] = 0xFF  // program headers far beyond the end
        #expect(throws: GuestImageError.self) { try ELFDependencies(bytes: truncated) }
    }
}
