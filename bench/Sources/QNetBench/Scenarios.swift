import Foundation
import HostNetwork
import Netlink
import QNetSystem

/// Paths of the programs compared.
struct Tools {
    var gate = QuietGate()
    var ip: String
    var bridge: String
    var brctl: String
    var qnet: String
    var workDirectory: String
    /// The same objects as `qnet` linked as a PIE (`make release-pie`), for (e) and (f); optional.
    var qnetPIE: String? = nil
}

/// Writes `lines` to a file for `ip -batch` and returns its path.
func writeBatch(_ lines: [String], named file: String, in directory: String) throws -> String {
    let path = "\(directory)/\(file)"
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A fresh state dir on a tmpfs (/dev/shm), for the rows that show what qnet's lock and
/// journal cost where /run is a tmpfs (Debian's default) rather than on disk (this machine).
func tmpfsStateDirectory() throws -> String {
    let path = "/dev/shm/qnetbench-\(getpid())"
    try FileSystem.makeDirectories(path, mode: 0o755)
    return path
}

func log(_ text: String) {
    FileHandle.standardError.write(Data(("[bench] " + text + "\n").utf8))
}

// MARK: - (a) one NIC: create + up + attach to an existing bridge

func benchOneNIC(lab: Lab, tools: Tools, reps: Int) throws -> [Series] {
    let ns = lab.name
    let tap = "nic0"
    let batch = try writeBatch(["tuntap add \(tap) mode tap", "link set \(tap) master br0", "link set \(tap) up"],
                               named: "one-nic.batch", in: tools.workDirectory)
    var inProcess = Series("qnet in-process: `createTAP` (open host already)")
    var inProcessOpen = Series("qnet in-process incl. opening the netlink socket in the namespace")
    var cli = Series("`qnet --netns NS tap create nic0 --bridge br0` (1 process)")
    var perStep = Series("ip per step: `ip tuntap add` + `ip link set master` + `ip link set up` (3 processes)")
    var ipBatch = Series("`ip -batch` of the same 3 lines (1 process)")
    var cliTmpfs = Series("`qnet --netns NS tap create nic0 --bridge br0` with its runtime dir (lock, journal) on a tmpfs")
    let tmpfs = try tmpfsStateDirectory()
    defer { FileSystem.removeTree(tmpfs) }
    let options = TAPOptions(name: tap, persistent: true, bridge: lab.bridge, up: true)

    func reset(_ step: String) throws {
        try lab.verifyPorts([tap], step: step)
        try lab.network.deleteTAP(tap)
        try lab.verifyEmpty(step: "deleting \(tap) after \(step)")
    }

    // Rep 0 is a warm-up (page cache, dynamic linking, first TUNSETIFF); it is not recorded.
    for rep in 0...reps {
        lab.quiesce(gated: true, "(a) repetition \(rep)")
        var (device, seconds) = try timed { () throws -> TAPDevice in
            let device = try lab.network.createTAP(options)
            device.close()
            return device
        }
        if device.name != tap { throw BenchFailure("createTAP made \(device.name), expected \(tap)") }
        if rep > 0 { inProcess.samples.append(seconds) }
        try reset("qnet createTAP")

        lab.quiesce(gated: false)
        (device, seconds) = try timed { () throws -> TAPDevice in
            let host = try HostNetwork(namespace: NetworkNamespace(name: ns))
            let device = try host.createTAP(options)
            device.close()
            return device
        }
        if rep > 0 { inProcessOpen.samples.append(seconds) }
        try reset("qnet createTAP with a fresh HostNetwork")

        lab.quiesce(gated: false)
        seconds = try Spawn.time([tools.qnet, "--netns", ns, "tap", "create", tap, "--bridge", lab.bridge])
        if rep > 0 { cli.samples.append(seconds) }
        try reset("qnet tap create")

        lab.quiesce(gated: false)
        let start = monotonicSeconds()
        try Spawn.check([tools.ip, "-n", ns, "tuntap", "add", tap, "mode", "tap"])
        try Spawn.check([tools.ip, "-n", ns, "link", "set", tap, "master", lab.bridge])
        try Spawn.check([tools.ip, "-n", ns, "link", "set", tap, "up"])
        if rep > 0 { perStep.samples.append(monotonicSeconds() - start) }
        try reset("ip per step")

        lab.quiesce(gated: false)
        seconds = try Spawn.time([tools.ip, "-n", ns, "-batch", batch])
        if rep > 0 { ipBatch.samples.append(seconds) }
        try reset("ip -batch")

        lab.quiesce(gated: false)
        seconds = try Spawn.time([tools.qnet, "--netns", ns, "tap", "create", tap, "--bridge", lab.bridge], setting: ["QNET_STATE_DIR": tmpfs])
        if rep > 0 { cliTmpfs.samples.append(seconds) }
        try reset("qnet tap create, runtime dir on a tmpfs")
    }
    return [inProcess, inProcessOpen, cli, perStep, ipBatch, cliTmpfs]
}

// MARK: - (b) 500 TAPs create + attach + up, and (c) their teardown

struct ManyResults: Codable {
    var create: [Series]
    var teardown: [Series]
    /// After qnet's descriptors are closed: how long until the kernel has processed the
    /// carrier loss of every port (asynchronous, not in the timed rows).
    var settle: Series
}

struct ManyPlan: Codable {
    var count = 500
    var group: UInt32 = 4242
    var reps = 5
    /// ip per step is 1500 processes: fewer repetitions.
    var perStepReps = 3
    /// Deleting one device per request waits one RCU grace period per device (~9 s for 500).
    var batchDeleteReps = 2
    var oneByOneReps = 1
}

func benchManyTAPs(lab: Lab, tools: Tools, plan: ManyPlan) throws -> ManyResults {
    let ns = lab.name
    let ip = tools.ip
    let names = (0..<plan.count).map { "tap\($0)" }
    let group = plan.group
    let createFile = try writeBatch(names.flatMap { ["tuntap add \($0) mode tap", "link set \($0) master br0", "link set \($0) up"] },
                                    named: "create-\(plan.count).batch", in: tools.workDirectory)
    let deleteFile = try writeBatch(names.map { "link del \($0)" }, named: "delete-\(plan.count).batch", in: tools.workDirectory)
    let groupFile = try writeBatch(names.map { "link set \($0) group \(group)" }, named: "group-\(plan.count).batch", in: tools.workDirectory)
    let options = names.map { TAPOptions(name: $0, persistent: true, bridge: lab.bridge, interfaceGroup: group, up: true) }

    var qnetCreate = Series("qnet in-process: `createTAPs` + closing the \(plan.count) descriptors")
    var qnetCreateOnly = Series("  of which `createTAPs` (\(plan.count) × TUNSETIFF, then 1 netlink batch)")
    var closeOnly = Series("  of which closing the \(plan.count) descriptors")
    var batchCreate = Series("`ip -batch` (\(plan.count * 3) lines, 1 process)")
    var stepCreate = Series("ip per step (\(plan.count * 3) processes)")
    var settle = Series("kernel's asynchronous carrier-off after qnet closes the descriptors (not in any timed row)")

    var qnetDelete = Series("qnet in-process: `deleteGroup` (1 RTM_DELLINK)")
    var groupDelete = Series("`ip link delete group \(group)` (1 process, same request)")
    var batchDelete = Series("`ip -batch` of \(plan.count) `link del` lines (1 process)")
    var oneByOne = Series("`ip link del` one by one (\(plan.count) processes)")

    /// Untimed: makes ip-created TAPs members of the group, then removes them in one go.
    func cleanupByGroup(_ step: String) throws {
        try Spawn.check([ip, "-n", ns, "-batch", groupFile])
        try Spawn.check([ip, "-n", ns, "link", "delete", "group", String(group)])
        try lab.verifyEmpty(step: step)
    }

    /// Timed: createTAPs and closing the descriptors. Then (untimed) waits for the kernel's
    /// carrier-off processing and checks the result.
    func qnetCreateAll(_ step: String) throws -> (total: Double, create: Double, settle: Double) {
        lab.quiesce()
        let start = monotonicSeconds()
        let devices = try lab.network.createTAPs(options)
        let created = monotonicSeconds()
        for device in devices { device.close() }
        let end = monotonicSeconds()
        guard devices.map(\.name) == names else { throw BenchFailure("createTAPs returned unexpected names") }
        let settled = try lab.settle(step: step)
        try lab.verifyPorts(names, group: group, step: step)
        return (end - start, created - start, settled)
    }

    // Warm-up (not recorded): one qnet round and one ip -batch create.
    log("(b)/(c) warm-up")
    _ = try qnetCreateAll("warm-up createTAPs")
    try lab.network.deleteGroup(group)
    try lab.verifyEmpty(step: "warm-up deleteGroup")
    try Spawn.check([ip, "-n", ns, "-batch", createFile])
    try lab.verifyPorts(names, step: "warm-up ip -batch")
    try cleanupByGroup("warm-up cleanup")

    for rep in 0..<plan.reps {
        log("(b)/(c) repetition \(rep + 1)/\(plan.reps)")
        // qnet create, qnet deleteGroup.
        let created = try qnetCreateAll("qnet createTAPs")
        qnetCreate.samples.append(created.total)
        qnetCreateOnly.samples.append(created.create)
        closeOnly.samples.append(created.total - created.create)
        settle.samples.append(created.settle)
        lab.quiesce()
        let (_, deleteSeconds) = try timed { try lab.network.deleteGroup(group) }
        qnetDelete.samples.append(deleteSeconds)
        try lab.verifyEmpty(step: "qnet deleteGroup")

        // ip -batch create; ip -batch delete (a few reps: ~9 s each) or untimed cleanup.
        lab.quiesce()
        batchCreate.samples.append(try Spawn.time([ip, "-n", ns, "-batch", createFile]))
        try lab.settle(step: "ip -batch create")
        try lab.verifyPorts(names, step: "ip -batch create")
        if rep < plan.batchDeleteReps {
            lab.quiesce()
            batchDelete.samples.append(try Spawn.time([ip, "-n", ns, "-batch", deleteFile]))
            try lab.verifyEmpty(step: "ip -batch link del")
        } else {
            try cleanupByGroup("cleanup after ip -batch create")
        }

        // `ip link delete group N`, on TAPs made (untimed) by qnet.
        _ = try qnetCreateAll("qnet createTAPs (setup for ip link delete group)")
        lab.quiesce()
        groupDelete.samples.append(try Spawn.time([ip, "-n", ns, "link", "delete", "group", String(group)]))
        try lab.verifyEmpty(step: "ip link delete group")

        // ip per step: 3 processes per TAP; one-by-one delete once (~9 s).
        if rep < plan.perStepReps {
            lab.quiesce()
            let start = monotonicSeconds()
            for name in names {
                try Spawn.check([ip, "-n", ns, "tuntap", "add", name, "mode", "tap"])
                try Spawn.check([ip, "-n", ns, "link", "set", name, "master", lab.bridge])
                try Spawn.check([ip, "-n", ns, "link", "set", name, "up"])
            }
            stepCreate.samples.append(monotonicSeconds() - start)
            try lab.settle(step: "ip per step create")
            try lab.verifyPorts(names, step: "ip per step create")
            if rep < plan.oneByOneReps {
                lab.quiesce()
                let start = monotonicSeconds()
                for name in names { try Spawn.check([ip, "-n", ns, "link", "del", name]) }
                oneByOne.samples.append(monotonicSeconds() - start)
                try lab.verifyEmpty(step: "ip link del one by one")
            } else {
                try cleanupByGroup("cleanup after ip per step create")
            }
        }
    }
    return ManyResults(create: [qnetCreate, qnetCreateOnly, closeOnly, batchCreate, stepCreate],
                       teardown: [qnetDelete, groupDelete, batchDelete, oneByOne],
                       settle: settle)
}

// MARK: - (d) showing a bridge with 500 ports

/// Fills br0 with `count` TAPs (made by qnet), then times the display commands from inside
/// the namespace (this program re-run under `ip netns exec`, so brctl sees the namespace's
/// /sys) and from outside it (`--netns` / `-n`).
func benchShow(lab: Lab, tools: Tools, count: Int, reps: Int, group: UInt32) throws -> [Series] {
    let names = (0..<count).map { "port\($0)" }
    let devices = try lab.network.createTAPs(names.map {
        // Owned by root, as `qnet tap create` makes them (`qnet show` warns on stderr about
        // each TAP without an owner).
        TAPOptions(name: $0, persistent: true, owner: 0, bridge: lab.bridge, interfaceGroup: group, up: true)
    })
    for device in devices { device.close() }
    try lab.settle(step: "filling br0 for show")
    try lab.verifyPorts(names, group: group, step: "filling br0 for show")

    let myself = try String(contentsOfFile: "/proc/self/cmdline", encoding: .utf8).split(separator: "\0").first.map(String.init) ?? ""
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? myself
    let inside = try Spawn.check([tools.ip, "netns", "exec", lab.name, executable, "show-phase",
                                  "--qnet", tools.qnet, "--bridge-tool", tools.bridge, "--brctl", tools.brctl,
                                  "--reps", String(reps), "--ports", String(count)], capture: true)
    var series = try JSONDecoder().decode([Series].self, from: Data(inside.utf8))

    var outsideQnet = Series("`qnet --netns NS show br0` (from the host namespace)")
    var outsideBridge = Series("`bridge -n NS link show` (from the host namespace)")
    let qnetOutput = try Spawn.check([tools.qnet, "--netns", lab.name, "show", "br0"], capture: true)
    try checkShowTable(qnetOutput, ports: count, what: "qnet --netns show br0")
    for rep in 0...reps {
        tools.gate.wait("(d) outside repetition \(rep)")
        outsideQnet.samples.append(try Spawn.time([tools.qnet, "--netns", lab.name, "show", "br0"]))
        outsideBridge.samples.append(try Spawn.time([tools.bridge, "-n", lab.name, "link", "show"]))
    }
    outsideQnet.samples.removeFirst()  // warm-up
    outsideBridge.samples.removeFirst()
    // What `qnet show br0` reads, in-process: br0 by name, then one RTM_GETLINK dump the kernel
    // filters by master (IFLA_MASTER), only the attributes qnet reads decoded.
    var dump = Series("qnet in-process: `bridgeWithPorts(named: \"br0\")` (br0, then the dump of its \(count) ports filtered by master, the attributes qnet reads decoded)")
    // The same filtered dump request (ifinfomsg for AF_UNSPEC, IFLA_MASTER = br0,
    // IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS), the replies only received and split into
    // messages: the kernel's part and the copying.
    var receive = Series("  of which receiving the filtered dump (split into messages, no attribute decoded)")
    // ifinfomsg (16 B, zero), IFLA_MASTER (8 B: len 8, type 10, the index), IFLA_EXT_MASK (8 B: len 8, type 29, 8).
    let bridgeIndex = try lab.network.link(named: lab.bridge).index.rawValue
    let request = [UInt8](repeating: 0, count: 16) + [8, 0, 10, 0] + withUnsafeBytes(of: bridgeIndex.littleEndian, Array.init)
        + [8, 0, 29, 0, 8, 0, 0, 0]
    for rep in 0...reps {
        lab.quiesce(gated: rep == 0)
        let (entry, seconds) = try timed { try lab.network.bridgeWithPorts(named: lab.bridge) }
        guard entry.ports.count == count else { throw BenchFailure("bridgeWithPorts returned \(entry.ports.count) ports, expected \(count)") }
        if rep > 0 { dump.samples.append(seconds) }
        lab.quiesce(gated: false)
        let (messages, received) = try timed { try lab.network.connection.dump(.getLink, payload: request) }
        guard messages.count >= count else { throw BenchFailure("the dump returned \(messages.count) messages, expected \(count)") }
        if rep > 0 { receive.samples.append(received) }
    }
    // Order: the four display commands, the two run from outside, the start-up floors, then
    // the in-process dump.
    series = Array(series[0..<4]) + [outsideQnet, outsideBridge] + Array(series[4...]) + [dump, receive]

    try lab.network.deleteGroup(group)
    try lab.verifyEmpty(step: "deleting the show ports")
    return series
}

func checkShowTable(_ output: String, ports: Int, what: String) throws {
    let lines = output.split(separator: "\n").filter { $0.contains("port") && !$0.contains("bridge name") }
    guard lines.count == ports else { throw BenchFailure("\(what) printed \(lines.count) port lines, expected \(ports)") }
}

/// The part of (d) that runs inside the namespace (under `ip netns exec`): prints JSON.
func showPhase(arguments: [String]) throws {
    func value(_ flag: String) throws -> String {
        guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { throw BenchFailure("show-phase needs \(flag)") }
        return arguments[index + 1]
    }
    let qnet = try value("--qnet"), bridge = try value("--bridge-tool"), brctl = try value("--brctl")
    let reps = Int(try value("--reps")) ?? 21
    let ports = Int(try value("--ports")) ?? 500

    // Check once that each command shows all the ports.
    try checkShowTable(try Spawn.check([qnet, "show", "br0"], capture: true), ports: ports, what: "qnet show br0")
    let json = try Spawn.check([qnet, "show", "br0", "--json"], capture: true)
    guard let report = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
          let bridges = report["bridges"] as? [[String: Any]], bridges.count == 1,
          (bridges[0]["ports"] as? [Any])?.count == ports else {
        throw BenchFailure("qnet show br0 --json does not list \(ports) ports")
    }
    let bridgeLines = try Spawn.check([bridge, "link", "show"], capture: true).split(separator: "\n").filter { $0.contains("master br0") }
    guard bridgeLines.count == ports else { throw BenchFailure("bridge link show printed \(bridgeLines.count) ports, expected \(ports)") }
    let brctlOutput = try Spawn.check([brctl, "show", "br0"], capture: true)
    guard brctlOutput.split(whereSeparator: { $0 == "\n" || $0 == "\t" || $0 == " " }).filter({ $0.hasPrefix("port") }).count == ports else {
        throw BenchFailure("brctl show br0 does not list \(ports) ports:\n\(brctlOutput.prefix(400))")
    }

    let ip = try Spawn.resolve("ip")
    let commands: [(String, [String])] = [
        ("`qnet show br0`", [qnet, "show", "br0"]),
        ("`qnet show br0 --json`", [qnet, "show", "br0", "--json"]),
        ("`bridge link show`", [bridge, "link", "show"]),
        ("`brctl show br0`", [brctl, "show", "br0"]),
        ("`qnet --help` (start-up only: no netlink)", [qnet, "--help"]),
        ("`ip link show dev lo` (start-up + one small request)", [ip, "link", "show", "dev", "lo"]),
    ]
    let samples = try timeInterleaved(commands.map(\.1), reps: reps, gate: QuietGate(), what: "(d)")
    let series = zip(commands, samples).map { Series($0.0.0, samples: $0.1) }
    let data = try JSONEncoder().encode(series)
    FileHandle.standardOutput.write(data)
}
