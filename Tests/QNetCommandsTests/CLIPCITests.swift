import Foundation
import PCIDevices
@testable import QNetCommands
import QNetSystem
import QNetTestSupport
import Testing

/// `qnet pci ...`: parsing, bad input (one line, exit 2, nothing done), and list / bind
/// against a fixture sysfs tree (`QNET_SYSFS_ROOT`).
struct CLIPCITests {
    @Test func verbsParseTheirArguments() throws {
        let bind = try #require(try QNet.parseAsRoot(["pci", "bind", "01:00.0", "--group", "--force"]) as? PCIBind)
        #expect(bind.address.description == "0000:01:00.0" && bind.group && bind.force)
        let release = try #require(try QNet.parseAsRoot(["pci", "release", "0000:01:00.1"]) as? PCIRelease)
        #expect(release.address.description == "0000:01:00.1" && !release.group)
        let vfs = try #require(try QNet.parseAsRoot(["pci", "vfs", "0000:02:00.0", "--count", "0"]) as? PCIVFs)
        #expect(vfs.physicalFunction.description == "0000:02:00.0" && vfs.count == 0)
        let list = try #require(try QNet.parseAsRoot(["pci", "list", "--all", "--json"]) as? PCIList)
        #expect(list.all && list.json)
    }

    @Test(arguments: [
        (["pci", "bind", "01:00"], "invalid PCI address '01:00': use DDDD:BB:DD.F or BB:DD.F"),
        (["pci", "bind", "0000:01:20.0"], "invalid PCI address '0000:01:20.0'"),
        (["pci", "release", "eth0"], "invalid PCI address 'eth0'"),
        (["pci", "vfs", "01:00.8", "--count", "2"], "invalid PCI address '01:00.8'"),
        (["pci", "vfs", "01:00.0", "--count", "-1"], "invalid VF count '-1': out of range; use 0 to 65535"),
        (["pci", "vfs", "01:00.0", "--count", "two"], "invalid VF count 'two': not a whole number"),
        (["pci", "vfs", "01:00.0"], "Missing expected argument '--count <n>'"),
        (["pci", "bind"], "Missing expected argument '<address>'"),
    ])
    func badInputIsOneLineAndExitStatusTwo(arguments: [String], message: String) throws {
        let state = NSTemporaryDirectory() + "qnet-pci-cli-\(getpid())-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let result = try qnet(arguments + ["--state-dir", state])
        #expect(result.status == 2, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        // Nothing was begun: no lock taken, no journal written.
        #expect(!FileManager.default.fileExists(atPath: state + "/run/journal"))
    }

    /// A fixture tree: an Ethernet function on e1000e in IOMMU group 3 with a peer, and
    /// one without a group.
    func fixture() throws -> String {
        let root = NSTemporaryDirectory() + "qnet-pci-tree-\(getpid())-\(UUID().uuidString.prefix(6))"
        let devices = root + "/sys/bus/pci/devices"
        let files = FileManager.default
        func function(_ address: String, classCode: String, driver: String?, group: Int?, net: String?) throws {
            let path = devices + "/" + address
            try files.createDirectory(atPath: path, withIntermediateDirectories: true)
            for (name, value) in [("class", classCode), ("vendor", "0x8086"), ("device", "0x10d3"), ("driver_override", "(null)"), ("numa_node", "-1")] {
                try (value + "\n").write(toFile: path + "/" + name, atomically: false, encoding: .utf8)
            }
            if let driver {
                try files.createDirectory(atPath: root + "/sys/bus/pci/drivers/" + driver, withIntermediateDirectories: true)
                try files.createSymbolicLink(atPath: path + "/driver", withDestinationPath: "../../drivers/" + driver)
            }
            if let group {
                let members = root + "/sys/kernel/iommu_groups/\(group)/devices"
                try files.createDirectory(atPath: members, withIntermediateDirectories: true)
                try files.createSymbolicLink(atPath: members + "/" + address, withDestinationPath: "../../../../bus/pci/devices/" + address)
                try files.createSymbolicLink(atPath: path + "/iommu_group", withDestinationPath: "../../../../kernel/iommu_groups/\(group)")
            }
            if let net { try files.createDirectory(atPath: path + "/net/" + net, withIntermediateDirectories: true) }
        }
        try function("0000:01:00.0", classCode: "0x020000", driver: "e1000e", group: 3, net: "qnetfixture0")
        try function("0000:01:00.1", classCode: "0x020000", driver: "e1000e", group: 3, net: nil)
        try function("0000:00:1f.2", classCode: "0x010601", driver: "ahci", group: nil, net: nil)
        try function("0000:05:00.0", classCode: "0x020000", driver: "igb", group: nil, net: nil)
        return root
    }

