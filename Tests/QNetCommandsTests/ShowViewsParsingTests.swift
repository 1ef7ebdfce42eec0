import ArgumentParser
@testable import QNetCommands
import Testing
import Topology

/// `show --stats`, `show --graph` and `top` parse into typed values, and bad combinations are
/// usage errors naming the bad value (tier 1).
struct ShowViewsParsingTests {
    @Test func graphOptionsParse() throws {
        let show = try #require(try QNet.parseAsRoot(["show", "--graph", "br0", "lab", "--format", "PNG", "-o", "t.png", "--all-namespaces"]) as? Show)
        #expect(show.bridge == "br0")
        #expect(show.views.moreNames == ["lab"])
        #expect(show.views.graph && show.views.allNamespaces && !show.views.stats)
        #expect(show.views.format == .png && show.views.output == "t.png")
        let stats = try #require(try QNet.parseAsRoot(["show", "--stats", "br0", "--json"]) as? Show)
        #expect(stats.views.stats && stats.json && stats.bridge == "br0")
    }

    @Test(arguments: [
        (["show", "--graph", "--format", "gif"], "gif"),
        (["show", "--format", "svg"], "--graph"),
        (["show", "-o", "x.svg"], "--graph"),
        (["show", "br0", "br1"], "--graph"),
        (["show", "--stats", "--graph"], "--stats"),
        (["top", "--interval", "0"], "interval"),
        (["top", "--iterations", "0"], "iterations"),
    ])
    func badCombinationsAreUsageErrors(arguments: [String], named: String) {
        do {
            _ = try QNet.parseAsRoot(arguments)
            Issue.record("\(arguments) parsed")
        } catch {
            #expect(ErrorReporting.exitCode(for: error) == 2, "\(arguments): \(error)")
            #expect(ErrorReporting.message(for: error).contains(named), "\(arguments): \(ErrorReporting.message(for: error))")
        }
    }

    @Test func topParses() throws {
        let top = try #require(try QNet.parseAsRoot(["top", "br0", "--interval", "0.5", "--iterations", "3"]) as? Top)
        #expect(top.bridge == "br0" && top.interval == 0.5 && top.iterations == 3)
    }

    @Test func theFormatComesFromTheFileName() {
        #expect(ShowGraph.formatFromExtension("topo.svg") == .svg)
        #expect(ShowGraph.formatFromExtension("out/topo.PNG") == .png)
        #expect(ShowGraph.formatFromExtension("topo.gv") == .dot)
        #expect(ShowGraph.formatFromExtension("dir.d/topo") == nil)
        #expect(ShowGraph.formatFromExtension("topo.pdf") == nil)
    }
}
