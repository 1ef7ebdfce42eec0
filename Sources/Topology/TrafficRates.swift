/// Per-port rates between two readings of the counters (`qnet top`).
public struct PortRate: Equatable, Sendable {
    public var bridge: String
    public var port: String
    public var vm: String?
    public var nic: Int?
    public var rxPacketsPerSecond: Double
    public var txPacketsPerSecond: Double
    public var rxBitsPerSecond: Double
    public var txBitsPerSecond: Double
    /// rx + tx drops per second.
    public var dropsPerSecond: Double
    /// rx + tx errors per second.
    public var errorsPerSecond: Double

    public var bitsPerSecond: Double { rxBitsPerSecond + txBitsPerSecond }
    public var packetsPerSecond: Double { rxPacketsPerSecond + txPacketsPerSecond }
}

public enum TrafficRates {
    /// Rates of every port present in both readings, `seconds` apart, busiest first (bits,
    /// then packets, then drops), ties in bridge and port name order. A counter that went
    /// down (the device was re-created, or the counter wrapped) counts as 0 for that interval.
    public static func between(_ before: [BridgeTraffic], _ after: [BridgeTraffic], seconds: Double) -> [PortRate] {
        guard seconds > 0 else { return [] }
        var previous: [String: PortTraffic] = [:]
        for bridge in before { for port in bridge.ports { previous["\(bridge.name)/\(port.name)"] = port } }
        func rate(_ new: UInt64, _ old: UInt64) -> Double { new >= old ? Double(new - old) / seconds : 0 }
        var rates: [PortRate] = []
        for bridge in after {
            for port in bridge.ports {
                guard let old = previous["\(bridge.name)/\(port.name)"], old.index == port.index else { continue }
                let a = old.counters, b = port.counters
                rates.append(PortRate(
                    bridge: bridge.name, port: port.name, vm: port.vm, nic: port.nic,
                    rxPacketsPerSecond: rate(b.rx.packets, a.rx.packets), txPacketsPerSecond: rate(b.tx.packets, a.tx.packets),
                    rxBitsPerSecond: 8 * rate(b.rx.bytes, a.rx.bytes), txBitsPerSecond: 8 * rate(b.tx.bytes, a.tx.bytes),
                    dropsPerSecond: rate(b.rx.dropped, a.rx.dropped) + rate(b.tx.dropped, a.tx.dropped),
                    errorsPerSecond: rate(b.rx.errors, a.rx.errors) + rate(b.tx.errors, a.tx.errors)))
            }
        }
        return rates.sorted { a, b in
            if a.bitsPerSecond != b.bitsPerSecond { return a.bitsPerSecond > b.bitsPerSecond }
            if a.packetsPerSecond != b.packetsPerSecond { return a.packetsPerSecond > b.packetsPerSecond }
            if a.dropsPerSecond != b.dropsPerSecond { return a.dropsPerSecond > b.dropsPerSecond }
            return (a.bridge, a.port) < (b.bridge, b.port)
        }
    }
}

/// The `qnet top` screen as lines no wider than the terminal.
public enum TopScreen {
    static let header = ["BRIDGE", "PORT", "VM", "RX pkt/s", "TX pkt/s", "RX bit/s", "TX bit/s", "DROP/s", "ERR/s"]

    /// A table of `rates`, columns aligned; each line cut to `width` characters. When the
    /// table is too wide, the text columns (VM first, then port, then bridge) are cut, columns
    /// are set one space apart and ERR/s is left out, so the rates stay whole down to about
    /// 55 columns. `title` is the first line.
    public static func render(_ rates: [PortRate], title: String, width: Int) -> [String] {
        var rows = rates.map { rate in
            [rate.bridge, rate.port, rate.vm.map { vm in rate.nic.map { "\(vm)/\($0)" } ?? vm } ?? "-",
             human(rate.rxPacketsPerSecond), human(rate.txPacketsPerSecond), human(rate.rxBitsPerSecond),
             human(rate.txBitsPerSecond), human(rate.dropsPerSecond), human(rate.errorsPerSecond)]
        }
        var header = Self.header
        var widths = header.map(\.count)
        for row in rows { for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) } }
        var gap = 2
        let total = { widths.reduce(0, +) + gap * (widths.count - 1) }
        if total() > width {
            gap = 1
            header.removeLast()
            widths.removeLast()
            rows = rows.map { Array($0.dropLast()) }
        }
        for column in [2, 1, 0] where total() > width {
            widths[column] = max(3, widths[column] - (total() - width))
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (column, cell) in cells.enumerated() {
                let cut = cell.count > widths[column] ? String(cell.prefix(max(1, widths[column] - 1))) + "…" : cell
                let padding = String(repeating: " ", count: max(0, widths[column] - cut.count))
                // Text columns left-aligned, numbers right-aligned.
                text += column <= 2 ? cut + padding : padding + cut
                if column < cells.count - 1 { text += String(repeating: " ", count: gap) }
            }
            return String(text.prefix(width))
        }
        var lines = [String(title.prefix(width)), line(header)]
        lines += rows.map(line)
        if rows.isEmpty { lines.append(String("(no bridge ports)".prefix(width))) }
        return lines
    }

    /// 1234567 → "1.23M"; below 1000 with one decimal only when not whole.
    public static func human(_ value: Double) -> String {
        let units = ["", "k", "M", "G", "T"]
        var value = value
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        if unit == 0 {
            return value == value.rounded() ? String(Int(value)) : String(Double(Int(value * 10)) / 10)
        }
        let hundredths = Int((value * 100).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)\(units[unit])"
    }
}
