import Foundation
import Netlink
import QNetSystem
import QNetTestSupport
import QNetTypes
import Testing
@testable import VirtualMachines

/// qnet's FRR folder under a temporary state directory, attacked: its own files (the
/// configuration files and the daemons' logs, root's) are never written through a planted
/// symlink, and at a stop only what FRR makes in its `run` subfolder (the `frr` user's) is
/// removed; anything planted there stays, named in one warning, its target untouched.
@Suite(.serialized, Privileged.enabled)
struct FRRStateTreeTests {
    typealias Target = NetworkStateTreeTests.Target

    /// An FRR folder of this test process's state directory, reachable by `frr` (the
    /// /run/qnet-frr fallback when the temporary state directory is private), made by qnet.
    static func folder(_ label: String) throws -> (FRRPaths, DirectoryDescriptor) {
        _ = VMTestState.directory
        let runtime = "\(QNetPaths.runtime)/namespaces/\(label)-\(getpid())"
        let paths = FRRPaths(directory: DaemonDirectory.reachable(runtime: runtime, leaf: "frr", fallback: "/run/qnet-frr"))
        let folder = try #require(try DirectoryDescriptor.openState(paths.directory))
        return (paths, folder)
    }

    /// `rm -rf` of the folder and of the namespace folder made for it (not a target).
    static func removeAll(_ paths: FRRPaths) {
        try? FileManager.default.removeItem(atPath: paths.directory)
        let parent = (paths.directory as NSString).deletingLastPathComponent
        if parent.hasPrefix("\(QNetPaths.runtime)/namespaces/") { try? FileManager.default.removeItem(atPath: parent) }
    }

