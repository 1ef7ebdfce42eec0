import Foundation
import Glibc
import QNetSystem

// MARK: - (e) start-up and (f) QEMU's script= hook

/// The scripts QEMU could run as `script=`, each as QEMU runs it: `execv(script, [script, TAP])`.
struct HookScripts: Codable {
    /// `qemu-ifup`, a symlink to qnet (what `make install` puts in PREFIX/libexec/qnet).
    var qnet: String
    /// Two `ip` processes: `ip link set "$1" up && ip link set "$1" master br0`.
    var twoIP: String
    /// The classic /etc/qemu-ifup of countless guides (the same as bench/vm-bench.sh's recipe).
    var classic: String
    /// `pie/qemu-ifup` (qnet knows the hook by its name), a symlink to the PIE build of the
    /// same objects (`make bench-build` links it as qnet-pie).
    var pie: String

    init(directory: String) {
        qnet = "\(directory)/qemu-ifup"
        twoIP = "\(directory)/qemu-ifup-ip"
        classic = "\(directory)/qemu-ifup-classic"
        pie = "\(directory)/pie/qemu-ifup"
    }
}

/// Makes `link` a symlink to `target`'s absolute path (a relative target would be read
/// from the link's folder).
func linkAbsolutely(_ link: String, to target: String) throws {
    unlink(link)
    guard let resolved = realpath(target, nil) else { throw BenchFailure("cannot resolve \(target): errno \(errno)") }
    let absolute = String(cString: resolved)
    free(resolved)
    guard symlink(absolute, link) == 0 else { throw BenchFailure("cannot link \(link) to \(target): errno \(errno)") }
}

/// Writes the hook scripts into `directory`.
@discardableResult
func writeHookScripts(qnet: String, qnetPIE: String?, ip: String, brctl: String, in directory: String) throws -> HookScripts {
    let scripts = HookScripts(directory: directory)
    try linkAbsolutely(scripts.qnet, to: qnet)
    if let qnetPIE {
        try FileSystem.makeDirectories("\(directory)/pie")
        try linkAbsolutely(scripts.pie, to: qnetPIE)
    }
    try "#!/bin/sh\n\(ip) link set \"$1\" up && \(ip) link set \"$1\" master br0\n"
        .write(toFile: scripts.twoIP, atomically: true, encoding: .utf8)
    try "#!/bin/sh\n\(ip) link set \"$1\" up\nsleep 0.5\n\(brctl) addif br0 \"$1\"\n"
        .write(toFile: scripts.classic, atomically: true, encoding: .utf8)
    for path in [scripts.twoIP, scripts.classic] { chmod(path, 0o755) }
    return scripts
}

/// Runs the (e) and (f) timings inside the lab's namespace (this program re-run under
/// `ip netns exec`, as QEMU's hook would run there) and returns them: the 7 series of (e)
/// and (f), then (with `tools.qnetPIE`) `--version` and the hook of the PIE build, then the
/// hook with qnet's runtime dir on a tmpfs.
func benchHooks(lab: Lab, tools: Tools, reps: Int, classicReps: Int) throws -> (hooks: [Series], extra: [Series]) {
    try writeHookScripts(qnet: tools.qnet, qnetPIE: tools.qnetPIE, ip: tools.ip, brctl: tools.brctl, in: tools.workDirectory)
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    let output = try Spawn.check([tools.ip, "netns", "exec", lab.name, executable, "hook-phase",
                                  "--qnet", tools.qnet, "--ip", tools.ip, "--scripts", tools.workDirectory,
                                  "--reps", String(reps), "--classic-reps", String(classicReps)]
                                 + (tools.qnetPIE.map { ["--qnet-pie", $0] } ?? []), capture: true)
    let series = try JSONDecoder().decode([Series].self, from: Data(output.utf8))
    return (Array(series.prefix(7)), Array(series.dropFirst(7)))
}

