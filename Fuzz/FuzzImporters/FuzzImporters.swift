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
    for bridge in result.bridges { checkLoadsBack(bridge, yaml: try? ConfigurationText.yaml(bridge), file: "bridges/\(bridge.name).yaml") }
    for tap in result.taps { checkLoadsBack(tap, yaml: try? ConfigurationText.yaml(tap), file: "taps/\(tap.name).yaml") }
}

/// `yaml`, the file written for `value`, decodes to `value`; a trap (a finding) otherwise.
func checkLoadsBack<Value: Decodable & Equatable>(_ value: Value, yaml: String?, file: String) {
    guard let yaml else { return }
    let loaded: Value
    do { loaded = try DefinitionYAML.decode(Value.self, from: yaml, file: file) } catch {
        fatalError("imported \(file) does not load back: \(error)\n\(yaml)")
    }
    precondition(loaded == value, "imported \(file) loads back differently:\n\(yaml)\n\(loaded)\n\(value)")
}

@main struct Main {
    static func main() { fuzzMain(fuzzImporters) }
}
