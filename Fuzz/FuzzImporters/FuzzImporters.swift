// libFuzzer target: the importers of other tools' network files (`qnet import ifcfg`,
// `import interfaces`, `import netplan`): RHEL ifcfg files, Debian /etc/network/interfaces and
// netplan YAML. Every input goes through all three. For ifcfg, lines `#FILE NAME` split the
// input into files (a bridge and its ports come as several). An importer may report settings
// it does not translate and the netplan one may throw; a trap is a finding, and so is output
// that `qnet apply` could not read back as the same objects. Seeds: Fuzz/Seeds/importers (the
// inputs of ConfigImportTests' golden tests).
import FuzzSupport
import VirtualMachines

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImporters(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: fuzzInput(data, size), as: UTF8.self)
    checkLoadsBack(IfcfgImporter.translate(ifcfgFiles(text)))
    checkLoadsBack(InterfacesImporter.translate(text: text, file: "interfaces"))
    if let result = try? NetplanImporter.translate(text: text, file: "netplan.yaml") { checkLoadsBack(result) }
    return 0
}

/// The input as ifcfg files: split at `#FILE NAME` lines (one file `ifcfg-eth0` without any).
func ifcfgFiles(_ text: String) -> [IfcfgImporter.File] {
    var files: [(name: String, lines: [Substring])] = [("ifcfg-eth0", [])]
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("#FILE ") {
            files.append((String(line.dropFirst(6)), []))
        } else {
            files[files.count - 1].lines.append(line)
        }
    }
    return files.filter { !$0.lines.isEmpty || $0.name != "ifcfg-eth0" }
        .map { IfcfgImporter.parse(name: $0.name, text: $0.lines.joined(separator: "\n")) }
}

/// What `qnet import` prints must be what `qnet apply` reads: each rendered file decodes
/// to the object it was made from.
func checkLoadsBack(_ result: ImportResult) {
    _ = try? result.rendered()
    for bridge in result.bridges {
        guard let text = try? ConfigurationText.yaml(bridge) else { continue }
        let loaded: BridgeConfig
        do { loaded = try DefinitionYAML.decode(BridgeConfig.self, from: text, file: "bridges/\(bridge.name).yaml") } catch {
            fatalError("imported bridge does not load back: \(error)\n\(text)")
        }
        precondition(loaded == bridge, "imported bridge loads back differently:\n\(text)\n\(loaded)\n\(bridge)")
    }
    for tap in result.taps {
        guard let text = try? ConfigurationText.yaml(tap) else { continue }
        let loaded: TapConfig
        do { loaded = try DefinitionYAML.decode(TapConfig.self, from: text, file: "taps/\(tap.name).yaml") } catch {
            fatalError("imported TAP does not load back: \(error)\n\(text)")
        }
        precondition(loaded == tap, "imported TAP loads back differently:\n\(text)\n\(loaded)\n\(tap)")
    }
}

@main struct Main {
    static func main() { fuzzMain(fuzzImporters) }
}
