import Foundation
import Glibc
import HostNetwork

// QNetBench: qnet against `ip` per step and `ip -batch`, inside namespaces it creates.
//
//   QNetBench run --qnet PATH [--qnet-pie PATH] --prefix NAME [--output FILE] [--save JSON] [--reps N] [--count N]
//   QNetBench report --from JSON --output FILE           (re-render from a saved run)
//   QNetBench phases --prefix NAME [--reps N] [--count N]  (only the "where the time goes" parts)
//   QNetBench show-phase ... / hook-phase ...            (internal: parts (d) and (e)/(f), under ip netns exec)
//
// Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN). bench/run.sh builds and runs it.

func option(_ arguments: [String], _ flag: String) -> String? {
    guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
}

func machineDescription(ip: String, brctl: String) -> [String] {
    var name = utsname()
    uname(&name)
    let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
        .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown CPU"
    let formatter = ISO8601DateFormatter()
    let ipVersion = (try? Spawn.check([ip, "-V"], capture: true))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
    var lines = [
        "nproc \(sysconf(Int32(_SC_NPROCESSORS_ONLN)))",
        "kernel \(release) (`uname -r`)",
        "CPU \(model)",
        "date \(formatter.string(from: Date()))",
        ipVersion,
    ]
    let environment = ProcessInfo.processInfo.environment
    if let swift = environment["QNET_BENCH_SWIFT_VERSION"], !swift.isEmpty { lines.append(swift) }
    if let source = environment["QNET_BENCH_SOURCE"], !source.isEmpty { lines.append(source) }
    if let build = environment["QNET_BENCH_BUILD"], !build.isEmpty { lines.append(build.trimmingCharacters(in: .whitespaces)) }
    _ = brctl
    return lines
}

