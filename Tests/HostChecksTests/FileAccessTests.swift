import Foundation
@testable import HostChecks
import QNetTestSupport
import Testing
import QNetSystem

@Suite struct FileAccessTests {
    let alice = UserIdentity(name: "alice", uid: 1000, gid: 1000, groups: [1000, 24])

    @Test func modeBitsDecideForOwnerGroupAndOthers() {
        let file = FileFacts(type: .characterDevice, mode: 0o600, owner: 0, group: 0, major: 10, minor: 200)
        #expect(!AccessDecision.canReadWrite(alice, file))
        #expect(AccessDecision.canReadWrite(alice, FileFacts(type: .characterDevice, mode: 0o600, owner: 1000, group: 0)))
        #expect(AccessDecision.canReadWrite(alice, FileFacts(type: .characterDevice, mode: 0o660, owner: 0, group: 24)))
        #expect(!AccessDecision.canReadWrite(alice, FileFacts(type: .characterDevice, mode: 0o640, owner: 0, group: 24)))
        #expect(AccessDecision.canReadWrite(alice, FileFacts(type: .characterDevice, mode: 0o666, owner: 0, group: 0)))
        // Owner bits apply to the owner even when "other" would allow more (POSIX).
        #expect(!AccessDecision.canReadWrite(alice, FileFacts(type: .characterDevice, mode: 0o066, owner: 1000, group: 0)))
        // Root may always.
        #expect(AccessDecision.canReadWrite(UserIdentity(name: "root", uid: 0, gid: 0, groups: []), file))
    }

    @Test func aclNamedUserAndGroupEntriesGrantThroughTheMask() throws {
        let file = FileFacts(type: .characterDevice, mode: 0o660, owner: 0, group: 36)
        let userACL = AccessControlList(entries: [
            .init(tag: .userObject, permissions: 6), .init(tag: .user, permissions: 6, id: 1000),
            .init(tag: .groupObject, permissions: 6), .init(tag: .mask, permissions: 6), .init(tag: .other, permissions: 0),
        ])
        #expect(AccessDecision.canReadWrite(alice, file, acl: userACL))
        #expect(!AccessDecision.canReadWrite(alice, file, acl: nil))
        // The mask limits named entries.
        var masked = userACL
        masked.entries[3] = .init(tag: .mask, permissions: 4)
        #expect(!AccessDecision.canReadWrite(alice, file, acl: masked))
        let groupACL = AccessControlList(entries: [
            .init(tag: .userObject, permissions: 6), .init(tag: .groupObject, permissions: 0), .init(tag: .group, permissions: 6, id: 24),
            .init(tag: .mask, permissions: 6), .init(tag: .other, permissions: 0),
        ])
        #expect(AccessDecision.canReadWrite(alice, file, acl: groupACL))
        // The xattr encoding round-trips.
        #expect(AccessControlList(xattr: userACL.xattrBytes) == userACL)
        #expect(AccessControlList(xattr: [1, 0, 0, 0]) == nil)
        #expect(AccessControlList(xattr: [2, 0, 0, 0, 1]) == nil)
    }

    @Test func userLookupByNameAndUIDGivesGroups() throws {
        let user = try nobody()
        #expect(user.uid == 65534)
        #expect(user.groups.contains(user.gid))
        #expect(UserIdentity.lookup("65534")?.name == user.name)
        #expect(UserIdentity.lookup("no-such-user-qnet") == nil)
        let root = try #require(UserIdentity.lookup("root"))
        #expect(root.uid == 0)
    }

    @Test(canMakeDevices) func statReadsDeviceNumbersAndOwnership() throws {
        let fixture = try Fixture()
        try fixture.characterDevice("dev/net/tun", major: 10, minor: 200, mode: 0o600, owner: 0, group: 0)
        try fixture.characterDevice("dev/big", major: 511, minor: 1000, mode: 0o640, owner: 65534, group: 65534)
        let tun = try #require(FileFacts(path: fixture.full("dev/net/tun")))
        #expect(tun.type == .characterDevice && tun.major == 10 && tun.minor == 200 && tun.mode == 0o600)
        #expect(tun.modeString == "crw-------")
        let big = try #require(FileFacts(path: fixture.full("dev/big")))
        #expect(big.major == 511 && big.minor == 1000 && big.owner == 65534 && big.modeString == "crw-r-----")
        #expect(FileFacts(path: fixture.full("dev/none")) == nil)
    }
}
