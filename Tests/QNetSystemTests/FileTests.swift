import Foundation
import Glibc
import QNetSystem
import SystemPackage
import Testing

@Suite struct FileTests {
    @Test func readsProcfsFilesThatReportSizeZero() throws {
        let text = try FileSystem.readText("/proc/self/stat")
        #expect(text.hasPrefix("\(getpid()) ("))
        #expect(try FileSystem.readBytes("/proc/self/stat", limit: 4).count == 4)
    }

    @Test func readingAMissingFileSaysWhichAndWhy() throws {
        let error = try #require(throws: SystemError.self) { try FileSystem.readBytes("/nonexistent/qnet-file") }
        #expect(error.errno == .noSuchFileOrDirectory)
        #expect(error.description == "open /nonexistent/qnet-file: No such file or directory")
    }

    @Test func writeAtomicallyReplacesTheFileWithExactlyTheMode() throws {
        let directory = try TestDirectory()
        let path = directory.file("state.json")
        try FileSystem.writeAtomically(path, Array("old".utf8))
        try FileSystem.writeAtomically(path, Array("new".utf8), mode: 0o666)
        #expect(directory.contents("state.json") == "new")
        var info = stat()
        #expect(stat(path, &info) == 0)
        // 0666 survives a umask of 022: the mode is set with fchmod, not left to the umask.
        #expect(info.st_mode & 0o7777 == 0o666)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["state.json"])
    }

