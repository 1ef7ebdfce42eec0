import Foundation
import QEMU
import QNetTestSupport
import Testing

/// Finding qemu-kvm / qemu-system-x86_64 / qemu-img and reading their versions.
struct QEMUBinaryTests {
    @Test func findsTheInstalledEmulatorAndImageTool() throws {
        let emulator = try QEMUBinary.systemEmulator()
        #expect(emulator.hasSuffix("/qemu-system-x86_64") || emulator.hasSuffix("/qemu-kvm"))
        #expect(try QEMUBinary.imageTool().hasSuffix("/qemu-img"))
        let version = try QEMUBinary.version(of: emulator)
        // The witness: the version string as the binary prints it.
        let printed = try run(emulator, ["--version"]).stdout
        #expect(printed.contains("version \(version.major).\(version.minor)"))
        #expect(version >= QEMUVersion(major: 7, minor: 2))
        #expect(try QEMUBinary.version(of: QEMUBinary.imageTool()) == version)
    }

    @Test func prefersARealQemuKvmButSkipsKvmForcingWrappers() throws {
        let directory = try TestDirectory("bin")
        let real = try locate("qemu-system-x86_64")
        try FileManager.default.createSymbolicLink(atPath: directory.file("qemu-system-x86_64"), withDestinationPath: real)
        #expect(try QEMUBinary.systemEmulator(searchPath: directory.path) == directory.file("qemu-system-x86_64"))

        // Debian's wrapper script would force -enable-kvm: skipped while the real one exists.
        try "#!/bin/sh\nexec qemu-system-x86_64 -enable-kvm \"$@\"\n".write(toFile: directory.file("qemu-kvm"), atomically: true, encoding: .utf8)
        chmod(directory.file("qemu-kvm"), 0o755)
        #expect(try QEMUBinary.systemEmulator(searchPath: directory.path) == directory.file("qemu-system-x86_64"))

        // A real binary called qemu-kvm (RHEL) wins.
        try FileManager.default.removeItem(atPath: directory.file("qemu-kvm"))
        try FileManager.default.createSymbolicLink(atPath: directory.file("qemu-kvm"), withDestinationPath: real)
        #expect(try QEMUBinary.systemEmulator(searchPath: directory.path) == directory.file("qemu-kvm"))
    }

    @Test func missingQEMUIsOneClearLine() throws {
        let directory = try TestDirectory("bin")
        // Only when /usr/libexec/qemu-kvm is absent (it is outside any search path).
        if !FileManager.default.fileExists(atPath: "/usr/libexec/qemu-kvm") {
            let error = #expect(throws: QEMUError.self) { try QEMUBinary.systemEmulator(searchPath: directory.path) }
            #expect(error?.description == "qemu-kvm or qemu-system-x86_64 not found in PATH; install QEMU (Debian: apt-get install qemu-system-x86)")
        }
        #expect(throws: QEMUError.self) { try QEMUBinary.imageTool(searchPath: directory.path) }
        // Not executable: not found.
        try "x".write(toFile: directory.file("qemu-img"), atomically: true, encoding: .utf8)
        #expect(throws: QEMUError.self) { try QEMUBinary.imageTool(searchPath: directory.path) }
    }

    @Test(arguments: [
        ("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright", QEMUVersion(major: 7, minor: 2, micro: 22)),
        ("qemu-img version 8.1.0\n", QEMUVersion(major: 8, minor: 1, micro: 0)),
        ("QEMU emulator version 9.0 (custom)", QEMUVersion(major: 9, minor: 0, micro: 0)),
    ])
    func versionParsing(text: String, expected: QEMUVersion) {
        #expect(QEMUVersion(versionOutput: text) == expected)
    }

    @Test(arguments: ["", "QEMU emulator", "version x.y", "version 7", "version 7.2.", "version 7.2.3.4"])
    func unreadableVersions(text: String) {
        #expect(QEMUVersion(versionOutput: text) == nil)
    }

    @Test func versionsCompare() {
        #expect(QEMUVersion(major: 7, minor: 2, micro: 22) < QEMUVersion(major: 7, minor: 10))
        #expect(QEMUVersion(major: 8, minor: 0) > QEMUVersion(major: 7, minor: 2, micro: 99))
        #expect(QEMUVersion(major: 7, minor: 2, micro: 22).description == "7.2.22")
    }
}
