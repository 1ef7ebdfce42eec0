import Foundation
@testable import GuestImage
import QNetTestSupport
import Testing

/// The newc writer, byte for byte, and against GNU cpio (`cpio -t`, `cpio -i`) as witness.
struct CPIOArchiveTests {
    /// Decodes the archive independently of the writer: (name, mode, nlink, rdev, data) per entry.
    struct Entry: Equatable { var name: String; var mode: UInt32; var links: UInt32; var rdevMajor: UInt32; var rdevMinor: UInt32; var data: [UInt8] }

    static func decode(_ bytes: [UInt8]) throws -> [Entry] {
        var entries: [Entry] = []
        var offset = 0
        func field(_ index: Int) throws -> UInt32 {
            let start = offset + 6 + index * 8
            guard let value = UInt32(String(decoding: bytes[start..<(start + 8)], as: UTF8.self), radix: 16) else {
                throw TestSupportError("field \(index) at \(start) is not hex")
            }
            return value
        }
        while offset < bytes.count {
            #expect(offset % 4 == 0, "header at \(offset) not 4-byte aligned")
            #expect(String(decoding: bytes[offset..<(offset + 6)], as: UTF8.self) == "070701")
            let mode = try field(1), links = try field(4), size = Int(try field(6)), nameSize = Int(try field(11))
            let rdevMajor = try field(9), rdevMinor = try field(10)
            let nameStart = offset + 110
            #expect(bytes[nameStart + nameSize - 1] == 0, "name not NUL-terminated")
            let name = String(decoding: bytes[nameStart..<(nameStart + nameSize - 1)], as: UTF8.self)
            var dataStart = nameStart + nameSize
            while dataStart % 4 != 0 { #expect(bytes[dataStart] == 0); dataStart += 1 }
            let data = Array(bytes[dataStart..<(dataStart + size)])
            offset = dataStart + size
            while offset % 4 != 0 { #expect(bytes[offset] == 0); offset += 1 }
            entries.append(Entry(name: name, mode: mode, links: links, rdevMajor: rdevMajor, rdevMinor: rdevMinor, data: data))
            if name == "TRAILER!!!" { break }
        }
        #expect(offset == bytes.count, "bytes after the trailer")
        return entries
    }

    @Test func oneFileByteForByte() throws {
        var archive = CPIOArchive()
        try archive.addFile("/hi", contents: Array("hey".utf8), permissions: 0o644)
        let bytes = archive.finishedBytes()
        // Header of "hi": magic, ino 0x2D1 (721), mode 0100644, uid 0, gid 0, nlink 1, mtime 0,
        // filesize 3, devmajor 0, devminor 0, rdevmajor 0, rdevminor 0, namesize 3 ("hi\0"), check 0.
        let header = "070701" + "000002D1" + "000081A4" + "00000000" + "00000000" + "00000001" + "00000000"
            + "00000003" + "00000000" + "00000000" + "00000000" + "00000000" + "00000003" + "00000000"
        var expected = Array(header.utf8)
        expected += Array("hi".utf8) + [0]                      // name: 110 + 3 = 113 bytes
        expected += [0, 0, 0]                                    // pad to 116
        expected += Array("hey".utf8) + [0]                      // data, padded to 120
        let trailer = "070701" + "00000000" + "00000000" + "00000000" + "00000000" + "00000001" + "00000000"
            + "00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "0000000B" + "00000000"
        expected += Array(trailer.utf8) + Array("TRAILER!!!".utf8) + [0]   // 110 + 11 = 121
        expected += [0, 0, 0]                                                // pad to 124
        #expect(bytes == expected)
    }

    @Test(arguments: 1...9)
    func alignmentForEveryNameAndDataLength(nameLength: Int) throws {
        var archive = CPIOArchive()
        for dataLength in 0...5 {
            try archive.addFile(String(repeating: "n", count: nameLength) + "\(dataLength)", contents: Array(repeating: 0xAB, count: dataLength))
        }
        let entries = try Self.decode(archive.finishedBytes())
        #expect(entries.count == 7)
        #expect(entries.last?.name == "TRAILER!!!" && entries.last?.links == 1)
        for (index, entry) in entries.dropLast().enumerated() { #expect(entry.data == Array(repeating: 0xAB, count: index)) }
    }

    @Test func entryKindsAndModes() throws {
        var archive = CPIOArchive()
        try archive.addDirectory("dev")
        try archive.addCharacterDevice("dev/console", major: 5, minor: 1)
        try archive.addSymbolicLink("sh", target: "busybox")
        try archive.addFile("init", contents: [1], permissions: 0o755)
        let entries = try Self.decode(archive.finishedBytes())
        #expect(entries.map(\.name) == ["dev", "dev/console", "sh", "init", "TRAILER!!!"])
        #expect(entries[0].mode == 0o040755 && entries[0].links == 2)
        #expect(entries[1].mode == 0o020600 && entries[1].rdevMajor == 5 && entries[1].rdevMinor == 1)
        #expect(entries[2].mode == 0o120777 && entries[2].data == Array("busybox".utf8))
        #expect(entries[3].mode == 0o100755 && entries[3].links == 1)
    }

    @Test func rejectsBadEntries() throws {
        var archive = CPIOArchive()
        try archive.addFile("a", contents: [])
        #expect(throws: GuestImageError.self) { try archive.addFile("a", contents: []) }
        #expect(throws: GuestImageError.self) { try archive.addFile("/a/../b", contents: []) }
        #expect(throws: GuestImageError.self) { try archive.addFile("", contents: []) }
        #expect(throws: GuestImageError.self) { try archive.addFile("x//y", contents: []) }
        #expect(throws: GuestImageError.self) { try archive.addFile("TRAILER!!!", contents: []) }
        #expect(throws: GuestImageError.self) { try archive.addFile("p", contents: [], permissions: 0o17777) }
        #expect(throws: GuestImageError.self) { try archive.addSymbolicLink("l", target: "") }
        archive.finish()
        #expect(throws: GuestImageError.self) { try archive.addFile("late", contents: []) }
        do {
            try archive.addFile("a/../b", contents: [])
        } catch let error as GuestImageError {
            #expect(error.description == "cannot add 'a/../b' to the initramfs: the archive is already finished")
        }
    }

    /// An archive with a directory, an executable, a symlink, a large file and a device node.
    static func sampleArchive(in scratch: ScratchDirectory) throws -> (file: String, big: [UInt8]) {
        var archive = CPIOArchive()
        try archive.addDirectory("bin")
        try archive.addFile("bin/tool", contents: Array("#!/bin/sh\necho hi\n".utf8), permissions: 0o755)
        try archive.addSymbolicLink("bin/alias", target: "tool")
        try archive.addDirectory("etc")
        let big = (0..<70_001).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try archive.addFile("etc/data", contents: big, permissions: 0o600)
        try archive.addDirectory("dev")
        try archive.addCharacterDevice("dev/console", major: 5, minor: 1)
        let file = scratch.path + "/archive.cpio"
        try Data(archive.finishedBytes()).write(to: URL(fileURLWithPath: file))
        return (file, big)
    }

    /// GNU cpio lists and extracts what the writer made: names, contents, modes, symlinks.
    @Test func gnuCpioReadsIt() throws {
        let scratch = try ScratchDirectory("cpio")
        let (file, big) = try Self.sampleArchive(in: scratch)
        let list = try run("/bin/sh", ["-c", "cpio -t --quiet < '\(file)'"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.split(separator: "\n") == ["bin", "bin/tool", "bin/alias", "etc", "etc/data", "dev", "dev/console"])

        let root = scratch.path + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let extract = try run("/bin/sh", ["-c", "cd '\(root)' && cpio -idm --quiet < '\(file)'"])
        #expect(extract.status == 0, "\(extract.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/etc/data")) == Data(big))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/bin/alias") == "tool")
        let attributes = try FileManager.default.attributesOfItem(atPath: root + "/bin/tool")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o755)
        let dataMode = try FileManager.default.attributesOfItem(atPath: root + "/etc/data")[.posixPermissions] as? NSNumber
        #expect(dataMode?.intValue == 0o600)
    }

    /// GNU cpio makes the device node the writer described (mknod needs root).
    @Test(Privileged.rootEnabled) func gnuCpioMakesTheDeviceNode() throws {
        let scratch = try ScratchDirectory("cpio")
        let (file, _) = try Self.sampleArchive(in: scratch)
        let root = scratch.path + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let extract = try run("/bin/sh", ["-c", "cd '\(root)' && cpio -idm --quiet < '\(file)'"])
        #expect(extract.status == 0, "\(extract.stderr)")
        var status = stat()
        #expect(stat(root + "/dev/console", &status) == 0)
        #expect(status.st_mode & S_IFMT == S_IFCHR)
        #expect(status.st_rdev == makedev(5, 1))
    }

    @Test func identicalInputsGiveIdenticalArchives() throws {
        func make() throws -> [UInt8] {
            var archive = CPIOArchive()
            try archive.addDirectory("d")
            try archive.addFile("d/f", contents: [1, 2, 3])
            return archive.finishedBytes()
        }
        #expect(try make() == make())
    }
}

private func makedev(_ major: UInt32, _ minor: UInt32) -> dev_t {
    // glibc's gnu_dev_makedev layout.
    var device = dev_t(minor & 0xFF) | dev_t(major & 0xFFF) << 8
    device |= dev_t(minor & ~0xFF) << 12 | dev_t(major & ~0xFFF) << 32
    return device
}
