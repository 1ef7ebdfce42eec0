import ArgumentParser
import Topology

/// The views of `qnet show` other than the bridge table: counters (--stats) and the topology
/// picture (--graph). Kept apart from Show.swift so its hot path stays as it is.
struct ShowViewOptions: ParsableArguments {
    @Flag(help: "Per-port rx/tx packets, bytes, errors and drops (IFLA_STATS64, like `ip -s link`), with per-bridge totals.")
    var stats = false

    @Flag(help: "Draw the topology (bridges, ports and their STP state, TAPs with their VM, networks, VXLAN peers) with Graphviz.")
    var graph = false

    @Option(help: ArgumentHelp("Picture format for --graph: svg, png or dot (default: from -o's extension, else svg).", valueName: "format"),
            transform: ShowGraph.format)
    var format: Graphviz.Format?

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the --graph picture to FILE instead of standard output.", valueName: "file"))
    var output: String?

    @Flag(help: "With --graph: every namespace in /run/netns too, veth pairs between them joined.")
    var allNamespaces = false

    @Argument(help: ArgumentHelp("With --graph: more bridges or qnet networks to draw (default: all).", valueName: "name"))
    var moreNames: [String] = []

    func validate() throws {
        if stats && graph { throw ValidationError("--stats and --graph are separate views: give one") }
        if !graph {
            if format != nil || output != nil || allNamespaces || !moreNames.isEmpty {
                throw ValidationError("--format, -o, --all-namespaces and more than one name go with --graph")
            }
        }
    }

    /// Runs the view asked for; false when none was (the plain table then runs).
    func runIfAsked(global: GlobalOptions, bridge: String?, json: Bool) throws -> Bool {
        if stats {
            try ShowStats.run(host: global.openHost(), bridge: bridge, json: json)
            return true
        }
        if graph {
            if json { throw ValidationError("--graph draws a picture; --json goes with the table or --stats") }
            try ShowGraph.run(global: global, names: (bridge.map { [$0] } ?? []) + moreNames, options: self)
            return true
        }
        return false
    }
}
