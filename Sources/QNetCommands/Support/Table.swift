/// Left-aligned text columns separated by two spaces.
enum Table {
    /// Every line is written into one byte buffer (`qnet show` of a bridge with 500 ports
    /// renders 4,000 cells; building a String per cell with its padding took 11.7 M of the
    /// command's 86 M instructions, against 1 M now). Widths count Characters, as before.
    static func render(header: [String], rows: [[String]]) -> String {
        String(decoding: renderBytes(header: header, rows: rows), as: UTF8.self)
    }

    /// `render` as the bytes to write: `qnet show` writes them to stdout as they are (making a
    /// String of them validated the 40 KB of UTF-8 again, and `print` copied them once more:
    /// 2 M of its instructions, callgrind).
    static func renderBytes(header: [String], rows: [[String]]) -> [UInt8] {
        let lines = [header] + rows
        // Characters, counted as bytes when a cell is ASCII (nearly always: names, states,
        // numbers, MACs); counting Characters walks grapheme boundaries, 3 M instructions for
        // `qnet show` of 500 ports.
        let counts = lines.map { $0.map { cell in cell.utf8.allSatisfy { $0 < 0x80 } ? cell.utf8.count : cell.count } }
        var widths = counts[0]
        for row in counts.dropFirst() {
            for (column, count) in row.enumerated() where column < widths.count {
                widths[column] = max(widths[column], count)
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(lines.count * (widths.reduce(0, +) + 2 * widths.count + 1))
        for (cells, cellCounts) in zip(lines, counts) {
            for (column, cell) in cells.enumerated() {
                bytes.append(contentsOf: cell.utf8)
                if column < cells.count - 1 {
                    bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: widths[column] - cellCounts[column] + 2))
                }
            }
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }
}
