import HostNetwork
import QNetTypes

/// QEMU runs its `script=` / `downscript=` hook as `qemu-ifup TAP` (one argument) each
/// time a NIC comes up or goes away. That exact form, and `qnet ifup TAP` / `qnet ifdown
/// TAP`, run here without ArgumentParser: in the static binary the parser alone costs
/// about 15 M instructions (its argument sets are built by reflection, and each first
/// protocol-conformance lookup scans every conformance record), several times the hook's
/// own work (see BENCHMARKS.md). Any other form (an option, --help, a name the parser
/// would refuse) goes to the parser, which handles and reports it as usual.
enum HookFastPath {
    /// Runs the hook when `arguments` are exactly `[ifup|ifdown, TAP]` with a valid TAP
    /// name, with the same effect, output and errors as the parsed command; returns false
    /// (having done nothing) for any other arguments.
    static func run(_ arguments: [String]) throws -> Bool {
        guard arguments.count == 2, !arguments[1].hasPrefix("-"), InterfaceName.problem(with: arguments[1]) == nil else {
            return false
        }
        let interface = arguments[1]
        switch arguments[0] {
        case "ifup":
            let bridge = try HookBridge.resolve(nil)
            try Ifup.attach(interface, to: bridge, change: HostChange.begin(host: HostNetwork(), namespaceName: nil))
        case "ifdown":
            try Ifdown.detach(interface, from: nil, change: HostChange.begin(host: HostNetwork(), namespaceName: nil))
        default:
            return false
        }
        return true
    }
}