    /// Processes whose command line names `text` (witness: /proc).
    static func processes(naming text: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            Int(pid) != nil && FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
                .map { String(decoding: $0, as: UTF8.self).contains(text) } == true
        }
    }

    static func start(_ services: NetworkServices, _ paths: FRRPaths, record: inout NetworkFRRRecord) throws {
        try services.startFRR(network: "frrtree", namespace: "test", settings: EVPNSettings(asn: 65010, bgpPeers: ["192.0.2.2"]),
                              local: IPAddress("192.0.2.1")!, paths: paths) { record.processes.append($0) }
    }

    /// zebra.conf, bgpd.conf, zebra.log and the `run` subfolder each planted as a symlink:
    /// the start fails naming it before a daemon runs, and nothing is written through it.
    @Test func symlinksAtFRRsFilesAreRefusedBeforeADaemonStarts() throws {
        let ns = try TestNamespace("frrplant")
        defer { ns.remove() }
        let (paths, _) = try Self.folder("frrplant")
        defer { Self.removeAll(paths) }
        let services = NetworkServices(namespace: NetworkNamespace(name: ns.name), store: NetworkStore())

        for file in ["zebra.conf", "bgpd.conf", "zebra.log"] {
            let target = try Target("frr-\(file)")
            defer { target.remove() }
            let link = "\(paths.directory)/\(file)"
            #expect(symlink(target.path, link) == 0)
            var record = NetworkFRRRecord(directory: paths.directory, processes: [])
            let error = try #require(throws: SystemError.self) { try Self.start(services, paths, record: &record) }
            #expect(error.description.contains(link) && error.description.contains("symbolic link")
                    && error.description.contains("refused and left alone"), "\(error)")
            #expect(record.processes.isEmpty)
            #expect(NetworkStateTreeTests.isLink(link, to: target.path))
            target.expectUntouched()
            unlink(link)
        }

        // FRR's own subfolder swapped for a symlink to a directory: nothing is made in it.
        let elsewhere = "\(FileManager.default.temporaryDirectory.path)/qnet-frrrun-\(getpid())"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        try? FileManager.default.removeItem(atPath: paths.vtyDirectory)
        #expect(symlink(elsewhere, paths.vtyDirectory) == 0)
        var record = NetworkFRRRecord(directory: paths.directory, processes: [])
        let error = try #require(throws: SystemError.self) { try Self.start(services, paths, record: &record) }
        #expect(error.description.contains(paths.vtyDirectory) && error.description.contains("symbolic link"), "\(error)")
        #expect(NetworkStateTreeTests.isLink(paths.vtyDirectory, to: elsewhere))
        var info = stat()
        #expect(stat(elsewhere, &info) == 0 && info.st_uid == 0, "chowned through the link")
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
        #expect(Self.processes(naming: paths.directory).isEmpty, "a daemon ran with the planted folder")
    }

    /// A real start: the folder and FRR's files are root's, `run` is frr's; the stop removes
    /// everything. Started again, and `frr` (as a compromised daemon would) plants symlinks
    /// and a folder in `run`: the stop removes FRR's and qnet's files, leaves the planted
    /// entries (one warning naming them) and their targets untouched.
    @Test func theStopRemovesOnlyWhatFRRMakesInItsFolder() throws {
        let ns = try TestNamespace("frrstop")
        defer { ns.remove() }
        let (paths, _) = try Self.folder("frrstop")
        defer { Self.removeAll(paths) }
        let frr = try #require(UserIdentity.lookup("frr"), "FRR's user is missing (apt-get install frr)")
        let services = NetworkServices(namespace: NetworkNamespace(name: ns.name), store: NetworkStore())

        var record = NetworkFRRRecord(directory: paths.directory, processes: [])
        defer { _ = NetworkStateTreeTests.collectingNotices { NetworkManager.stopFRR(record) } }
        try Self.start(services, paths, record: &record)
        #expect(record.processes.count == 2)
        // Witness: stat of the paths.
        var info = stat()
        #expect(lstat(paths.directory, &info) == 0 && info.st_uid == 0 && info.st_mode & 0o7777 == 0o755)
        #expect(lstat(paths.vtyDirectory, &info) == 0 && info.st_uid == frr.uid && info.st_mode & 0o7777 == 0o750)
        for file in ["zebra.conf", "bgpd.conf", "zebra.log", "bgpd.log"] {
            #expect(lstat("\(paths.directory)/\(file)", &info) == 0 && info.st_uid == 0 && info.st_mode & 0o7777 == 0o644, "\(file)")
        }
        #expect(lstat(paths.vtySocket(.bgpd), &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK && info.st_uid == frr.uid)
        #expect(try run("vtysh", ["--vty_socket", paths.vtyDirectory, "-c", "show running-config"]).stdout.contains("router bgp 65010"))

        let clean = NetworkStateTreeTests.collectingNotices { #expect(NetworkManager.stopFRR(record)) }
        #expect(clean.isEmpty, "\(clean)")
        #expect(!FileManager.default.fileExists(atPath: paths.directory), "the folder stayed")
        #expect(Self.processes(naming: paths.directory).isEmpty)

        record = NetworkFRRRecord(directory: paths.directory, processes: [])
        try Self.start(services, paths, record: &record)
        let file = try Target("frr-planted")
        defer { file.remove() }
        let directory = "\(FileManager.default.temporaryDirectory.path)/qnet-frrdir-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data("keep\n".utf8).write(to: URL(fileURLWithPath: "\(directory)/keep"))
        let plant = { (arguments: [String]) throws in
            #expect(try run("setpriv", ["--reuid", "\(frr.uid)", "--regid", "\(frr.gid)", "--clear-groups"] + arguments).status == 0, "\(arguments)")
        }
        try plant(["ln", "-s", file.path, "\(paths.vtyDirectory)/link"])
        try plant(["ln", "-s", directory, "\(paths.vtyDirectory)/zserv.old"])
        try plant(["mkdir", "\(paths.vtyDirectory)/sub"])

        let notices = NetworkStateTreeTests.collectingNotices { #expect(NetworkManager.stopFRR(record)) }
        #expect(notices.count == 1, "\(notices)")
        let line = notices.first ?? ""
        for planted in ["link", "zserv.old", "sub"] { #expect(line.contains("\(paths.vtyDirectory)/\(planted)"), "\(line)") }
        file.expectUntouched()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["keep"])
        #expect(NetworkStateTreeTests.isLink("\(paths.vtyDirectory)/link", to: file.path))
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: paths.vtyDirectory)) == ["link", "zserv.old", "sub"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: paths.directory) == ["run"], "qnet's own files stayed")
        #expect(Self.processes(naming: paths.directory).isEmpty)

        // The next start refuses the planted entries, names them and leaves them.
        var again = NetworkFRRRecord(directory: paths.directory, processes: [])
        let error = try #require(throws: SystemError.self) { try Self.start(services, paths, record: &again) }
        #expect(error.description.contains("\(paths.vtyDirectory)/link") && error.description.contains("left alone"), "\(error)")
        #expect(again.processes.isEmpty)
        file.expectUntouched()
    }
}
