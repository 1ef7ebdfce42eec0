import BridgeACL
import Testing

/// The /etc/qemu/bridge.conf rules with qemu-bridge-helper's meaning (pure, no root).
@Suite struct BridgeACLTests {
    /// Parses `text` as /etc/qemu/bridge.conf with `files` as the other readable files.
    func acl(_ text: String, files: [String: String] = [:]) throws(BridgeACL.Problem) -> BridgeACL {
        try BridgeACL.parse(Array(text.utf8), file: "/etc/qemu/bridge.conf") { path throws(BridgeACL.Problem) in
            guard let content = files[path] else { throw BridgeACL.Problem(file: path, line: 0, reason: "missing") }
            return Array(content.utf8)
        }
    }

    @Test func allowNameAllowsOnlyThatBridge() throws {
        let list = try acl("allow br0\n")
        #expect(list.verdict(for: "br0") == .allowed(by: .init(action: .allow, bridge: "br0", file: "/etc/qemu/bridge.conf", line: 1)))
        #expect(list.verdict(for: "br1") == .notAllowed)
    }

    @Test func emptyFileDeniesEverything() throws {
        #expect(try acl("").verdict(for: "br0") == .notAllowed)
        #expect(try acl("# only a comment\n\n   \n").verdict(for: "br0") == .notAllowed)
    }

    @Test func denyWinsWhateverTheOrder() throws {
        for text in ["allow all\ndeny br1\n", "deny br1\nallow all\n", "allow br1\ndeny br1\n", "deny all\nallow br1\n"] {
            let verdict = try acl(text).verdict(for: "br1")
            #expect(!verdict.isAllowed, "\(text)")
            guard case let .denied(rule) = verdict else { Issue.record("\(text): \(verdict)"); continue }
            #expect(rule.action == .deny)
        }
        // allow all with a deny of another bridge still allows this one.
        #expect(try acl("allow all\ndeny br1\n").verdict(for: "br0").isAllowed)
        #expect(try acl("allow all\ndeny br1\n").verdict(for: "br0") == .allowed(by: .init(action: .allow, bridge: nil, file: "/etc/qemu/bridge.conf", line: 1)))
    }

    @Test func theVerdictNamesTheRule() throws {
        let verdict = try acl("allow br0\n# users may not reach the uplink bridge\ndeny br1\nallow all\n").verdict(for: "br1")
        #expect(verdict.description == "denied by \"deny br1\" (/etc/qemu/bridge.conf line 3)")
        #expect(try acl("allow br0\n").verdict(for: "br9").description == "not allowed: no allow line matches it (default deny)")
    }

    @Test func blanksAroundWordsAndTabsAreAccepted() throws {
        #expect(try acl("  allow\tbr0  \r\n").verdict(for: "br0").isAllowed)
    }

    @Test func includeAddsTheOtherFilesRulesWithTheirOwnFileAndLine() throws {
        let list = try acl("include /etc/qemu/users.conf\nallow br0\n",
                           files: ["/etc/qemu/users.conf": "deny br0\nallow lab0\n"])
        #expect(list.verdict(for: "br0") == .denied(by: .init(action: .deny, bridge: "br0", file: "/etc/qemu/users.conf", line: 1)))
        #expect(list.verdict(for: "lab0").isAllowed)
    }

    @Test func aRelativeIncludeIsTakenFromTheIncludingFilesFolder() throws {
        // qemu-bridge-helper would open it relative to the caller's working directory, which the
        // caller chooses; here it cannot point anywhere the administrator did not write.
        let list = try acl("include more.conf\n", files: ["/etc/qemu/more.conf": "allow lab0\n"])
        #expect(list.verdict(for: "lab0").isAllowed)
    }

    @Test func anIncludeLoopIsAnErrorNotACrash() {
        #expect(throws: BridgeACL.Problem.self) {
            try acl("include /etc/qemu/bridge.conf\n", files: ["/etc/qemu/bridge.conf": "include /etc/qemu/bridge.conf\n"])
        }
    }

    @Test func aMissingIncludeFailsTheWholeFile() {
        #expect(throws: BridgeACL.Problem(file: "/etc/qemu/none.conf", line: 0, reason: "missing")) {
            try acl("allow br0\ninclude /etc/qemu/none.conf\n")
        }
    }

    @Test func badLinesNameFileLineAndWhatIsAllowed() {
        #expect(throws: BridgeACL.Problem(file: "/etc/qemu/bridge.conf", line: 2, reason: "unknown command \"permit\" (use allow, deny or include)")) {
            try acl("allow br0\npermit br1\n")
        }
        #expect(throws: BridgeACL.Problem(file: "/etc/qemu/bridge.conf", line: 1, reason: "\"allow\" has no argument (use allow NAME|all, deny NAME|all or include FILE)")) {
            try acl("allow\n")
        }
        #expect(throws: BridgeACL.Problem.self) { try acl("allow a-name-far-too-long-for-linux\n") }
        #expect(throws: BridgeACL.Problem.self) { try acl("allow ../br0\n") }
    }

    @Test func loadReadsTheNamedFile() throws {
        let list = try BridgeACL.load(file: "/etc/qemu/bridge.conf") { path throws(BridgeACL.Problem) in
            guard path == "/etc/qemu/bridge.conf" else { throw BridgeACL.Problem(file: path, line: 0, reason: "unexpected") }
            return Array("allow br0\n".utf8)
        }
        #expect(list.verdict(for: "br0").isAllowed)
    }
}
