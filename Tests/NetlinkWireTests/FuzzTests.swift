import Foundation
import QNetTestSupport
import Testing
import NetlinkWire
import NetlinkTestSupport

extension Fixture {
    /// Every captured datagram, named for failure messages.
    static let all: [(name: String, bytes: [UInt8])] = [
        ("linkAddBridge", linkAddBridge), ("linkAddBridgeAck", linkAddBridgeAck),
        ("setMaster", setMaster), ("setMasterAck", setMasterAck), ("setUp", setUp),
        ("setBridgePort", setBridgePort), ("addAddressV4", addAddressV4), ("addAddressV6", addAddressV6),
        ("addDefaultRoute", addDefaultRoute), ("deleteLink", deleteLink), ("deleteLinkAck", deleteLinkAck),
        ("getLinkBr0", getLinkBr0), ("newLinkBr0Reply", newLinkBr0Reply), ("dumpLinks", dumpLinks),
        ("dumpLinksDone", dumpLinksDone), ("addExistingBridge", addExistingBridge),
        ("addExistingBridgeError", addExistingBridgeError), ("unreachableGatewayRoute", unreachableGatewayRoute),
        ("unreachableGatewayError", unreachableGatewayError), ("gsoOutOfRange", gsoOutOfRange),
        ("gsoOutOfRangeError", gsoOutOfRangeError), ("cappedUnreachableGatewayError", cappedUnreachableGatewayError),
        ("cappedSetUpAck", cappedSetUpAck), ("cappedGsoOutOfRangeError", cappedGsoOutOfRangeError),
        ("getLinkWithVFs", getLinkWithVFs), ("vfSetMAC", vfSetMAC), ("vfSetMACNotSupported", vfSetMACNotSupported),
        ("vfSetVLAN", vfSetVLAN), ("vfSetVLAN8021AD", vfSetVLAN8021AD), ("vfSetVLANOff", vfSetVLANOff),
        ("vfSetTxRate", vfSetTxRate), ("vfSetRate", vfSetRate), ("vfSpoofCheckOn", vfSpoofCheckOn),
        ("vfSpoofCheckOff", vfSpoofCheckOff), ("vfTrustOn", vfTrustOn), ("vfTrustOff", vfTrustOff),
        ("vfStateAuto", vfStateAuto), ("vfStateEnable", vfStateEnable), ("vfStateDisable", vfStateDisable),
        ("vfSetAll", vfSetAll), ("pfWithTwoVFs", pfWithTwoVFs),
    ]
}

@Suite("fuzz-ish: fixtures cut and flipped decode without crashing")
struct FuzzTests {
    @Test("every fixture decodes cleanly as captured")
    func fixturesDecode() throws {
        for (name, bytes) in Fixture.all {
            let messages = try NetlinkMessage.parseAll(bytes)
            #expect(messages.count == 1, "\(name)")
            #expect(decodeEveryWay(bytes) == nil, "\(name)")
        }
    }

    @Test("every truncation of every fixture throws WireError")
    func truncations() {
        var failures: [String] = []
        for (name, bytes) in Fixture.all {
            for length in 1..<bytes.count {
                let prefix = Array(bytes.prefix(length))
                do {
                    _ = try NetlinkMessage.parseAll(prefix)
                    failures.append("\(name) cut to \(length) bytes decoded")
                } catch is WireError {
                } catch {
                    failures.append("\(name) cut to \(length): \(error)")
                }
                if let failure = decodeEveryWay(prefix) { failures.append("\(name) cut to \(length): \(failure)") }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
    }

    @Test("every payload truncation decodes or throws WireError")
    func payloadTruncations() throws {
        var failures: [String] = []
        for (name, bytes) in Fixture.all {
            let message = try singleMessage(bytes)
            for length in 0..<message.payload.count {
                // Re-frame the shortened payload so the frame itself stays valid.
                let datagram = NetlinkMessage(header: message.header, payload: Array(message.payload.prefix(length))).encoded()
                if let failure = decodeEveryWay(datagram) { failures.append("\(name) payload cut to \(length): \(failure)") }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
    }

    @Test("every single-byte overwrite of every fixture")
    func singleByteOverwrites() {
        var failures: [String] = []
        for (name, bytes) in Fixture.all {
            for index in bytes.indices {
                for value in Set([0x00, 0xff, bytes[index] ^ 0x01, bytes[index] ^ 0x80, bytes[index] &+ 4]) {
                    var mutated = bytes
                    mutated[index] = value
                    if let failure = decodeEveryWay(mutated) { failures.append("\(name)[\(index)] = \(value): \(failure)") }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
    }

    @Test("random multi-byte flips, splices and concatenations (seeded)")
    func randomFlips() {
        var random = SplitMix64(seed: 0x716e_6574)  // "qnet"
        var failures: [String] = []
        for iteration in 0..<5_000 {
            var (name, bytes) = Fixture.all[Int.random(in: 0..<Fixture.all.count, using: &random)]
            switch iteration % 4 {
            case 0, 1:
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            case 2:
                // Two fixtures back to back, with a flipped byte near the seam.
                let other = Fixture.all[Int.random(in: 0..<Fixture.all.count, using: &random)]
                name += "+" + other.name
                let seam = bytes.count
                bytes += other.bytes
                bytes[max(0, seam - 4 + Int.random(in: 0..<8, using: &random))] ^= UInt8.random(in: 1...255, using: &random)
            default:
                // A random slice of a fixture.
                let start = Int.random(in: 0..<bytes.count, using: &random)
                let end = Int.random(in: start...bytes.count, using: &random)
                bytes = Array(bytes[start..<end])
            }
            if let failure = decodeEveryWay(bytes) { failures.append("#\(iteration) \(name): \(failure)") }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
    }
}

/// The FuzzNetlink target's seed corpus (Fuzz/Seeds/netlink, one NAME.bin per fixture) holds
/// exactly the captured fixtures, so `make fuzz` starts from every real kernel message qnet
/// knows. QNET_UPDATE_GOLDEN=1 rewrites the folder from the fixtures.
@Suite struct FuzzSeedTests {
    static var seedFolder: String {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // ROOT/Tests/NetlinkWireTests/FuzzTests.swift
        return parts.joined(separator: "/") + "/Fuzz/Seeds/netlink"
    }

    @Test func seedsAreTheFixtures() throws {
        let folder = Self.seedFolder
        if GoldenFile.updating {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (name, bytes) in Fixture.all { try Data(bytes).write(to: URL(fileURLWithPath: "\(folder)/\(name).bin")) }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(files == Fixture.all.map { "\($0.name).bin" }.sorted())
        for (name, bytes) in Fixture.all {
            let seed = FileManager.default.contents(atPath: "\(folder)/\(name).bin").map(Array.init)
            #expect(seed == bytes, "Fuzz/Seeds/netlink/\(name).bin differs from Fixture.\(name) (QNET_UPDATE_GOLDEN=1 rewrites it)")
        }
    }
}
