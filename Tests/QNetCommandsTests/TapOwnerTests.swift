import Foundation
import QNetTestSupport
import Testing

/// Who may attach to a TAP `qnet tap create` made (issue 10, attack (e)): an unprivileged
/// user attaching as QEMU would (`TUNSETIFF` on /dev/net/tun) is refused by the kernel for a
/// default TAP and let in for `--owner any`. The attacker is `ip tuntap del NAME` run as
/// nobody: it attaches with TUNSETIFF (without IFF_TUN_EXCL, unlike `ip tuntap add`), then
/// clears IFF_PERSIST, so an open TAP is even deleted by it. Witnesses: the ioctl's result
/// as strace prints it, and `ip -d -j link` for the owner and the TAP's presence (tier 3).
@Suite(.serialized, Privileged.enabled)
struct TapOwnerTests {
    /// `ip tuntap del NAME mode tap` as nobody (uid/gid 65534, no groups) in the namespace.
    /// Returns strace's TUNSETIFF line and the status.
    func attachAsNobody(_ ns: TestNamespace, _ name: String) throws -> (line: String, status: Int32) {
        let result = try ns.exec("strace", ["-f", "-qq", "-e", "trace=ioctl", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                            "ip", "tuntap", "del", name, "mode", "tap"])
        let line = result.stderr.split(separator: "\n").first { $0.contains("TUNSETIFF") }.map(String.init) ?? ""
        return (line, result.status)
    }

    @Test func defaultTapIsRootsAndRefusesNobody() throws {
        let ns = try TestNamespace("tapown")
        let create = try qnet(["tap", "create", "t0", "--netns", ns.name])
        #expect(create.status == 0, "\(create.stderr)")
        #expect(create.stdout.contains("owner root"), "\(create.stdout)")
        let info = try #require(try ns.link("t0")?["linkinfo"] as? [String: Any])
        let data = try #require(info["info_data"] as? [String: Any])
        #expect("\(data["user"] ?? "none")" == "root", "owner as ip -d reports it: \(data)")

        let attempt = try attachAsNobody(ns, "t0")
        #expect(attempt.status != 0)
        #expect(attempt.line.contains("EPERM"), "TUNSETIFF as nobody: \(attempt.line)")
        #expect(try ns.link("t0") != nil, "the TAP survives")

        let list = try qnet(["tap", "list", "--json", "--netns", ns.name])
        #expect(list.stdout.contains("\"openToAllUsers\" : false") || list.stdout.contains("\"openToAllUsers\":false"), "\(list.stdout)")
    }

    @Test func ownerAnyLetsNobodyAttachAndIsFlagged() throws {
        let ns = try TestNamespace("tapany")
        let create = try qnet(["tap", "create", "t1", "--owner", "any", "--netns", ns.name])
        #expect(create.status == 0, "\(create.stderr)")
        #expect(create.stderr.contains("warning: TAP t1 has no owner"), "\(create.stderr)")

        let attempt = try attachAsNobody(ns, "t1")
        #expect(attempt.status == 0, "nobody attaches to an open TAP: \(attempt.line)")
        #expect(attempt.line.hasSuffix("= 0"), "\(attempt.line)")
        #expect(try ns.link("t1") == nil, "nobody could attach, and so delete the open TAP")

        #expect(try qnet(["tap", "create", "t1", "--owner", "any", "--netns", ns.name]).status == 0)
        let list = try qnet(["tap", "list", "--netns", ns.name])
        #expect(list.stdout.contains("OPEN"), "\(list.stdout)")
        #expect(list.stderr.contains("TAP t1 has neither owner nor group"), "\(list.stderr)")
        let json = try qnet(["tap", "list", "--json", "--netns", ns.name])
        let taps = try #require((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["taps"] as? [[String: Any]])
        #expect(taps.first { $0["name"] as? String == "t1" }?["openToAllUsers"] as? Bool == true, "\(json.stdout)")
    }

    /// Many ownerless TAPs (another tool's `ip tuntap add` without `user`) give one warning
    /// line with their number, not one line each; a few still get one line each.
    @Test func manyOwnerlessTAPsGetOneWarningLine() throws {
        let ns = try TestNamespace("tapmany")
        try ns.ip("link", "add", "br0", "type", "bridge")
        for index in 1...7 {
            try ns.ip("tuntap", "add", "dev", "o\(index)", "mode", "tap")
            try ns.ip("link", "set", "o\(index)", "master", "br0")
        }
        for arguments in [["show", "br0"], ["tap", "list"]] {
            let result = try qnet(arguments + ["--netns", ns.name])
            #expect(result.status == 0, "\(result.stderr)")
            let warnings = result.stderr.split(separator: "\n").filter { $0.hasPrefix("warning:") }
            #expect(warnings.count == 1, "\(arguments): \(result.stderr)")
            #expect(warnings.first?.contains("7 TAPs have neither owner nor group") == true, "\(result.stderr)")
            #expect(warnings.first?.contains("and 2 more") == true, "\(result.stderr)")
        }
        try ns.ip("tuntap", "del", "dev", "o7", "mode", "tap")
        for index in 4...6 { try ns.ip("tuntap", "del", "dev", "o\(index)", "mode", "tap") }
        let few = try qnet(["show", "br0", "--netns", ns.name])
        #expect(few.stderr.split(separator: "\n").filter { $0.contains("has neither owner nor group") }.count == 3, "\(few.stderr)")
    }
}
