// Golden tests of the importers (ifcfg, ifupdown interfaces, netplan) and tests of the
// configuration loader. Golden files are in Golden/import-*.txt; regenerate deliberately with
//
//     QNET_UPDATE_GOLDEN=1 swift test --filter ConfigImportTests
//
// and review the diff.

import Foundation
import QNetTestSupport
import QNetTypes
import Testing
@testable import VirtualMachines

enum ImportFixtures {
    /// The seed's classic recipe, verbatim: ifcfg-eth0 joins br0; ifcfg-br0 carries the address.
    static let seedEth0 = """
        DEVICE="eth0"
        ONBOOT="yes"
        BRIDGE="br0"
        """
    static let seedBr0 = """
        DEVICE="br0"
        TYPE="Bridge"
        BOOTPROTO="none"
        IPADDR="192.168.100.10"
        NETMASK="255.255.255.0"
        ONBOOT="yes"
        STP="on"
        DELAY="0"
        """

    /// A fuller RHEL pair: NetworkManager keys, a gateway, DNS, BRIDGING_OPTS, PREFIX, MTU.
    static let rhelEth0 = """
        # Created by anaconda
        TYPE=Ethernet
        NAME=eth0
        DEVICE=eth0
        UUID=4d3e1c2a-0000-4000-8000-000000000001
        HWADDR=52:54:00:aa:bb:cc
        ONBOOT=yes
        NM_CONTROLLED=no
        BRIDGE=br0
        """
    static let rhelBr0 = """
        TYPE=Bridge
        DEVICE=br0
        ONBOOT=yes
        BOOTPROTO=static
        IPADDR=10.1.2.3
        PREFIX=24
        IPADDR1=10.1.3.3
        NETMASK1=255.255.255.0
        GATEWAY=10.1.2.1
        DNS1=10.1.2.53
        MTU=9000
        STP=off
        DELAY=0
        BRIDGING_OPTS="priority=4096 hello_time=3 multicast_snooping=0"
        USERCTL=no
        """
    static let rhelEth1 = """
        DEVICE=eth1
        BOOTPROTO=dhcp
        ONBOOT=yes
        """

    /// A Proxmox VE /etc/network/interfaces (ifupdown2 spelling).
    static let proxmox = """
        auto lo
        iface lo inet loopback

        iface eno1 inet manual

        auto vmbr0
        iface vmbr0 inet static
                address 192.168.1.10/24
                gateway 192.168.1.1
                bridge-ports eno1
                bridge-stp off
                bridge-fd 0
                post-up ip route add 10.50.0.0/16 via 192.168.1.254
                dns-nameservers 192.168.1.1

        iface vmbr1 inet manual
                bridge-ports none
                bridge-stp on
                bridge-fd 0

        source /etc/network/interfaces.d/*
        """

    /// Debian ifupdown (underscore spelling), netmask form.
    static let debian = """
        auto br0
        iface br0 inet static
            address 192.168.100.10
            netmask 255.255.255.0
            gateway 192.168.100.1
            bridge_ports eth0 eth1
            bridge_stp on
            bridge_fd 15
            bridge_maxwait 0
        """

    static let netplan = """
        network:
          version: 2
          renderer: networkd
          ethernets:
            enp3s0:
              dhcp4: no
          bridges:
            br0:
              interfaces: [enp3s0]
              addresses: [192.168.100.10/24]
              routes:
                - to: default
                  via: 192.168.100.1
                - to: 10.60.0.0/16
                  via: 192.168.100.254
                  metric: 50
              nameservers:
                addresses: [192.168.100.1]
              parameters:
                stp: true
                forward-delay: 0
                hello-time: 2
                path-cost: 10
        """
}

@Suite struct ConfigImportTests {
    @Test func seedIfcfgBecomesBr0WithEth0UplinkAndTheNearestValidForwardDelay() throws {
        let result = IfcfgImporter.translate([IfcfgImporter.parse(name: "ifcfg-br0", text: ImportFixtures.seedBr0),
                                              IfcfgImporter.parse(name: "ifcfg-eth0", text: ImportFixtures.seedEth0)])
        #expect(result.bridges.count == 1)
        let bridge = try #require(result.bridges.first)
        #expect(bridge.name == "br0")
        #expect(bridge.uplink == "eth0")
        #expect(bridge.addressing == .list([IPPrefix("192.168.100.10/24")!]))
        #expect(bridge.stp == true)
        #expect(bridge.forwardDelay == 2)
        #expect(result.adjusted.count == 1)
        #expect(result.adjusted.first?.contains("2 to 30 s") == true)
        try GoldenFile.check("import-ifcfg-seed.txt", try result.rendered(), suite: "ConfigImportTests")
    }

