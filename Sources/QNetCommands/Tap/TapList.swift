import ArgumentParser
import HostNetwork
import QNetTypes

/// `qnet tap list`: `ip tuntap show`.
struct TapList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List TAP devices (ip -d tuntap show).")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print JSON (schema in the README).")
    var json = false

    func run() throws {
        let host = try global.openHost()
        let links = try host.links()
        let names = Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { first, _ in first })
        let taps = links.filter(\.isTAP).map { TapReport(link: $0, names: names) }
        if json {
            print(try Output.json(TapListReport(taps: taps)))
            return
        }
        if taps.isEmpty { print("no TAP devices"); return }
        let header = ["name", "state", "mtu", "mac", "bridge", "owner", "group", "flags"]
        let rows = taps.map { tap -> [String] in
            let flags: [String?] = [tap.persistent ? "persist" : "transient", tap.vnetHeader ? "vnet_hdr" : nil,
                                    tap.multiQueue ? "multi_queue" : nil, tap.openToAllUsers ? "OPEN" : nil]
            return [tap.name, tap.operState, String(tap.mtu), tap.mac ?? "-", tap.bridge ?? "-",
                    tap.owner.map(String.init) ?? "-", tap.group.map(String.init) ?? "-", flags.compactMap { $0 }.joined(separator: ",")]
        }
        print(Table.render(header: header, rows: rows), terminator: "")
        for warning in TapReport.openWarnings(taps.filter(\.openToAllUsers).map(\.name)) { Output.printError(warning) }
    }
}

/// One TAP in `qnet tap list --json` (schema version 1).
struct TapReport: Encodable {
    var name: String
    var index: InterfaceIndex
    var operState: String
    var up: Bool
    var mtu: UInt32
    @NullWhenAbsent var mac: String?
    @NullWhenAbsent var bridge: String?
    @NullWhenAbsent var owner: UInt32?
    @NullWhenAbsent var group: UInt32?
    var persistent: Bool
    var vnetHeader: Bool
    var multiQueue: Bool
    /// Neither owner nor group is set: the kernel lets any local user who can open
    /// /dev/net/tun attach (tun_not_capable), and so read and send frames on its bridge.
    var openToAllUsers: Bool
    /// Queues processes hold open, enabled or not (0: nobody uses the TAP).
    var queues: UInt32

    init(link: Link, names: [InterfaceIndex: String]) {
        name = link.name
        index = link.index
        operState = link.operState.description
        up = link.isUp
        mtu = link.mtu
        mac = link.macAddress?.description
        bridge = link.masterIndex.flatMap { names[$0] }
        owner = link.tun?.owner
        group = link.tun?.group
        persistent = link.tun?.persistent ?? false
        vnetHeader = link.tun?.vnetHeader ?? false
        multiQueue = link.tun?.multiQueue ?? false
        queues = link.openQueues ?? 0
        openToAllUsers = link.tun.map { $0.owner == nil && $0.group == nil } ?? false
    }

    /// The line `tap list` and `show` print for a TAP anyone can attach to.
    static func openWarning(_ name: String) -> String {
        "warning: TAP \(name) has neither owner nor group: any local user can attach to it (recreate it with `qnet tap create \(name)` or --owner USER)"
    }

    /// The warnings for the ownerless TAPs `names`: one line each for a few, else one line
    /// with their number and the first of them, so a bridge of 500 TAPs made by another tool
    /// (`ip tuntap add` without `user`) gets one warning, not 500 above its table.
    static func openWarnings(_ names: [String]) -> [String] {
        let listedOneByOne = 3, named = 5
        guard names.count > listedOneByOne else { return names.map(openWarning) }
        let shown = names.prefix(named).joined(separator: ", ")
        return ["warning: \(names.count) TAPs have neither owner nor group: any local user can attach to them: \(shown), "
            + "and \(names.count - named) more (`qnet tap list --json`: openToAllUsers; recreate each with `qnet tap create NAME` or --owner USER)"]
    }
}

struct TapListReport: Encodable {
    var schemaVersion = 1
    var taps: [TapReport]
}
