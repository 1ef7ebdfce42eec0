import QNetSystem

/// Checks of device nodes: the right kind and numbers, and who may open them.
enum DeviceChecks {
    /// A character device expected at `path` with `major:minor`.
    struct Expected {
        var id: String
        var title: String
        var path: String
        var major: UInt32
        var minor: UInt32
    }

    enum Presence {
        case absent
        case wrong(FileFacts)
        case present(FileFacts)
    }

    static func presence(of expected: Expected) -> Presence {
        guard let facts = FileFacts(path: expected.path) else { return .absent }
        guard facts.type == .characterDevice, facts.major == expected.major, facts.minor == expected.minor else { return .wrong(facts) }
        return .present(facts)
    }

    static func describe(_ facts: FileFacts) -> String {
        switch facts.type {
        case .characterDevice: "character device \(facts.major):\(facts.minor), \(facts.ownershipDescription)"
        case .blockDevice: "block device \(facts.major):\(facts.minor), \(facts.ownershipDescription)"
        case .directory: "a directory"
        case .regular: "a regular file (\(facts.ownershipDescription))"
        default: "not a device (\(facts.ownershipDescription))"
        }
    }

    /// Whether `who` may open the device read-write, as a check result. With `askKernel`
    /// (the invoking user) the kernel answers for this process (faccessat with effective
    /// ids: capabilities, ACLs and LSMs included); otherwise the answer is computed from
    /// the mode, owner, ACL and `who`'s groups. `denied` supplies status and remedy.
    static func access(id: String, title: String, path: String, facts: FileFacts, who: UserIdentity, askKernel: Bool,
                       denied: (_ who: UserIdentity) -> (CheckStatus, String)) -> CheckResult {
        let acl = AccessControlList.read(path: path)
        let allowed = askKernel ? AccessDecision.processCanReadWrite(path) : AccessDecision.canReadWrite(who, facts, acl: acl)
        let aclNote = acl.map { acl in
            acl.entries.contains { $0.tag == .user || $0.tag == .group } ? " plus an ACL (getfacl \(path))" : ""
        } ?? ""
        let identity = "\(who.name) (uid \(who.uid), groups \(who.groups.map { UserIdentity.groupName($0) }.joined(separator: ",")))"
        if allowed {
            return CheckResult(id: id, status: .ok, title: title,
                               found: "\(identity) can open \(path) read-write (\(facts.ownershipDescription)\(aclNote))")
        }
        let (status, remedy) = denied(who)
        return CheckResult(id: id, status: status, title: title,
                           found: "\(identity) cannot open \(path) read-write: \(facts.ownershipDescription)\(aclNote)",
                           remedy: remedy)
    }

    /// The usual fix for a group-restricted device: join its group (when the group may read
    /// and write), else open the mode up.
    static func joinGroupRemedy(path: String, facts: FileFacts, user: UserIdentity, chmodMode: String) -> String {
        if facts.mode & 0o060 == 0o060, facts.group != 0 {
            let group = UserIdentity.groupName(facts.group)
            return "usermod -aG \(group) \(user.name)   # then log in again; \(path) is read-write for group \(group)"
        }
        return "chmod \(chmodMode) \(path)"
    }
}
