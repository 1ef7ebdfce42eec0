import Foundation
@testable import GuestImage
import QNetTestSupport
import Testing

/// Building the image from the host's real kernel, modules, busybox and iperf3.
@Suite(Host.needsGuestInputs)
struct ImageBuildTests {
    /// Under 15 MB, and what GNU gzip + GNU cpio find inside is what /init needs.
    @Test func imageContentsThroughGNUTools() throws {
        let image = try SharedImage.get()
        print("guest image: kernel \(image.sizes.kernel) B + initramfs \(image.sizes.initramfs) B (cpio \(image.sizes.initramfsUncompressed) B)"
              + " = \(image.sizes.total) B" + (SharedImage.buildSeconds.withLock { $0 }.map { String(format: ", built in %.2f s", $0) } ?? ""))
        #expect(image.sizes.total < 15_000_000)
        #expect(image.sizes.total == (try FileManager.default.attributesOfItem(atPath: image.kernel)[.size] as? Int ?? 0)
            + (try FileManager.default.attributesOfItem(atPath: image.initramfs)[.size] as? Int ?? 0))
        #expect(image.kernelRelease == Host.release)

        let listing = try run("/bin/sh", ["-c", "gzip -dc '\(image.initramfs)' | cpio -tv --quiet"])
        #expect(listing.status == 0, "\(listing.stderr)")
        let lines = listing.stdout.split(separator: "\n").map(String.init)
        func entry(_ path: String) -> String? { lines.first { $0.hasSuffix(" " + path) || $0.contains(" " + path + " -> ") } }
        #expect(entry("init")?.hasPrefix("-rwxr-xr-x") == true)
        #expect(entry("bin/busybox")?.hasPrefix("-rwxr-xr-x") == true)
        #expect(entry("bin/sh")?.hasSuffix("bin/sh -> busybox") == true)
        #expect(entry("dev/console")?.hasPrefix("crw-------") == true)
        for module in ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci", "failover", "net_failover",
                       "virtio_net", "e1000", "mii", "8139cp", "8139too", "button", "evdev"] {
            #expect(lines.contains { $0.hasSuffix("/\(module).ko") && $0.contains("lib/modules/\(Host.release)/kernel/") }, "\(module)")
        }
        #expect(image.modules.starts(with: ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
                                            "failover", "net_failover", "virtio_net", "e1000"]))
        let hasDHCPClient = FileManager.default.fileExists(atPath: "/usr/sbin/dhcpcd")
        if FileManager.default.fileExists(atPath: "/usr/bin/iperf3") {
            #expect(image.tools == ["iperf3"] + (hasDHCPClient ? ["dhcpcd"] : []))
            for path in ["usr/bin/iperf3", "lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libiperf.so.0"] {
                #expect(entry(path) != nil, "\(path)")
            }
        }

        // The DHCPv6 client (dhcpcd-base, a test package) with its configuration and its
        // privilege-separation user.
        if hasDHCPClient {
            #expect(image.tools.contains("dhcpcd"))
            for path in ["usr/sbin/dhcpcd", "etc/qnet/dhcpcd.conf", "etc/passwd", "etc/group"] { #expect(entry(path) != nil, "\(path)") }
        }

        // /init and the udhcpc script parse under busybox sh; the module table names real files.
        let root = try ScratchDirectory("initramfs")
        let extract = try run("/bin/sh", ["-c", "cd '\(root.path)' && gzip -dc '\(image.initramfs)' | cpio -id --quiet init etc/qnet/modules etc/qnet/udhcpc.script"])
        #expect(extract.status == 0, "\(extract.stderr)")
        for script in ["init", "etc/qnet/udhcpc.script"] {
            let syntax = try run("/bin/busybox", ["sh", "-n", root.path + "/" + script])
            #expect(syntax.status == 0, "\(script): \(syntax.stderr)")
        }
        let table = try String(contentsOfFile: root.path + "/etc/qnet/modules", encoding: .utf8)
        #expect(table.contains("virtio_net kernel/drivers/net/virtio_net.ko virtio_ring virtio failover net_failover\n"))
        #expect(table.contains("8139cp kernel/drivers/net/ethernet/realtek/8139cp.ko mii\n"))
    }

    @Test func cacheReusesAndRebuildsOnChange() throws {
        let cache = try ScratchDirectory("cache")
        let busyboxCopy = cache.path + "/busybox"
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: busyboxCopy)
        let builder = try GuestImageBuilder(kernel: Host.kernel, busybox: busyboxCopy, iperf3: nil, dhcpcd: nil)
        let first = try builder.cached(in: cache.path + "/images")
        #expect(first.built)
        #expect(first.image.tools == [] && first.image.directory == cache.path + "/images/\(Host.release)")
        let second = try builder.cached(in: cache.path + "/images")
        #expect(!second.built && second.image == first.image)
        #expect(GuestImage.load(from: first.image.directory) == first.image)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path + "/images").sorted() == [".lock", Host.release])
        let rebuilt = try builder.cached(in: cache.path + "/images", rebuild: true)
        #expect(rebuilt.built && rebuilt.image == first.image, "same inputs, same image")
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path + "/images").sorted() == [".lock", Host.release])

        // A changed input (a newer busybox) changes the fingerprint.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: busyboxCopy)
        #expect(try builder.fingerprint() != first.image.fingerprint)
        var otherOptions = builder
        otherOptions.compression = .none
        #expect(try otherOptions.fingerprint() != builder.fingerprint())
        // An image whose files were damaged is not trusted.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: first.image.initramfs))
        #expect(GuestImage.load(from: first.image.directory) == nil)
    }

    /// The cache is state: its release folder planted as a symlink (to a folder holding a
    /// kernel an attacker wants booted), or the cache folder itself a symlink, is refused with
    /// one line naming it; nothing is read from, built into or removed from the target.
    @Test func aPlantedCacheEntryIsRefusedAndLeftAlone() throws {
        let scratch = try ScratchDirectory("cacheplant")
        let builder = try GuestImageBuilder(kernel: Host.kernel, busybox: "/bin/busybox", iperf3: nil, dhcpcd: nil)
        let target = scratch.path + "/target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        let manifest = "fingerprint=\(try builder.fingerprint())\nrelease=\(Host.release)\nkernel_bytes=4\ninitramfs_bytes=4\n"
        for (name, content) in [("manifest", manifest), ("vmlinuz", "evil"), ("initramfs.img", "evil")] {
            try Data(content.utf8).write(to: URL(fileURLWithPath: "\(target)/\(name)"))
        }
        let cache = scratch.path + "/images"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: false)
        let link = "\(cache)/\(Host.release)"
        #expect(symlink(target, link) == 0)

        let error = try #require(throws: (any Error).self) { _ = try builder.cached(in: cache) }
        #expect("\(error)".contains(link) && "\(error)".contains("symbolic link") && "\(error)".contains("left alone"), "\(error)")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target)
        #expect(try FileManager.default.contentsOfDirectory(atPath: target).sorted() == ["initramfs.img", "manifest", "vmlinuz"])
        #expect(FileManager.default.contents(atPath: "\(target)/vmlinuz") == Data("evil".utf8))

        let linkedCache = scratch.path + "/linked"
        #expect(symlink(target, linkedCache) == 0)
        let linked = try #require(throws: (any Error).self) { _ = try builder.cached(in: linkedCache) }
        #expect("\(linked)".contains(linkedCache) && "\(linked)".contains("symbolic link"), "\(linked)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: target).sorted() == ["initramfs.img", "manifest", "vmlinuz"])
    }

    @Test func badInputs() throws {
        let scratch = try ScratchDirectory("badinputs")
        #expect { try GuestImageBuilder(kernel: Host.kernel, busybox: scratch.path + "/nope").build(into: scratch.path + "/out") } throws: { error in
            guard let error = error as? GuestImageError else { return false }
            return error.isUsageError && error.description == "busybox '\(scratch.path)/nope' not found or unreadable: install busybox-static"
        }
        #expect { try GuestImageBuilder(kernel: Host.kernel, busybox: "/usr/bin/iperf3").build(into: scratch.path + "/out") } throws: { error in
            (error as? GuestImageError)?.description.contains("is dynamically linked") == true
        }
        #expect { try GuestImageBuilder(kernel: "/bin/busybox").build(into: scratch.path + "/out") } throws: { error in
            guard case .notAKernelImage = error as? GuestImageError else { return false }
            return true
        }
        var tiny = try GuestImageBuilder(kernel: Host.kernel, iperf3: nil)
        tiny.sizeLimit = 1_000_000
        #expect { try tiny.build(into: scratch.path + "/out") } throws: { error in
            guard case .tooLarge(_, 1_000_000) = error as? GuestImageError else { return false }
            return true
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/out"))
    }
}
