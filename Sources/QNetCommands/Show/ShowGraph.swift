import ArgumentParser
import PCIDevices
import QNetSystem
import Topology

/// `qnet show --graph [--format svg|png|dot] [-o FILE] [NAME...] [--all-namespaces]`: the
/// topology read from the kernel, drawn by Graphviz's `dot`; DOT text and a hint without it.
enum ShowGraph {
    static func format(_ text: String) throws -> Graphviz.Format {
        guard let format = Graphviz.Format(rawValue: text.lowercased()) else {
            throw ValidationError("invalid picture format '\(text)': use svg, png or dot")
        }
        return format
    }

    static func run(global: GlobalOptions, names: [String], options: ShowViewOptions) throws {
        let host = try global.openHost()
        let graph = try TopologyReader.graph(host, name: global.netns ?? "host", names: names, allNamespaces: options.allNamespaces,
                                             pciSysfs: PCIAccess.sysfs)
        let text = DOTRenderer().render(graph)
        var format = options.format ?? options.output.flatMap(formatFromExtension) ?? .svg
        var bytes = Array(text.utf8)
        if format != .dot {
            if let dot = Graphviz.locate() {
                bytes = try Graphviz.render(text, format: format, dot: dot)
            } else {
                Output.printError("qnet: hint: Graphviz's dot is not installed (apt install graphviz): printing DOT text instead of \(format.rawValue)")
                format = .dot
                // DOT text is not what a .svg/.png file should hold: it goes to standard output.
                writeStandardOutput(bytes)
                return
            }
        }
        if let path = options.output {
            try FileSystem.writeAtomically(path, bytes)
        } else {
            writeStandardOutput(bytes)
        }
    }

    static func formatFromExtension(_ path: String) -> Graphviz.Format? {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
        let ext = path[path.index(after: dot)...].lowercased()
        return ext == "gv" ? .dot : Graphviz.Format(rawValue: ext)
    }
}
