import Foundation
@testable import QEMU
import QNetTestSupport
import Testing

/// `qnet disk create/info`: sparse raw files, qcow2 through the real qemu-img, refusals.
struct DiskImageTests {
    @Test func rawIsSparseWithTheExactSize() throws {
        let directory = try TestDirectory("disk")
        let path = directory.file("centos6.img")
        let info = try DiskImage.create(path: path, size: DiskSize(parsing: "4G"))
        let status = try #require(fileStatus(path))
        #expect(status.st_size == 4 << 30)
        #expect(status.st_blocks == 0, "a raw image must have no data blocks, has \(status.st_blocks) sectors")
        #expect(status.st_mode & S_IFMT == S_IFREG)
        #expect(info == DiskImageInfo(path: path, format: "raw", virtualSize: 4 << 30, actualSize: 0))
        // The independent witness agrees: qemu-img sees a 4 GiB raw image using no space.
        let witness = try run("qemu-img", ["info", "--output=json", path])
        #expect(witness.stdout.contains("\"virtual-size\": 4294967296"))
        #expect(witness.stdout.contains("\"format\": \"raw\""))
        #expect(witness.stdout.contains("\"actual-size\": 0"))
    }

    @Test func existingFilesAreRefusedWithoutForce() throws {
        let directory = try TestDirectory("disk")
        let path = directory.file("data.img")
        try Data("precious".utf8).write(to: URL(fileURLWithPath: path))
        for format in DiskFormat.allCases {
            let error = #expect(throws: QEMUError.self) { try DiskImage.create(path: path, size: DiskSize(parsing: "1M"), format: format) }
            #expect(error == .fileExists(path: path))
            #expect(error?.description == "'\(path)' already exists; pass --force to replace it, or pick another path")
            #expect(error?.isUsageError == true)
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "precious")
    }

    @Test func forceReplacesAtomicallyAndLeavesNoTemporaryFile() throws {
        let directory = try TestDirectory("disk")
        let path = directory.file("data.img")
        try Data(repeating: 0xAB, count: 1 << 20).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        try DiskImage.create(path: path, size: DiskSize(parsing: "2G"), force: true)
        let status = try #require(fileStatus(path))
        #expect(status.st_size == 2 << 30 && status.st_blocks == 0)
        #expect(status.st_mode & 0o7777 == 0o600)
        try DiskImage.create(path: path, size: DiskSize(parsing: "1G"), format: .qcow2, force: true)
        #expect(try DiskImage.info(path: path).format == "qcow2")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["data.img"])
    }

    /// The replacement keeps the replaced file's owner and group (only root can give a file
    /// to someone else, so this needs root).
    @Test(Privileged.rootEnabled) func forceKeepsTheOwner() throws {
        let directory = try TestDirectory("disk")
        let path = directory.file("owned.img")
        try Data(repeating: 0xAB, count: 4096).write(to: URL(fileURLWithPath: path))
        #expect(chown(path, 1234, 5678) == 0, "chown: errno \(errno)")
        try DiskImage.create(path: path, size: DiskSize(parsing: "1G"), force: true)
        let status = try #require(fileStatus(path))
        #expect(status.st_uid == 1234 && status.st_gid == 5678)
        #expect(status.st_size == 1 << 30)
    }

    @Test func forceFollowsASymlinkToItsTarget() throws {
        let directory = try TestDirectory("disk")
        let target = directory.file("real.img"), link = directory.file("link.img")
        try Data("old".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        try DiskImage.create(path: link, size: DiskSize(parsing: "1M"), force: true)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == target)
        #expect(fileStatus(target)?.st_size == 1 << 20)
    }

