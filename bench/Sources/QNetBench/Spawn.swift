import Glibc
import QNetSystem

/// Starts processes with posix_spawn, as a shell script would, and waits for them.
enum Spawn {
    /// Absolute path of `tool`, searched in PATH plus the sbin directories.
    static func resolve(_ tool: String) throws -> String {
        if tool.contains("/") { return tool }
        let path = (getenv("PATH").map { String(cString: $0) } ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(tool)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw BenchFailure("\(tool) not found in PATH (install it: iproute2 for ip/bridge, bridge-utils for brctl)")
    }

    /// Runs `argv` (argv[0] an absolute path) with stdout sent to /dev/null, or captured
    /// when `capture` is true; stderr is inherited so failures are visible. `setting` adds to
    /// (or replaces in) this process's environment. Returns the exit status and the captured output.
    @discardableResult
    static func run(_ argv: [String], capture: Bool = false, setting: [String: String] = [:]) throws -> (status: Int32, output: String) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var pipeEnds: [Int32] = [-1, -1]
        if capture {
            guard pipe(&pipeEnds) == 0 else { throw BenchFailure("pipe failed: errno \(errno)") }
            posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipeEnds[1])
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        let cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var cEnvironment: [UnsafeMutablePointer<CChar>?] = []
        if !setting.isEmpty {
            var index = 0
            while let entry = environ[index] {
                let text = String(cString: entry)
                if !setting.keys.contains(where: { text.hasPrefix($0 + "=") }) { cEnvironment.append(strdup(entry)) }
                index += 1
            }
            cEnvironment += setting.map { strdup("\($0.key)=\($0.value)") } + [nil]
        }
        defer { for pointer in cEnvironment { free(pointer) } }
        var pid: pid_t = 0
        let result = setting.isEmpty ? posix_spawn(&pid, argv[0], &actions, nil, cArguments, environ)
                                     : posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
        if capture { close(pipeEnds[1]) }
        guard result == 0 else {
            if capture { close(pipeEnds[0]) }
            throw BenchFailure("posix_spawn \(argv[0]) failed: errno \(result)")
        }
        var output: [UInt8] = []
        if capture {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                output.append(contentsOf: buffer[0..<count])
            }
            close(pipeEnds[0])
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw BenchFailure("waitpid failed: errno \(errno)") }
        }
        // WIFEXITED / WEXITSTATUS are macros: decode by hand.
        let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exitCode, String(decoding: output, as: UTF8.self))
    }

    /// Runs `argv` and throws unless it exits 0.
    @discardableResult
    static func check(_ argv: [String], capture: Bool = false) throws -> String {
        let (status, output) = try run(argv, capture: capture)
        guard status == 0 else { throw BenchFailure("`\(argv.joined(separator: " "))` exited with status \(status)") }
        return output
    }

    /// Times one process from posix_spawn to waitpid; throws unless it exits 0.
    static func time(_ argv: [String], setting: [String: String] = [:]) throws -> Double {
        let start = monotonicSeconds()
        let (status, _) = try run(argv, setting: setting)
        let elapsed = monotonicSeconds() - start
        guard status == 0 else { throw BenchFailure("`\(argv.joined(separator: " "))` exited with status \(status)") }
        return elapsed
    }
}

/// Times each of `commands` once per repetition, `reps + 1` repetitions of which the first
/// is an untimed warm-up; returns each command's samples. Before each repetition `gate`
/// waits for an idle machine. That wait sleeps, and the first process after it ran slower
/// than the rest (in the run of 282d885 `qnet --version`, always first, took 5.84 ms median
/// and `qnet --help`, always second and doing more, 5.03 ms): so an untimed `/bin/true` runs
/// right after the wait, and the order rotates by one each repetition, so that no command
/// is always first.
func timeInterleaved(_ commands: [[String]], reps: Int, gate: QuietGate, what: String) throws -> [[Double]] {
    var samples = commands.map { _ in [Double]() }
    for rep in 0...reps {
        gate.wait("\(what) repetition \(rep)")
        try Spawn.check(["/bin/true"])
        for step in 0..<commands.count {
            let index = (step + rep) % commands.count
            let seconds = try Spawn.time(commands[index])
            if rep > 0 { samples[index].append(seconds) }
        }
    }
    return samples
}