    @Test func listPrintsTheFixtureAsJSONAndTable() throws {
        let root = try fixture()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let result = try qnet(["pci", "list", "--json"], environment: ["QNET_SYSFS_ROOT": root])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["schemaVersion"] as? Int == 1)
        #expect(json["iommuGroups"] as? Int == 1)
        let functions = try #require(json["functions"] as? [[String: Any]])
        #expect(functions.map { $0["address"] as? String } == ["0000:01:00.0", "0000:01:00.1", "0000:05:00.0"])
        let first = functions[0]
        // The README's schema: every key present (null when empty), none left out.
        #expect(Set(first.keys) == ["address", "classCode", "className", "vendorDevice", "vendor", "device", "name", "driver",
                                    "driverOverride", "interfaces", "hostUses", "numaNode", "iommuGroup", "groupPeers", "sriov",
                                    "physicalFunction", "vfIndex"])
        #expect(first["vendorDevice"] as? String == "8086:10d3")
        #expect(first["classCode"] as? String == "0x020000")
        #expect(first["driver"] as? String == "e1000e")
        #expect(first["iommuGroup"] as? Int == 3)
        #expect(first["groupPeers"] as? [String] == ["0000:01:00.1"])
        #expect(first["interfaces"] as? [String] == ["qnetfixture0"])
        #expect(first["hostUses"] as? [String] == [])  // no such interface on this host
        #expect(first["sriov"] is NSNull && first["numaNode"] is NSNull && first["driverOverride"] is NSNull)
        #expect(functions[2]["iommuGroup"] is NSNull)

        let all = try qnet(["pci", "list", "--all"], environment: ["QNET_SYSFS_ROOT": root])
        #expect(all.status == 0)
        #expect(all.stdout.contains("0000:00:1f.2") && all.stdout.contains("ahci"))
        #expect(all.stdout.split(separator: "\n").first?.hasPrefix("address") == true)
    }

    @Test func bindOfAFunctionWithoutGroupFailsWithOneLineAndChangesNothing() throws {
        let root = try fixture()
        let state = root + "/state"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let result = try qnet(["pci", "bind", "05:00.0", "--state-dir", state], environment: ["QNET_SYSFS_ROOT": root])
        #expect(result.status == 1)
        #expect(result.stderr == "qnet: error: 0000:05:00.0 has no IOMMU group: the IOMMU is off or absent, and vfio-pci needs it; enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on (Intel) or amd_iommu=on (AMD) (see `qnet doctor --passthrough`)\n")
        #expect(try String(contentsOfFile: root + "/sys/bus/pci/devices/0000:05:00.0/driver_override", encoding: .utf8) == "(null)\n")
        let shared = try qnet(["pci", "bind", "01:00.0", "--state-dir", state], environment: ["QNET_SYSFS_ROOT": root])
        #expect(shared.status == 1)
        #expect(shared.stderr.contains("shares IOMMU group 3 with 0000:01:00.1 [e1000e]"), "\(shared.stderr)")
        let missing = try qnet(["pci", "release", "07:00.0", "--state-dir", state], environment: ["QNET_SYSFS_ROOT": root])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no PCI function 0000:07:00.0"))
        // The command took the pci lock under --state-dir and left no journal there.
        #expect(FileManager.default.fileExists(atPath: state + "/run/locks/pci.lock"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: state + "/run/journal")) ?? []).isEmpty)
    }

    /// A `pci bind` killed after it set driver_override (its journal left behind, its owner
    /// gone): `qnet recover` rolls it back under the pci lock and says so in one line, and a
    /// second run finds nothing.
    @Test func recoverRollsBackAnAbandonedPCIJournal() throws {
        let root = try fixture()
        let state = root + "/state"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let override = root + "/sys/bus/pci/devices/0000:01:00.0/driver_override"
        try "vfio-pci\n".write(toFile: override, atomically: false, encoding: .utf8)
        var entry = JournalEntry(header: JournalHeader(scope: PCIChange.scope.key, command: "qnet pci bind 01:00.0",
                                                       owner: ProcessIdentity(pid: 4242, startTime: 1, executable: nil)))
        entry.records = [try EncodedRecord(PCIDriverRecord(address: PCIAddress("01:00.0")!, driver: "e1000e", driverOverride: nil, memory: nil))]
        entry.steps = ["bind 0000:01:00.0 to vfio-pci"]
        try FileManager.default.createDirectory(atPath: state + "/run/journal", withIntermediateDirectories: true)
        try Data(try entry.encoded()).write(to: URL(fileURLWithPath: state + "/run/journal/" + entry.fileName))

        let recovered = try qnet(["recover", "--state-dir", state], environment: ["QNET_SYSFS_ROOT": root])
        #expect(recovered.status == 0, "\(recovered.stderr)")
        #expect(recovered.stdout == "recovered: rolled back an interrupted `qnet pci bind 01:00.0` (pid 4242): 0000:01:00.0 is on e1000e again\n")
        // A fixture file is no sysfs attribute: the kernel would clear it; here the newline lands first.
        #expect(try String(contentsOfFile: override, encoding: .utf8).hasPrefix("\n"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: state + "/run/journal")) ?? []).isEmpty)
        #expect(try qnet(["recover", "--state-dir", state], environment: ["QNET_SYSFS_ROOT": root]).stdout == "nothing to recover\n")
    }
}