    @Test func writeAtomicallyRefusesAPlantedSymlinkAsItsTemporaryFile() throws {
        let directory = try TestDirectory()
        try "original".write(toFile: directory.file("victim"), atomically: false, encoding: .utf8)
        let temporary = DirectoryDescriptor.temporaryName(for: "state.json")
        #expect(symlink(directory.file("victim"), directory.file(temporary)) == 0)
        let error = try #require(throws: SystemError.self) {
            try FileSystem.writeAtomically(directory.file("state.json"), Array("attacker-controlled".utf8))
        }
        #expect(error.errno == .fileExists)
        #expect(error.path == directory.file(temporary))
        #expect(directory.contents("victim") == "original")
        #expect(directory.contents("state.json") == nil)
    }

    @Test func aStaleTemporaryFileOfOursIsReplaced() throws {
        let directory = try TestDirectory()
        let temporary = DirectoryDescriptor.temporaryName(for: "state.json")
        try "half-written".write(toFile: directory.file(temporary), atomically: false, encoding: .utf8)
        try FileSystem.writeAtomically(directory.file("state.json"), Array("whole".utf8))
        #expect(directory.contents("state.json") == "whole")
        #expect(directory.contents(temporary) == nil)
    }

    @Test func openatRefusesASymlinkUnlessAskedToFollowIt() throws {
        let directory = try TestDirectory()
        try "secret".write(toFile: directory.file("target"), atomically: false, encoding: .utf8)
        #expect(symlink(directory.file("target"), directory.file("link")) == 0)
        let handle = try DirectoryDescriptor(opening: directory.path)
        let error = try #require(throws: SystemError.self) { try handle.readBytes("link") }
        #expect(error.errno == .tooManySymbolicLinkLevels)
        #expect(error.description.contains("symbolic link; refused"))
        let fd = try handle.openFile("link", flags: O_RDONLY, followSymlinks: true)
        close(fd)
        #expect(String(decoding: try handle.readBytes("target"), as: UTF8.self) == "secret")
        // The directory itself is not opened through a symlink either.
        #expect(symlink(directory.path, directory.file("dirlink")) == 0)
        #expect(throws: SystemError.self) { try DirectoryDescriptor(opening: directory.file("dirlink")) }
        #expect(throws: SystemError.self) { try handle.openDirectory("dirlink") }
    }

    @Test func entriesOwnedByAnotherUserAreRefused() throws {
        let directory = try TestDirectory()
        let handle = try DirectoryDescriptor(opening: directory.path, expectedOwner: geteuid())
        try handle.writeAtomically("mine", Array("x".utf8))
        #expect(try handle.readBytes("mine", expectedOwner: geteuid()) == Array("x".utf8))
        let error = try #require(throws: SystemError.self) { try handle.readBytes("mine", expectedOwner: geteuid() &+ 1) }
        #expect(error.errno == .notPermitted)
        #expect(error.description.contains("owned by uid \(geteuid())"))
        #expect(throws: SystemError.self) { try DirectoryDescriptor(opening: directory.path, expectedOwner: geteuid() &+ 1) }
    }

    @Test func namesMustBeOnePathComponent() throws {
        let directory = try TestDirectory()
        let handle = try DirectoryDescriptor(opening: directory.path)
        for name in ["", ".", "..", "../escape", "a/b"] {
            let error = try #require(throws: SystemError.self) { try handle.readBytes(name) }
            #expect(error.errno == .invalidArgument)
        }
    }

    @Test func makeDirectoryAndRemoveThroughTheDescriptor() throws {
        let directory = try TestDirectory()
        let handle = try DirectoryDescriptor(opening: directory.path)
        try handle.makeDirectory("vms", mode: 0o700)
        try handle.makeDirectory("vms", mode: 0o700)  // existing: accepted
        #expect(try handle.status("vms").map { $0.st_mode & 0o7777 } == 0o700)
        #expect(symlink("/tmp", directory.file("elsewhere")) == 0)
        #expect(throws: SystemError.self) { try handle.makeDirectory("elsewhere") }
        try handle.remove("vms", directory: true)
        try handle.remove("vms", directory: true)  // missing: fine
        #expect(try handle.status("vms") == nil)
    }

    @Test func makeDirectoriesCreatesEachMissingLevelWithTheMode() throws {
        let directory = try TestDirectory()
        try FileSystem.makeDirectories(directory.file("a/b/c"), mode: 0o711)
        for level in ["a", "a/b", "a/b/c"] {
            var info = stat()
            #expect(stat(directory.file(level), &info) == 0 && info.st_mode & 0o7777 == 0o711)
        }
        try FileSystem.makeDirectories(directory.file("a/b/c"))
        try "x".write(toFile: directory.file("file"), atomically: false, encoding: .utf8)
        let error = try #require(throws: SystemError.self) { try FileSystem.makeDirectories(directory.file("file/sub")) }
        #expect(error.errno == .notDirectory)
        #expect(error.path == directory.file("file"))
    }

    @Test func removeTreeRemovesSymlinksNotTheirTargets() throws {
        let outside = try TestDirectory()
        try "keep".write(toFile: outside.file("precious"), atomically: false, encoding: .utf8)
        let directory = try TestDirectory()
        try FileSystem.makeDirectories(directory.file("tree/sub"))
        try FileSystem.writeAtomically(directory.file("tree/sub/file"), Array("x".utf8))
        #expect(symlink(outside.path, directory.file("tree/link")) == 0)
        #expect(FileSystem.list(directory.file("tree")) == ["link", "sub"])
        FileSystem.removeTree(directory.file("tree"))
        #expect(!FileSystem.exists(directory.file("tree")))
        #expect(outside.contents("precious") == "keep")
        #expect(FileSystem.list(directory.file("tree")) == [])
    }

    @Test func openForAppendingAppendsAndIsCloseOnExec() throws {
        let directory = try TestDirectory()
        for line in ["one\n", "two\n"] {
            let fd = try FileSystem.openForAppending(directory.file("log"))
            #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
            #expect(write(fd, line, line.utf8.count) == line.utf8.count)
            close(fd)
        }
        #expect(directory.contents("log") == "one\ntwo\n")
    }

    @Test func formatSecondsForPeople() {
        #expect(formatSeconds(15) == "15")
        #expect(formatSeconds(0.5) == "0.5")
        #expect(formatSeconds(2.25) == "2.25")
        #expect(formatSeconds(0.05) == "0.05")
        #expect(formatSeconds(1.2345) == "1.23")
        #expect(formatSeconds(1.999) == "2")
        #expect(formatSeconds(1.999, maximumDecimals: 6) == "1.999")
        #expect(formatSeconds(-0.5) == "-0.5")
        #expect(formatSeconds(.infinity) == "inf")
    }

    @Test func deadlinesCountDownOnTheMonotonicClock() {
        let deadline = Deadline.after(seconds: 60)
        #expect(!deadline.hasPassed)
        #expect(deadline.remaining > 59 && deadline.remaining <= 60)
        #expect(deadline.pollMilliseconds(cap: 100) == 100)
        #expect(Deadline.after(seconds: -1).hasPassed)
        #expect(Deadline.after(seconds: -1).pollMilliseconds() == 0)
    }
}