func runAll(arguments: [String]) throws {
    guard geteuid() == 0 else { throw BenchFailure("run as root: the bench creates network namespaces and TAPs") }
    guard let qnet = option(arguments, "--qnet"), access(qnet, X_OK) == 0 else {
        throw BenchFailure("--qnet PATH to the release qnet executable is required")
    }
    guard let prefix = option(arguments, "--prefix"), !prefix.isEmpty else { throw BenchFailure("--prefix NAME is required") }
    let reps = Int(option(arguments, "--reps") ?? "") ?? 5
    let count = Int(option(arguments, "--count") ?? "") ?? 500
    let output = option(arguments, "--output")
    let workDirectory = NSTemporaryDirectory() + "qnetbench-\(getpid())"
    try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: workDirectory) }

    let tools = Tools(ip: try Spawn.resolve("ip"), bridge: try Spawn.resolve("bridge"), brctl: try Spawn.resolve("brctl"),
                      qnet: qnet, workDirectory: workDirectory, qnetPIE: option(arguments, "--qnet-pie"))
    var plan = ManyPlan()
    plan.count = count
    plan.reps = reps
    plan.perStepReps = min(3, reps)
    plan.batchDeleteReps = min(2, reps)

    tools.gate.wait("the run")
    let loadAtStart = loadAverage()
    log("(a) one NIC, \(reps * 4 + 1) repetitions")
    let labA = try Lab(name: "\(prefix)-a", ip: tools.ip)
    defer { labA.delete() }
    labA.gate = tools.gate
    let oneNIC = try benchOneNIC(lab: labA, tools: tools, reps: reps * 4)
    labA.delete()

    log("(e)/(f) start-up and QEMU's script= hook, \(reps * 4 + 1) repetitions (the classic script \(reps + 1))")
    let labE = try Lab(name: "\(prefix)-e", ip: tools.ip)
    defer { labE.delete() }
    labE.gate = tools.gate
    let hooks = try benchHooks(lab: labE, tools: tools, reps: reps * 4, classicReps: reps)
    labE.delete()

    // Each probe boots a guest under TCG (seconds): 3 pairs at most.
    log("(g) qnet probe, \(2 * min(reps, 3) + 1) runs (the first untimed)")
    let labG = try Lab(name: "\(prefix)-g", ip: tools.ip)
    defer { labG.delete() }
    labG.gate = tools.gate
    let probe = try benchProbe(lab: labG, tools: tools, reps: min(reps, 3))
    labG.delete()

    log("(b)/(c) \(count) TAPs, \(reps) repetitions")
    let labB = try Lab(name: "\(prefix)-bc", ip: tools.ip)
    defer { labB.delete() }
    labB.gate = tools.gate
    let many = try benchManyTAPs(lab: labB, tools: tools, plan: plan)
    labB.delete()

    log("phases: where (b) and (c) spend their time, \(reps) repetitions")
    let labP = try Lab(name: "\(prefix)-ph", ip: tools.ip)
    defer { labP.delete() }
    labP.gate = tools.gate
    let phases = try benchPhases(lab: labP, tools: tools, count: count, reps: reps, group: plan.group)
    labP.delete()

    log("(d) show a bridge with \(count) ports, \(reps * 4 + 1) repetitions")
    let labD = try Lab(name: "\(prefix)-d", ip: tools.ip)
    defer { labD.delete() }
    labD.gate = tools.gate
    let show = try benchShow(lab: labD, tools: tools, count: count, reps: reps * 4, group: plan.group)
    labD.delete()

    let machine = machineDescription(ip: tools.ip, brctl: tools.brctl)
        + ["load average \(loadAtStart) at the start of the run, \(loadAverage()) at the end; "
           + "before each timed step the bench waited for ≥ 50 % idle CPU time (\(Int(tools.gate.waited)) s waited in all"
           + (tools.gate.gaveUp > 0 ? ", gave up waiting \(tools.gate.gaveUp) times" : "") + ")"]
    let results = Results(machine: machine, oneNIC: oneNIC, many: many,
                          show: show, phases: phases, plan: plan, showPorts: count, hooks: hooks.hooks,
                          pie: hooks.extra.filter { $0.label.contains("PIE") },
                          hookTmpfs: hooks.extra.first { $0.label.contains("tmpfs") }, probe: probe)
    if let save = option(arguments, "--save") {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(results).write(to: URL(fileURLWithPath: save))
        log("saved the measurements to \(save)")
    }
    let markdown = results.markdown()
    if let output {
        try markdown.write(toFile: output, atomically: true, encoding: .utf8)
        log("wrote \(output)")
    } else {
        print(markdown)
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "run": try runAll(arguments: arguments)
    case "show-phase": try showPhase(arguments: arguments)
    case "hook-phase": try hookPhase(arguments: arguments)
    case "report":
        // Re-renders BENCHMARKS.md from the measurements a run saved (--save): the text can
        // change, the numbers stay those of that run.
        guard let from = option(arguments, "--from"), let output = option(arguments, "--output") else {
            throw BenchFailure("report needs --from FILE --output FILE")
        }
        let results = try JSONDecoder().decode(Results.self, from: Data(contentsOf: URL(fileURLWithPath: from)))
        try results.markdown().write(toFile: output, atomically: true, encoding: .utf8)
        log("wrote \(output) from the measurements in \(from)")
    case "phases":
        guard let prefix = option(arguments, "--prefix") else { throw BenchFailure("--prefix NAME is required") }
        let ip = try Spawn.resolve("ip")
        let lab = try Lab(name: "\(prefix)-ph", ip: ip)
        defer { lab.delete() }
        let tools = Tools(ip: ip, bridge: try Spawn.resolve("bridge"), brctl: "", qnet: "", workDirectory: NSTemporaryDirectory())
        lab.gate = tools.gate
        for series in try benchPhases(lab: lab, tools: tools, count: Int(option(arguments, "--count") ?? "") ?? 500,
                                      reps: Int(option(arguments, "--reps") ?? "") ?? 5, group: 4242) {
            print(String(format: "%9.1f ms  ", series.median * 1000) + series.label)
        }
    default:
        FileHandle.standardError.write(Data("usage: QNetBench run --qnet PATH --prefix NAME [--output FILE] [--reps N] [--count N]\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("QNetBench: FAILED: \(error)\n".utf8))
    exit(1)
}