    @Test func seedIfcfgFromADirectory() throws {
        let directory = NSTemporaryDirectory() + "qnet-ifcfg-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ImportFixtures.seedEth0.write(toFile: directory + "/ifcfg-eth0", atomically: true, encoding: .utf8)
        try ImportFixtures.seedBr0.write(toFile: directory + "/ifcfg-br0", atomically: true, encoding: .utf8)
        try "DEVICE=lo\n".write(toFile: directory + "/ifcfg-lo", atomically: true, encoding: .utf8)
        let result = IfcfgImporter.translate(try IfcfgImporter.load(directory: directory))
        #expect(result.bridges.map(\.name) == ["br0"])
        #expect(result.bridges.first?.uplink == "eth0")
    }

    @Test func rhelIfcfgReportsEveryKeyItDoesNotTranslate() throws {
        let files = [("ifcfg-br0", ImportFixtures.rhelBr0), ("ifcfg-eth0", ImportFixtures.rhelEth0), ("ifcfg-eth1", ImportFixtures.rhelEth1)]
        let result = IfcfgImporter.translate(files.map { IfcfgImporter.parse(name: $0.0, text: $0.1) })
        let bridge = try #require(result.bridges.first)
        #expect(bridge.addressing == .list([IPPrefix("10.1.2.3/24")!, IPPrefix("10.1.3.3/24")!]))
        #expect(bridge.routes == [RouteConfig(to: nil, via: IPAddress("10.1.2.1"))])
        #expect(bridge.priority == 4096 && bridge.helloTime == 3 && bridge.mtu == 9000 && bridge.stp == false)
        // Every key of every file is either in the configuration or in the report.
        for key in ["NM_CONTROLLED", "UUID", "HWADDR", "NAME", "DNS1", "USERCTL", "multicast_snooping", "eth1"] {
            #expect(result.untranslated.contains { $0.contains(key) }, "\(key) is reported")
        }
        try GoldenFile.check("import-ifcfg-rhel.txt", try result.rendered(), suite: "ConfigImportTests")
    }

    @Test func proxmoxInterfaces() throws {
        let result = InterfacesImporter.translate(text: ImportFixtures.proxmox, file: "interfaces")
        let vmbr0 = try #require(result.bridges.first { $0.name == "vmbr0" })
        #expect(vmbr0.uplink == "eno1")
        #expect(vmbr0.addressing == .list([IPPrefix("192.168.1.10/24")!]))
        #expect(vmbr0.routes.count == 2)
        #expect(vmbr0.stp == false && vmbr0.forwardDelay == 0)
        let vmbr1 = try #require(result.bridges.first { $0.name == "vmbr1" })
        #expect(vmbr1.uplink == nil && vmbr1.forwardDelay == 2)
        #expect(result.untranslated.contains { $0.contains("dns-nameservers") })
        #expect(result.untranslated.contains { $0.contains("source") })
        try GoldenFile.check("import-interfaces-proxmox.txt", try result.rendered(), suite: "ConfigImportTests")
    }

    @Test func debianInterfaces() throws {
        let result = InterfacesImporter.translate(text: ImportFixtures.debian, file: "interfaces")
        let br0 = try #require(result.bridges.first)
        #expect(br0.uplink == "eth0" && br0.forwardDelay == 15 && br0.stp == true)
        #expect(br0.addressing == .list([IPPrefix("192.168.100.10/24")!]))
        #expect(result.untranslated.contains { $0.contains("eth1") })
        try GoldenFile.check("import-interfaces-debian.txt", try result.rendered(), suite: "ConfigImportTests")
    }

    @Test func netplanBridge() throws {
        let result = try NetplanImporter.translate(text: ImportFixtures.netplan, file: "01-netcfg.yaml")
        let br0 = try #require(result.bridges.first)
        #expect(br0.uplink == "enp3s0" && br0.stp == true && br0.forwardDelay == 2 && br0.helloTime == 2)
        #expect(br0.routes.count == 2)
        #expect(result.untranslated.contains { $0.contains("path-cost") })
        #expect(result.untranslated.contains { $0.contains("nameservers") })
        try GoldenFile.check("import-netplan.txt", try result.rendered(), suite: "ConfigImportTests")
    }

