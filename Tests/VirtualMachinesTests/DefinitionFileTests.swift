import Foundation
import QEMU
import QNetTestSupport
import Testing
@testable import VirtualMachines

/// VM and network definition files are decoded strictly: every refusal is one line naming
/// the file, the line, the key path, the bad value and what is allowed (tier 1).
struct DefinitionFileTests {
    func vmError(_ yaml: String) -> DefinitionFileError? {
        #expect(throws: DefinitionFileError.self) { try DefinitionYAML.decode(VMDefinition.self, from: yaml, file: "vm.yaml") }
    }

    /// The NIC keys, in the order the message lists them.
    let nicKeys = ["bridge", "network", "user", "pci", "vf", "vlan", "model", "mac", "queues", "filter", "ip"]

    @Test func unknownNICKeyIsRefusedWithItsPath() throws {
        let error = try #require(vmError("""
            name: web
            nics:
              - bridge: br0
                script: /bin/sh
            """))
        #expect(error == DefinitionFileError(file: "vm.yaml", line: 4, problem: .unknownKey(path: "nics[0].script", allowed: nicKeys)))
        #expect(error.description == "vm.yaml, line 4: unknown key nics[0].script; allowed: bridge, network, user, pci, vf, vlan, model, mac, queues, filter, ip")
        #expect(error.isUsageError)
    }

    @Test func unknownKeysAtEveryLevel() throws {
        #expect(vmError("name: web\nmemroy: 512\n")?.problem == .unknownKey(
            path: "memroy", allowed: ["name", "memory", "cpus", "disks", "cdrom", "boot", "nics", "kernel", "initrd", "append",
                                      "vnc", "console", "accel", "user", "extra_args"]))
        #expect(vmError("name: web\nnics:\n  - user: {backend: passt, hostfw: [\"tcp::1-:2\"]}\n")?.problem == .unknownKey(
            path: "nics[0].user.hostfw", allowed: ["backend", "hostfwd", "restrict", "model", "mac"]))
        let second = vmError("name: web\nnics:\n  - bridge: br0\n  - network: lab\n    ttl: 5\n")
        #expect(second?.problem == .unknownKey(path: "nics[1].ttl", allowed: nicKeys))
        #expect(second?.line == 5)
    }

    @Test func badValuesNameTheValueAndWhatIsAllowed() throws {
        let model = try #require(vmError("name: web\nnics:\n  - bridge: br0\n    model: bogus\n"))
        #expect(model.description == "vm.yaml, line 4: nics[0].model: invalid NIC model 'bogus': use virtio, e1000, e1000e or rtl8139")
        #expect(vmError("name: web\nnics:\n  - user: {model: bogus}\n")?.problem == .invalidValue(
            path: "nics[0].user.model", what: "NIC model", value: "bogus", allowed: "use virtio, e1000, e1000e or rtl8139"))
        #expect(vmError("name: web\nnics:\n  - user: {backend: vde}\n")?.problem == .invalidValue(
            path: "nics[0].user.backend", what: "user-mode backend", value: "vde", allowed: "use slirp, passt"))
        #expect(vmError("name: web\naccel: hvf\n")?.problem == .invalidValue(
            path: "accel", what: "accelerator", value: "hvf", allowed: "use auto, kvm, tcg"))
        let forward = try #require(vmError("name: web\nnics:\n  - user:\n      hostfwd: [\"tcp::8080-:80\", \"tcp::0-:80\"]\n"))
        guard case let .invalidValue(path, what, value, _) = forward.problem else { Issue.record("\(forward)"); return }
        #expect(path == "nics[0].user.hostfwd[1]" && what == "hostfwd" && value == "tcp::0-:80")
        // Checked as --nic is: both a bridge and a network, a MAC that is multicast, 99 queues.
        #expect(vmError("name: web\nnics:\n  - {bridge: br0, network: lab}\n")?.problem == .invalidValue(
            path: "nics[0]", what: "--nic", value: "bridge=br0,network=lab", allowed: "name exactly one of bridge=BR or network=NAME"))
        #expect(vmError("name: web\nnics:\n  - {bridge: br0, mac: \"01:00:5e:00:00:01\"}\n")?.problem == .invalidValue(
            path: "nics[0]", what: "MAC address", value: "01:00:5e:00:00:01", allowed: "a NIC needs a unicast, non-zero address (even first byte)"))
        #expect(vmError("name: web\nnics:\n  - {bridge: br0, queues: 99}\n")?.problem == .invalidValue(
            path: "nics[0]", what: "NIC queue count", value: "99", allowed: "use 1 to 16"))
    }

    @Test func wrongTypesAndBrokenYAML() throws {
        #expect(vmError("name: web\nmemory: lots\n")?.description == "vm.yaml, line 2: memory: 'lots' is not a whole number")
        #expect(vmError("name: web\nnics: br0\n")?.problem == .wrongType(path: "nics", found: "'br0'", expected: "a list"))
        #expect(vmError("- name: web\n")?.problem == .wrongType(path: "(top level)", found: "a list", expected: "a mapping (key: value lines)"))
        let broken = try #require(vmError("name: [web\n"))
        guard case .notYAML = broken.problem else { Issue.record("\(broken)"); return }
        #expect(broken.line == 2)
        #expect(vmError("# nothing\n")?.problem == .empty)
        #expect(vmError("name: a\nname: b\n")?.problem == .duplicateKey("name"))
    }

    @Test func goodFilesDecode() throws {
        let definition = try DefinitionYAML.decode(VMDefinition.self, from: """
            name: web
            memory: 1024          # MiB
            cpus: 2
            disks: [/var/lib/images/web.qcow2]
            boot: cd
            nics:
              - bridge: br0
                model: virtio
              - network: lab
                mac: "52:54:00:12:34:56"
              - user: {backend: passt, hostfwd: ["tcp::8080-:80"]}
            vnc: 0
            accel: auto
            user: qnet
            extra_args: ["-usb"]
            """, file: "vm.yaml")
        #expect(definition.name == "web" && definition.memory == 1024 && definition.cpus == 2 && definition.boot == "cd")
        #expect(definition.nics.map(\.bridge) == ["br0", nil, nil] && definition.nics[1].network == "lab")
        #expect(definition.nics[2].user?.backend == .passt && definition.extraArguments == ["-usb"])
        // What qnet writes (state.json) reads back under the same strict rules.
        let json = try JSONEncoder().encode(definition)
        #expect(try JSONDecoder().decode(VMDefinition.self, from: json) == definition)
    }

    @Test func networkDefinitionsAreStrictToo() throws {
        func networkError(_ yaml: String) -> DefinitionFileError? {
            #expect(throws: DefinitionFileError.self) { try DefinitionYAML.decode(NetworkDefinition.self, from: yaml, file: "lab.yaml") }
        }
        let base = "name: lab\nmode: nat\nbridge: qn-lab\n"
        #expect(networkError(base + "static_leases:\n  - {mac: \"52:54:00:00:00:01\", address: 10.0.0.5, ttl: 60}\n")?.problem == .unknownKey(
            path: "static_leases[0].ttl", allowed: ["mac", "address", "hostname"]))
        #expect(networkError(base + "dhcp-start: 10.0.0.100\n")?.line == 4)
        #expect(networkError("name: lab\nmode: routed\nbridge: qn-lab\n")?.problem == .invalidValue(
            path: "mode", what: "network mode", value: "routed", allowed: "use bridge, nat, isolated, vxlan"))
        #expect(networkError(base + "static_leases:\n  - {mac: \"52:54:00:00:00:01\"}\n")?.problem == .missingKey(path: "static_leases[0].address"))
    }

    /// What `net create` saves reads back, and a stored file with an unknown key is refused
    /// with its line (the network store decodes through the same strict decoder).
    @Test func storedNetworkDefinitions() throws {
        _ = VMTestState.directory  // QNET_STATE_DIR for this process
        let store = NetworkStore()
        let saved = NetworkDefinition(name: "strict-\(getpid() % 1000)", mode: .nat, bridge: "qn-strict", subnet: "10.0.100.0/24",
                                      staticLeases: [StaticLease(mac: "52:54:00:00:00:01", address: "10.0.100.5", hostname: "a")])
        try store.save(saved)
        defer { store.removeDefinition(saved.name) }
        #expect(try store.definitionIfPresent(saved.name) == saved)
        let path = store.definitionPath(saved.name)
        try (try String(contentsOfFile: path, encoding: .utf8) + "forward: all\n").write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: NetworkError.self) { try store.definitionIfPresent(saved.name) }
        guard case let .unreadableDefinition(problem) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(problem.file == path && problem.line != nil)
        #expect(problem.description.contains(": unknown key forward; allowed: name, mode, bridge"), "\(problem)")
    }
}

/// `VMDefinition.load(path:overrides:)`: what `qnet vm run [-f FILE] [options]` starts.
struct VMDefinitionLoadTests {
    /// A VM file in a directory of its own, removed when the returned guard goes.
    func file(_ text: String) throws -> (Scratch, String) {
        let scratch = try Scratch()
        let path = scratch.path + "/vm.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return (scratch, path)
    }

    final class Scratch {
        let path: String
        init() throws {
            var template = Array((NSTemporaryDirectory() + "qnet-vmdef.XXXXXX").utf8CString)
            guard let made = mkdtemp(&template) else { throw TestSupportError("mkdtemp failed") }
            path = String(cString: made)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test func commandLineOverridesTheFile() throws {
        let (directory, path) = try file("name: web\nmemory: 1024\ncpus: 2\nnics:\n  - bridge: br0\naccel: tcg\n")
        _ = directory
        let plain = try VMDefinition.load(path: path, overrides: VMOverrides())
        #expect(plain.memory == 1024 && plain.cpus == 2 && plain.nics.map(\.bridge) == ["br0"] && plain.accel == .tcg)
        let changed = try VMDefinition.load(path: path, overrides: VMOverrides(name: "web2", memory: 2048, nics: ["network=lab", "bridge=br1,model=e1000"]))
        #expect(changed.name == "web2" && changed.memory == 2048 && changed.cpus == 2 && changed.accel == .tcg)
        #expect(changed.nics == [NICSpec(network: "lab"), NICSpec(bridge: "br1", model: .e1000)])
        #expect(try VMDefinition.load(path: path, overrides: VMOverrides(nics: ["none"])).nics.isEmpty)
        #expect(throws: VMError.invalidValue(what: "--nic", value: "none", allowed: "--nic none cannot be combined with other --nic options")) {
            try VMDefinition.load(path: path, overrides: VMOverrides(nics: ["none", "bridge=br0"]))
        }
        // Values are checked after merging: the command line's too.
        #expect(throws: VMError.invalidValue(what: "CPU count", value: "0", allowed: "use 1 to 255")) {
            try VMDefinition.load(path: path, overrides: VMOverrides(cpus: 0))
        }
    }

    @Test func nameFromTheFileOrTheCommandLine() throws {
        let (directory, path) = try file("memory: 256\n")
        _ = directory
        #expect(throws: DefinitionFileError(file: path, problem: .missingKey(path: "name"))) {
            try VMDefinition.load(path: path, overrides: VMOverrides())
        }
        #expect(try VMDefinition.load(path: path, overrides: VMOverrides(name: "cli")).name == "cli")
        #expect(try VMDefinition.load(path: nil, overrides: VMOverrides(name: "bare")) == VMDefinition(name: "bare"))
        #expect(throws: VMError.self) { try VMDefinition.load(path: nil, overrides: VMOverrides()) }
    }

    @Test func unreadableFileIsNamed() throws {
        let error = #expect(throws: DefinitionFileError.self) {
            try VMDefinition.load(path: "/nonexistent/vm.yaml", overrides: VMOverrides())
        }
        #expect(error?.description == "/nonexistent/vm.yaml: cannot read it: No such file or directory")
    }
}
