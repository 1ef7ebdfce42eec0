import Foundation
@testable import QNetCommands
import HostNetwork
import QNetTestSupport
import QNetTypes
import Netlink
import VirtualMachines
import Testing

/// `qnet pci vf PF INDEX ...`: parsing and bad input (one line, exit 2, nothing begun).
struct CLIPCIVFInputTests {
    @Test func settingsParseIntoOneChange() throws {
        let command = try #require(try QNet.parseAsRoot([
            "pci", "vf", "eth0", "3", "--mac", "52:54:00:12:34:56", "--vlan", "10", "--qos", "3", "--proto", "802.1ad",
            "--spoofchk", "off", "--trust", "on", "--rate", "100-500", "--link-state", "disable",
        ]) as? PCIVF)
        #expect(command.physicalFunction == "eth0" && command.index == 3)
        let change = command.change
        #expect(change.macAddress == "52:54:00:12:34:56")
        #expect(change.vlan?.id == 10 && change.vlan?.qos == 3 && change.vlan?.proto.rawValue == "802.1ad")
        #expect(change.spoofCheck == false && change.trust == true)
        #expect(change.rate?.minimum == 100 && change.rate?.maximum == 500)
        #expect(change.linkState == "disable")
        let plain = try #require(try QNet.parseAsRoot(["pci", "vf", "0000:01:00.0", "0", "--vlan", "5"]) as? PCIVF)
        #expect(plain.change.vlan?.proto.rawValue == "802.1Q" && plain.change.vlan?.qos == 0)
    }

    @Test(arguments: [
        (["--mac", "52:54:00:12:34"], "invalid MAC address '52:54:00:12:34'"),
        (["--mac", "01:00:5e:00:00:01"], "it is multicast"),
        (["--vlan", "4096"], "invalid VLAN id '4096': out of range; use 0 to 4095"),
        (["--vlan", "-1"], "invalid VLAN id '-1'"),
        (["--vlan", "10", "--qos", "8"], "invalid VLAN qos '8': out of range; use 0 to 7"),
        (["--qos", "3"], "--qos and --proto need --vlan ID"),
        (["--vlan", "10", "--proto", "802.1x"], "invalid VLAN protocol '802.1x': use 802.1Q or 802.1ad"),
        (["--rate", "100"], "invalid rate '100': use MIN-MAX in Mbit/s"),
        (["--rate", "a-b"], "invalid rate 'a-b'"),
        (["--rate", "500-100"], "MIN must not exceed MAX"),
        (["--rate", "1-99999999999"], "invalid rate '1-99999999999'"),
        (["--link-state", "up"], "invalid link state 'up': use auto, enable or disable"),
        (["--spoofchk", "maybe"], "'maybe' is invalid for '--spoofchk"),
        (["--trust", "sometimes"], "'sometimes' is invalid for '--trust"),
    ])
    func badInputIsOneLineAndExitStatusTwo(options: [String], message: String) throws {
        // An interface no host has: input that parsed by mistake fails on the look-up, never touching a real NIC.
        try expectUsageError(["pci", "vf", "qnetnovf0", "1"] + options, message)
    }

    @Test func badPFAndIndexAreUsageErrors() throws {
        try expectUsageError(["pci", "vf", "qnetnovf0", "x", "--trust", "on"], "invalid VF index 'x'")
        try expectUsageError(["pci", "vf", "qnetnovf0", "2147483647", "--trust", "on"], "invalid VF index '2147483647': out of range")
        try expectUsageError(["pci", "vf", "bad/name", "0", "--trust", "on"], "invalid PF 'bad/name'")
    }

    func expectUsageError(_ arguments: [String], _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let state = NSTemporaryDirectory() + "qnet-pcivf-cli-\(getpid())-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let result = try qnet(arguments + ["--state-dir", state])
        #expect(result.status == 2, "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(message), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: state + "/run/journal"), sourceLocation: sourceLocation)
    }
}

/// `qnet pci vf` against a real kernel: a veth has no SR-IOV (no ndo_set_vf_*), so the kernel
/// answers EOPNOTSUPP; qnet says so in one line, naming the device and the VF, and nothing changes
/// (witness: `ip -j -d link show`). No device here implements the VF settings, so setting them
/// for real is covered only by the simulated PF of HostNetworkTests.
@Suite(.serialized, Privileged.enabled)
struct CLIPCIVFKernelTests {
    @Test func aDeviceWithoutSRIOVGetsTheClearErrorAndNothingChanges() throws {
        let ns = try TestNamespace("vf")
        defer { ns.remove() }
        try ns.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
        let state = NSTemporaryDirectory() + "qnet-pcivf-\(getpid())-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let before = try ns.ip("-j", "-d", "link", "show")
        let common = ["--netns", ns.name, "--state-dir", state]

        let all = try qnet(["pci", "vf", "v0", "1", "--mac", "52:54:00:12:34:56", "--vlan", "10", "--qos", "3", "--proto", "802.1ad",
                            "--spoofchk", "off", "--trust", "on", "--rate", "100-500", "--link-state", "enable"] + common)
        #expect(all.status == 1, "\(all.stderr)")
        #expect(all.stderr.split(separator: "\n").count == 1, "\(all.stderr)")
        #expect(all.stderr.contains("cannot set VF 1 of 'v0' (ip link set v0 vf 1 mac 52:54:00:12:34:56 vlan 10 qos 3 proto 802.1ad"), "\(all.stderr)")
        #expect(all.stderr.contains("the device's driver does not support this VF setting"), "\(all.stderr)")

        for option in [["--spoofchk", "on"], ["--trust", "off"], ["--link-state", "auto"], ["--rate", "0-0"], ["--vlan", "0"]] {
            let one = try qnet(["pci", "vf", "v0", "0"] + option + common)
            #expect(one.status == 1 && one.stderr.contains("cannot set VF 0 of 'v0'"), "\(option): \(one.stderr)")
        }
        let show = try qnet(["pci", "vf", "v0", "0"] + common)
        #expect(show.status == 1 && show.stderr.contains("'v0' reports no VFs"), "\(show.stderr)")
        let missing = try qnet(["pci", "vf", "nope0", "0", "--trust", "on"] + common)
        #expect(missing.status == 1 && missing.stderr.contains("no interface named 'nope0'"), "\(missing.stderr)")

        #expect(try ns.ip("-j", "-d", "link", "show") == before)
        let journals = (try? FileManager.default.contentsOfDirectory(atPath: state + "/run/journal")) ?? []
        #expect(journals.isEmpty, "\(journals)")
    }