    /// The rendered output is what `qnet apply` reads back: each file loads as it was made.
    @Test func importedFilesLoadBack() throws {
        let result = IfcfgImporter.translate([IfcfgImporter.parse(name: "ifcfg-br0", text: ImportFixtures.rhelBr0),
                                              IfcfgImporter.parse(name: "ifcfg-eth0", text: ImportFixtures.rhelEth0)])
        let directory = NSTemporaryDirectory() + "qnet-config-\(getpid())-load"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for file in try result.files() {
            let path = directory + "/" + file.path
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try file.text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let loaded = try HostConfiguration.load(directory: directory)
        #expect(loaded.bridges == result.bridges)
    }
}

@Suite struct ConfigLoaderTests {
    func configuration(_ files: [String: String]) throws -> (String, () -> Void) {
        let directory = NSTemporaryDirectory() + "qnet-config-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        for (path, text) in files {
            let full = directory + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        return (directory, { try? FileManager.default.removeItem(atPath: directory) })
    }

    func refusal(_ files: [String: String]) throws -> String {
        let (directory, remove) = try configuration(files)
        defer { remove() }
        do {
            _ = try HostConfiguration.load(directory: directory)
            return "loaded"
        } catch let error as DefinitionFileError {
            return error.description.replacingOccurrences(of: directory + "/", with: "")
        }
    }

    @Test func everyKindLoads() throws {
        let (directory, remove) = try configuration([
            "bridges/br0.yaml": "stp: true\nforward_delay: 4\nuplink: eth0\naddresses: keep\nroutes:\n  - to: 10.0.0.0/8\n    via: 192.168.1.1\n    table: 100\n",
            "taps/tap0.yaml": "bridge: br0\nowner: qnet\nvnet_hdr: true\nqueues: 2\n",
            "networks/lab.yaml": "name: lab\nmode: nat\nbridge: qn-lab\nsubnet: 10.0.200.0/24\nautostart: true\n",
            "vms/web.yaml": "memory: 256\nnics:\n  - network: lab\nautostart: true\n",
        ])
        defer { remove() }
        let loaded = try HostConfiguration.load(directory: directory)
        #expect(loaded.bridges.first?.addressing == .keepUplink)
        #expect(loaded.bridges.first?.routes.first?.table == 100)
        #expect(loaded.taps.first == TapConfig(name: "tap0", bridge: "br0", owner: "qnet", vnetHeader: true, queues: 2))
        #expect(loaded.networks.first?.autostart == true && loaded.networks.first?.definition.subnet == "10.0.200.0/24")
        #expect(loaded.vms.first?.autostart == true && loaded.vms.first?.definition.name == "web")
    }

    @Test func unknownKeysAreRefusedWithTheirPath() throws {
        #expect(try refusal(["bridges/br0.yaml": "stp: true\nforward_delay: 2\nbridge_fd: 3\n"])
                .hasPrefix("bridges/br0.yaml, line 3: unknown key bridge_fd; allowed: name, stp"))
        #expect(try refusal(["bridges/br0.yaml": "routes:\n  - to: default\n    gw: 1.2.3.4\n"])
                == "bridges/br0.yaml, line 3: unknown key routes[0].gw; allowed: to, via, metric, table")
        #expect(try refusal(["networks/lab.yaml": "name: lab\nmode: nat\nbridge: qn-lab\nautostrat: true\n"])
                .hasPrefix("networks/lab.yaml, line 4: unknown key autostrat"))
        #expect(try refusal(["tapz/x.yaml": "name: x\n"]).contains("unknown key tapz; allowed: bridges, taps, networks, vms"))
    }

    @Test func valuesTheKernelRefusesAreRefused() throws {
        #expect(try refusal(["bridges/br0.yaml": "stp: true\nforward_delay: 0\n"])
                == "bridges/br0.yaml, line 2: forward_delay: invalid forward delay '0': with STP on the kernel needs 2 to 30 seconds")
        #expect(try refusal(["bridges/br0.yaml": "mtu: 40\n"]).contains("invalid MTU '40'"))
        #expect(try refusal(["bridges/br0.yaml": "addresses: keep\n"]).contains("keep needs an uplink"))
        #expect(try refusal(["bridges/br0.yaml": "name: br1\n"]).contains("it must match the file name (br0.yaml)"))
        #expect(try refusal(["networks/lab.yaml": "name: lab\nmode: nat\nbridge: qn-lab\nautostart: maybe\n"]).contains("autostart: 'maybe' is not true or false"))
    }
}
