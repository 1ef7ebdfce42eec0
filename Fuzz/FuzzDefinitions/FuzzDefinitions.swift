// libFuzzer target: VM and network definition files (YAML through Yams, then qnet's strict
// decoding and validation), as `vm run -f` and `net create -f` read them. Anything may
// throw a DefinitionFileError; a trap is a finding. Seeds: Fuzz/Seeds/definitions.
import FuzzSupport
import VirtualMachines

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDefinitions(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: fuzzInput(data, size), as: UTF8.self)
    if let vm = try? DefinitionYAML.decode(VMDefinition.self, from: text, file: "fuzz.yaml") {
        _ = try? vm.validate()
        for nic in vm.nics { _ = try? nic.validate() }
    }
    if let network = try? DefinitionYAML.decode(NetworkDefinition.self, from: text, file: "fuzz.yaml"),
       let addressing = try? AddressPlanner.resolve(network, existing: [], otherNetworks: []) {
        // What `net start` renders from a definition that passed: dnsmasq's file and the nft script.
        let paths = DnsmasqPaths(leaseFile: "/l", pidFile: "/p", configFile: "/c")
        _ = DnsmasqConfig.render(definition: network, addressing: addressing, paths: paths, upstreamServers: ["192.0.2.53"])
        _ = FirewallRuleset.render(networks: [(network, addressing)])
    }
    return 0
}

@main struct Main {
    static func main() { fuzzMain(fuzzDefinitions) }
}
