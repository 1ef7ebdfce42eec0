import ArgumentParser
import Glibc
import HostNetwork
import QNetTypes
import VirtualMachines

/// `qnet show [BRIDGE]`: `brctl show` plus each port's state, MTU and MAC.
struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show bridges and their ports (brctl show; bridge link).",
        discussion: "The table has brctl show's columns (bridge name, bridge id, STP enabled, interfaces) plus each port's STP state, MTU and MAC. --json prints the schema documented in the README.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Show only this bridge (or, for an SR-IOV physical function, its VFs).", transform: Parse.interfaceName)
    var bridge: String?

    @Flag(help: "Print JSON (schema version 1, documented in the README).")
    var json = false

    /// --stats and --graph (ShowViews.swift).
    @OptionGroup var views: ShowViewOptions

    func run() throws {
        if try views.runIfAsked(global: global, bridge: bridge, json: json) { return }
        try Self.show(host: global.openHost(), bridge: bridge, json: json)
    }

    /// The table (or JSON) of `bridge`, or of every bridge; `FastPath` runs it for the plain forms.
    static func show(host: HostNetwork, bridge: String?, json: Bool) throws {
        // All bridges: one dump answers everything (bridges, their settings, every port's
        // state). One bridge: the bridge, then a dump the kernel filters by master.
        let entries: [BridgeWithPorts]
        do {
            entries = try bridge.map { [try host.bridgeWithPorts(named: $0)] } ?? HostNetwork.bridgesWithPorts(try host.links())
        } catch let error as HostNetworkError {
            // `show PF`: an interface that is not a bridge but reports SR-IOV VFs (IFLA_NUM_VF, asked
            // for with RTEXT_FILTER_VF only here) gets its VF lines, as `ip link show PF` prints them.
            guard case .notABridge = error, let name = bridge, try showVirtualFunctions(host: host, name: name, json: json) else { throw error }
            return
        }
        let reports = entries.map { entry in
            BridgeReport(bridge: entry.bridge, ports: entry.ports, uplink: host.recordedUplink(of: entry.bridge))
        }
        if json {
            print(try Output.json(ShowReport(bridges: reports)))
        } else {
            fflush(nil)  // anything print() buffered goes first
            writeStandardOutput(Self.tableBytes(reports))
            let ownerless = reports.flatMap { $0.ports.filter { $0.openToAllUsers == true }.map(\.name) }
            for warning in TapReport.openWarnings(ownerless) { Output.printError(warning) }
        }
    }

    /// Prints a PF's VFs; false when `name` reports none (not an SR-IOV PF).
    static func showVirtualFunctions(host: HostNetwork, name: String, json: Bool) throws -> Bool {
        let (_, list) = try host.virtualFunctions(of: name)
        guard list.count != nil else { return false }
        if json {
            print(try Output.json(ShowReport(bridges: [], interface: InterfaceVFReport(name: name, list: list))))
        } else {
            print(InterfaceVFReport.text(name: name, list: list), terminator: "")
        }
        return true
    }

    static func table(_ bridges: [BridgeReport]) -> String {
        String(decoding: tableBytes(bridges), as: UTF8.self)
    }

    /// `table` as bytes, for writing to stdout as they are.
    static func tableBytes(_ bridges: [BridgeReport]) -> [UInt8] {
        let header = ["bridge name", "bridge id", "STP enabled", "interfaces", "state", "mtu", "mac", "vm"]
        var rows: [[String]] = []
        for bridge in bridges {
            let first = [bridge.name, bridge.id, bridge.stp ? "yes" : "no"]
            let blank = ["", "", ""]
            if bridge.ports.isEmpty { rows.append(first + ["", "", "", "", ""]) }
            for (offset, port) in bridge.ports.enumerated() {
                rows.append((offset == 0 ? first : blank) + [port.name, port.state, String(port.mtu), port.mac ?? "-", port.vm ?? "-"])
            }
        }
        return Table.renderBytes(header: header, rows: rows)
    }
}

/// `qnet show --json` (schema version 1).
struct ShowReport: Encodable {
    var schemaVersion = 1
    var bridges: [BridgeReport]
    /// `show PF` of an SR-IOV physical function: its VFs (absent otherwise).
    var interface: InterfaceVFReport? = nil
}

struct BridgeReport: Encodable {
    var name: String
    /// brctl's bridge id: priority.MAC in hex.
    var id: String
    var stp: Bool
    var forwardDelay: Double
    var mtu: UInt32
    @NullWhenAbsent var mac: String?
    var operState: String
    var up: Bool
    /// The uplink qnet moved into this bridge, if any.
    @NullWhenAbsent var uplink: String?
    var ports: [PortReport]

    init(bridge: Link, ports: [Link], uplink: String?) {
        name = bridge.name
        id = bridge.bridge?.bridgeID ?? ""
        stp = bridge.bridge?.stpEnabled ?? false
        forwardDelay = bridge.bridge?.forwardDelay ?? 0
        mtu = bridge.mtu
        mac = bridge.macAddress?.description
        operState = bridge.operState.description
        up = bridge.isUp
        self.uplink = uplink
        self.ports = ports.map(PortReport.init)
    }
}

struct PortReport: Encodable {
    var name: String
    /// IFLA_INFO_KIND of the port ("tun" for TAPs, "veth", null for physical NICs).
    @NullWhenAbsent var kind: String?
    /// STP port state: disabled, listening, learning, forwarding, blocking.
    var state: String
    var operState: String
    var mtu: UInt32
    @NullWhenAbsent var mac: String?
    var cost: UInt32
    var priority: UInt16
    var isolated: Bool
    var learning: Bool
    var flood: Bool
    /// The qnet VM whose NIC this TAP is (from the TAP's alias), or null.
    @NullWhenAbsent var vm: String? = nil
    /// For a TAP: whether any local user may attach to it (neither owner nor group set);
    /// null for other ports.
    @NullWhenAbsent var openToAllUsers: Bool?

    init(link: Link) {
        name = link.name
        kind = link.kind?.kernelName
        state = link.port?.state.description ?? "disabled"
        operState = link.operState.description
        mtu = link.mtu
        mac = link.macAddress?.description
        cost = link.port?.cost ?? 0
        priority = link.port?.priority ?? 0
        isolated = link.port?.isolated ?? false
        learning = link.port?.learning ?? true
        flood = link.port?.unicastFlood ?? true
        vm = VMTapAlias(link.alias)?.vm
        openToAllUsers = link.tun.map { $0.owner == nil && $0.group == nil }
    }
}