/// The part of (e)/(f) that runs inside the namespace: prints the series as JSON.
///
/// (e): `qnet --version`, `qnet --help`, `ip link show dev lo` and `/bin/true`, interleaved.
/// (f): a persistent TAP `hook0` (made by `ip tuntap add`, down, no master) is handed to each
/// hook in turn, as QEMU hands it the TAP it made; each run is checked (the TAP is up and a
/// port of br0, `ip -j`) and undone (`ip link set hook0 nomaster down`), untimed.
func hookPhase(arguments: [String]) throws {
    func value(_ flag: String) throws -> String {
        guard let found = option(arguments, flag) else { throw BenchFailure("hook-phase needs \(flag)") }
        return found
    }
    let qnet = try value("--qnet"), ip = try value("--ip"), directory = try value("--scripts")
    let reps = Int(try value("--reps")) ?? 28
    let classicReps = Int(try value("--classic-reps")) ?? 7
    let qnetPIE = option(arguments, "--qnet-pie")
    let scripts = HookScripts(directory: directory)
    let tap = "hook0"
    let gate = QuietGate()

    // (e) start-up. `--version` must print the version and nothing else.
    let version = try Spawn.check([qnet, "--version"], capture: true).trimmingCharacters(in: .whitespacesAndNewlines)
    guard version.first?.isNumber == true, !version.contains(" ") else { throw BenchFailure("qnet --version printed '\(version)'") }
    var startup: [(String, [String])] = [
        ("`qnet --version`", [qnet, "--version"]),
        ("`qnet --help` (the whole command tree through ArgumentParser)", [qnet, "--help"]),
        ("`ip link show dev lo` (start-up + one small request)", [ip, "link", "show", "dev", "lo"]),
        ("`/bin/true` (a process start-up floor)", ["/bin/true"]),
    ]
    if let qnetPIE { startup.append(("`qnet --version`, the same objects linked as a PIE with DT_RELR (not shipped)", [qnetPIE, "--version"])) }
    let startupSamples = try timeInterleaved(startup.map(\.1), reps: reps, gate: gate, what: "(e)")
    var startupSeries = zip(startup, startupSamples).map { Series($0.0.0, samples: $0.1) }
    let pieVersion = qnetPIE == nil ? nil : startupSeries.removeLast()

    // (f) the hooks.
    try Spawn.check([ip, "tuntap", "add", tap, "mode", "tap"])
    defer { _ = try? Spawn.run([ip, "link", "del", tap]) }
    func linkState() throws -> (master: String?, up: Bool) {
        let output = try Spawn.check([ip, "-j", "link", "show", "dev", tap], capture: true)
        guard let links = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]], let link = links.first else {
            throw BenchFailure("cannot read \(tap) with ip -j")
        }
        return (link["master"] as? String, ((link["flags"] as? [String]) ?? []).contains("UP"))
    }
    func reset(after label: String) throws {
        let state = try linkState()
        guard state.master == "br0", state.up else {
            throw BenchFailure("after \(label): \(tap) is \(state.up ? "up" : "down") with master \(state.master ?? "none"), expected up on br0")
        }
        try Spawn.check([ip, "link", "set", tap, "nomaster", "down"])
        let undone = try linkState()
        guard undone.master == nil, !undone.up else { throw BenchFailure("cannot detach \(tap) after \(label)") }
    }
    var hooks: [(String, [String], Int)] = [
        ("`qemu-ifup TAP`, a symlink to qnet (`qnet ifup`)", [scripts.qnet, tap], reps),
        ("two-process ip script: `ip link set $1 up && ip link set $1 master br0`", [scripts.twoIP, tap], reps),
        ("classic script: `ip link set $1 up; sleep 0.5; brctl addif br0 $1`", [scripts.classic, tap], classicReps),
    ]
    if qnetPIE != nil { hooks.append(("`qemu-ifup TAP`, a symlink to the PIE build (not shipped)", [scripts.pie, tap], reps)) }
    // The same hook with qnet's runtime dir (lock, journal) on a tmpfs, as /run is on Debian.
    let tmpfs = try tmpfsStateDirectory()
    defer { FileSystem.removeTree(tmpfs) }
    hooks.append(("`qemu-ifup TAP` (qnet) with its runtime dir (lock) on a tmpfs", [scripts.qnet, tap], reps))
    let settings: [[String: String]] = hooks.map { $0.0.contains("tmpfs") ? ["QNET_STATE_DIR": tmpfs] : [:] }
    var hookSeries = hooks.map { Series($0.0) }
    for rep in 0...reps {
        gate.wait("(f) repetition \(rep)")
        for (index, hook) in hooks.enumerated() where rep <= hook.2 {
            usleep(20_000)
            let seconds = try Spawn.time(hook.1, setting: settings[index])
            try reset(after: hook.0)
            if rep > 0 { hookSeries[index].samples.append(seconds) }
        }
    }
    let tmpfsHook = hookSeries.removeLast()
    let pieHook = qnetPIE == nil ? nil : hookSeries.removeLast()
    FileHandle.standardOutput.write(try JSONEncoder().encode(startupSeries + hookSeries + [pieVersion, pieHook, tmpfsHook].compactMap { $0 }))
}
