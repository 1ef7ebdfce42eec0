import ArgumentParser
import VirtualMachines

/// `qnet export [NAME...]`: runtime objects as configuration files (`qnet export br0 >
/// /etc/qnet/bridges/br0.yaml`).
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print bridges, persistent TAPs, networks and running VMs as qnet configuration files.",
        discussion: """
            Each object is printed as the YAML `qnet apply` reads from CONFIG_DIR/KIND/NAME.yaml, headed by a \
            comment naming that path; several objects are separated by `---`. Reads only.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Bridges, TAPs, networks or VMs to export (default: all).")
    var names: [String] = []

    func run() throws {
        let host = try global.openHost()
        let running = try VMFactory.manager(host: host, global: global).liveStates().map(\.definition)
        let exported = try ConfigExporter(host: host).export(names: names, runningVMs: running)
        print(exported.map { "# \($0.path)\n\($0.text)" }.joined(separator: "---\n"), terminator: "")
    }
}