    @Test func vmRunsVFControlAsksTheKernel() throws {
        let ns = try TestNamespace("vfvm")
        defer { ns.remove() }
        try ns.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
        let before = try ns.ip("-j", "-d", "link", "show")
        let control = VirtualFunctionControl.rtnetlink(try HostNetwork(namespace: NetworkNamespace(name: ns.name)))
        #expect { _ = try control.read("v0", 1) } throws: { "\($0)".contains("v0 reports 0 VF(s)") }
        #expect { try control.set("v0", 1, MACAddress("52:54:00:12:34:56")!, 42) } throws: {
            "\($0)".hasPrefix("cannot set VF 1 of 'v0' (ip link set v0 vf 1 mac 52:54:00:12:34:56 vlan 42)")
        }
        #expect(try ns.ip("-j", "-d", "link", "show") == before)
    }

    @Test func aPCIAddressResolvesToItsInterfaceThroughSysfs() throws {
        let ns = try TestNamespace("vfpci")
        defer { ns.remove() }
        try ns.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
        // A fixture sysfs whose function 0000:01:00.0 has the interface v0 (net/v0).
        let root = NSTemporaryDirectory() + "qnet-pcivf-tree-\(getpid())-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let function = root + "/sys/bus/pci/devices/0000:01:00.0"
        try FileManager.default.createDirectory(atPath: function + "/net/v0", withIntermediateDirectories: true)
        for (name, value) in [("class", "0x020000"), ("vendor", "0x8086"), ("device", "0x10fb")] {
            try (value + "\n").write(toFile: function + "/" + name, atomically: false, encoding: .utf8)
        }
        let before = try ns.ip("-j", "-d", "link", "show")
        let result = try qnet(["pci", "vf", "0000:01:00.0", "2", "--trust", "on", "--netns", ns.name], environment: ["QNET_SYSFS_ROOT": root])
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot set VF 2 of 'v0' (ip link set v0 vf 2 trust on)"), "\(result.stderr)")
        let none = try qnet(["pci", "vf", "0000:02:00.0", "2", "--trust", "on", "--netns", ns.name], environment: ["QNET_SYSFS_ROOT": root])
        #expect(none.status == 1 && none.stderr.contains("0000:02:00.0"), "\(none.stderr)")
        #expect(try ns.ip("-j", "-d", "link", "show") == before)
    }
}

/// How `show PF` and `pci list` print VF settings (no PF with VFs exists here: built values).
struct PCIVFReportTests {
    static let list = VirtualFunctionList(count: 2, functions: [
        VFSettings(index: 0, macAddress: MACAddress("52:54:00:12:34:56"), vlan: VFVLAN(id: 10, qos: 3), rate: VFRate(minimum: 0, maximum: 0),
                   spoofCheck: true, linkState: .auto, trust: false),
        VFSettings(index: 1, macAddress: MACAddress("00:00:00:00:00:00"), vlan: VFVLAN(id: 100, proto: .ieee8021AD),
                   rate: VFRate(minimum: 100, maximum: 1000), spoofCheck: false, linkState: .disable, trust: true, rssQuery: false),
    ])

    @Test func textIsIPLinkShowsVFLines() {
        #expect(InterfaceVFReport.text(name: "enp3s0f0", list: Self.list) == """
            enp3s0f0: 2 VFs
                vf 0 link/ether 52:54:00:12:34:56, vlan 10, qos 3, spoof checking on, link-state auto, trust off
                vf 1 link/ether 00:00:00:00:00:00, vlan 100, vlan protocol 802.1ad, max_tx_rate 1000Mbps, min_tx_rate 100Mbps, spoof checking off, link-state disable, trust on, query_rss off

            """)
    }

    @Test func jsonHasEverySettingOfEveryVF() throws {
        let text = try Output.json(ShowReport(bridges: [], interface: InterfaceVFReport(name: "enp3s0f0", list: Self.list)))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let interface = try #require(json["interface"] as? [String: Any])
        #expect(interface["vfCount"] as? Int == 2)
        let vfs = try #require(interface["vfs"] as? [[String: Any]])
        #expect(Set(vfs[0].keys) == ["index", "mac", "vlan", "qos", "vlanProtocol", "minTxRate", "maxTxRate", "spoofCheck", "linkState", "trust", "queryRSS"])
        #expect(vfs[1]["vlanProtocol"] as? String == "802.1ad" && vfs[1]["minTxRate"] as? Int == 100 && vfs[1]["linkState"] as? String == "disable")
        #expect(vfs[0]["queryRSS"] is NSNull)
        // A bridge's show JSON is unchanged: no "interface" key.
        let bridges = try #require(try JSONSerialization.jsonObject(with: Data(try Output.json(ShowReport(bridges: [])).utf8)) as? [String: Any])
        #expect(bridges["interface"] == nil)
    }
}