    @Test func forceRefusesNonRegularFiles() throws {
        let directory = try TestDirectory("disk")
        #expect(throws: QEMUError.notARegularFile(path: directory.path)) {
            try DiskImage.create(path: directory.path, size: DiskSize(parsing: "1M"), force: true)
        }
        #expect(throws: QEMUError.notARegularFile(path: "/dev/null")) {
            try DiskImage.create(path: "/dev/null", size: DiskSize(parsing: "1M"), force: true)
        }
    }

    @Test func qcow2ThroughQemuImg() throws {
        let directory = try TestDirectory("disk")
        let path = directory.file("vm,1.qcow2")
        let info = try DiskImage.create(path: path, size: DiskSize(parsing: "10G"), format: .qcow2)
        #expect(info.format == "qcow2" && info.virtualSize == 10 << 30)
        #expect(info.actualSize > 0 && info.actualSize < 1 << 20, "a fresh qcow2 holds only metadata: \(info.actualSize)")
        let witness = try run("qemu-img", ["check", path])
        #expect(witness.status == 0, "\(witness.stdout) \(witness.stderr)")
        // Header magic "QFI\xfb".
        let header = try #require(FileHandle(forReadingAtPath: path)).readData(ofLength: 4)
        #expect(Array(header) == [0x51, 0x46, 0x49, 0xFB])
    }

    /// The quirk behind `blockLayerFileName`, shown with qemu-img itself (in a shell, so
    /// this process's working directory stays put): `c:d.img` is read as protocol "c",
    /// `./c:d.img` is the file. And DiskImage handles such names when given with a directory.
    @Test func colonNamesNeedADotSlash() throws {
        let directory = try TestDirectory("disk")
        let path = directory.file("c:d.qcow2")
        try DiskImage.create(path: path, size: DiskSize(parsing: "1M"), format: .qcow2)
        #expect(try DiskImage.info(path: path).format == "qcow2")
        let bare = try run("sh", ["-c", "cd '\(directory.path)' && qemu-img info c:d.qcow2"])
        #expect(bare.status != 0 && bare.stderr.contains("Unknown protocol"), "\(bare.stderr)")
        let prefixed = QEMUOptionSyntax.blockLayerFileName("c:d.qcow2")
        let fixed = try run("sh", ["-c", "cd '\(directory.path)' && qemu-img info '\(prefixed)'"])
        #expect(fixed.status == 0 && fixed.stdout.contains("file format: qcow2"), "\(fixed.stderr)")
    }

    @Test func infoReadsQcow2AndRawAndBackingFiles() throws {
        let directory = try TestDirectory("disk")
        let base = directory.file("base.qcow2"), overlay = directory.file("overlay.qcow2")
        try DiskImage.create(path: base, size: DiskSize(parsing: "64M"), format: .qcow2)
        let made = try run("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, overlay])
        #expect(made.status == 0, "\(made.stderr)")
        let info = try DiskImage.info(path: overlay)
        #expect(info.format == "qcow2" && info.virtualSize == 64 << 20 && info.backingFile == base && !info.formatAssumed)
    }

    @Test func infoWithoutQemuImgAssumesRaw() throws {
        let directory = try TestDirectory("disk")
        let path = directory.file("a.img")
        try DiskImage.create(path: path, size: DiskSize(parsing: "3M"))
        let info = try DiskImage.statInfo(path: path, format: "raw", assumed: true)
        #expect(info.formatAssumed && info.virtualSize == 3 << 20 && info.actualSize == 0)
    }

    @Test func infoErrors() throws {
        let directory = try TestDirectory("disk")
        let missing = directory.file("missing.img")
        let error = #expect(throws: QEMUError.self) { try DiskImage.info(path: missing) }
        #expect(error?.description == "disk image '\(missing)' does not exist")
        #expect(throws: QEMUError.notARegularFile(path: directory.path)) { try DiskImage.info(path: directory.path) }
        // A qcow2 header claiming 2^99-byte clusters: qemu-img refuses it.
        let garbage = directory.file("garbage.qcow2")
        try DiskImage.create(path: garbage, size: DiskSize(parsing: "1M"), format: .qcow2)
        let handle = try #require(FileHandle(forWritingAtPath: garbage))
        try handle.seek(toOffset: 20)
        try handle.write(contentsOf: Data([0, 0, 0, 99]))
        try handle.close()
        let failed = #expect(throws: QEMUError.self) { try DiskImage.info(path: garbage) }
        guard case let .toolFailed(program, _, status, message)? = failed else {
            Issue.record("expected toolFailed, got \(String(describing: failed))")
            return
        }
        #expect(program == "qemu-img" && status != 0 && !message.contains("\n"))
        #expect(message.contains("Unsupported cluster size"), "\(message)")
    }

    @Test func missingDirectoryIsOneClearLine() throws {
        let error = #expect(throws: QEMUError.self) {
            try DiskImage.create(path: "/nonexistent-qnet-dir/a.img", size: DiskSize(parsing: "1M"))
        }
        #expect(error?.description == "creating '/nonexistent-qnet-dir/a.img' failed: No such file or directory (does the directory exist?)")
    }

    @Test func sizeBeyondTheFilesystemIsOneLineAndLeavesNothing() throws {
        let directory = try TestDirectory("disk")
        let path = directory.file("huge.img")
        // ext4's largest file is 16 TiB (with 4 KiB blocks); tmpfs and xfs allow more.
        let error = #expect(throws: QEMUError.self) { try DiskImage.create(path: path, size: DiskSize(parsing: "8388607T")) }
        #expect(error?.description == "sizing '\(path)' failed: File too large (the size is more than this filesystem allows)")
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func failedQcow2LeavesNothingBehind() throws {
        let directory = try TestDirectory("disk")
        let path = directory.file("x.qcow2")
        // A qemu-img that always fails (a script), standing in for a broken installation.
        let fake = directory.file("qemu-img")
        try "#!/bin/sh\necho 'qemu-img: simulated failure' >&2\nexit 1\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let error = #expect(throws: QEMUError.self) {
            try DiskImage.create(path: path, size: DiskSize(parsing: "1M"), format: .qcow2, imageTool: fake)
        }
        #expect(error?.description.hasSuffix("failed (exit status 1): qemu-img: simulated failure") == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
