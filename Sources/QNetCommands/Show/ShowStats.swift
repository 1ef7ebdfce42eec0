import HostNetwork
import Topology

/// `qnet show --stats [BRIDGE] [--json]`: per-port IFLA_STATS64 counters and per-bridge totals
/// (`ip -s link show master BRIDGE` for each bridge).
enum ShowStats {
    static func run(host: HostNetwork, bridge: String?, json: Bool) throws {
        let bridges = try host.bridgeTraffic(bridge: bridge)
        if json {
            print(try Output.json(VersionedReport(report: StatsReport(bridges: bridges))))
        } else {
            print(table(bridges), terminator: "")
        }
    }

    struct StatsReport: Encodable { var bridges: [BridgeTraffic] }

    static func table(_ bridges: [BridgeTraffic]) -> String {
        let header = ["bridge", "port", "vm", "rx packets", "rx bytes", "rx errors", "rx dropped",
                      "tx packets", "tx bytes", "tx errors", "tx dropped"]
        func cells(_ c: LinkCounters) -> [String] {
            [c.rx.packets, c.rx.bytes, c.rx.errors, c.rx.dropped, c.tx.packets, c.tx.bytes, c.tx.errors, c.tx.dropped].map(String.init)
        }
        var rows: [[String]] = []
        for bridge in bridges {
            rows.append([bridge.name, "(self)", "-"] + cells(bridge.own))
            for port in bridge.ports {
                let vm = port.vm.map { vm in port.nic.map { "\(vm)/\($0)" } ?? vm } ?? "-"
                rows.append(["", port.name, vm] + cells(port.counters))
            }
            rows.append(["", "(ports total)", ""] + cells(bridge.portTotal))
        }
        return Table.render(header: header, rows: rows)
    }
}
