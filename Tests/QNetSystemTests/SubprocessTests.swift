import Foundation
import Glibc
import QNetSystem
import QNetTestSupport
import SystemPackage
import Testing

@Suite struct SubprocessTests {
    let shell = "/bin/sh"

    @Test func runCapturesOutputErrorsAndExitStatus() throws {
        let result = try Subprocess.run(Command(shell, ["-c", "echo out; echo err >&2; exit 3"]))
        #expect(result.termination == .exited(3))
        #expect(result.standardOutput == "out\n")
        #expect(result.standardError == "err\n")
        #expect(result.lastErrorLine == "err")
        #expect(!result.succeeded)
    }

    @Test func runCapturesMoreThanAPipeHolds() throws {
        // 1 MiB on stdout and stderr at once: a runner that read one pipe after the other
        // would deadlock on the full second pipe.
        let script = "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2"
        let result = try Subprocess.run(Command(shell, ["-c", script]), timeout: .seconds(30))
        #expect(result.termination == .exited(0))
        #expect(result.output.count == 1_048_576)
        #expect(result.errors.count == 1_048_576)
    }

    @Test func runKillsAndReapsAChildThatOutlivesTheTimeout() throws {
        let result = try Subprocess.run(Command(shell, ["-c", "echo $$; exec sleep 30"]), timeout: .milliseconds(300))
        #expect(result.termination == .timedOut)
        let pid = try #require(pid_t(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)))
        // Killed and reaped: not even a zombie is left.
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
    }

    @Test func spawnFailureIsASystemErrorNamingTheProgram() throws {
        let error = try #require(throws: SystemError.self) { try Subprocess.run(Command("/nonexistent/qnet-test-program")) }
        #expect(error.errno == .noSuchFileOrDirectory)
        #expect(error.path == "/nonexistent/qnet-test-program")
        #expect(error.description == "start /nonexistent/qnet-test-program: No such file or directory")
    }

    @Test func descriptorsArePassedOnlyWhereMapped() throws {
        let (readEnd, writeEnd) = try Subprocess.makePipe()
        defer { close(readEnd) }
        let result = try Subprocess.run(Command(shell, ["-c", "echo hello >&5"], descriptors: [5: writeEnd]))
        close(writeEnd)
        #expect(result.termination == .exited(0))
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(readEnd, &buffer, buffer.count)
        #expect(count > 0 && String(decoding: buffer[0..<count], as: UTF8.self) == "hello\n")
    }

    @Test func everyUnmappedDescriptorIsClosedInTheChild() throws {
        // A descriptor opened without O_CLOEXEC here must still not reach the child.
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(devNull) }
        let leaky = fcntl(devNull, F_DUPFD, 100)  // F_DUPFD: without FD_CLOEXEC
        #expect(leaky >= 100 && fcntl(leaky, F_GETFD) & FD_CLOEXEC == 0)
        defer { close(leaky) }
        let (readEnd, writeEnd) = try Subprocess.makePipe()
        defer { close(readEnd); close(writeEnd) }
        let result = try Subprocess.run(Command("/bin/ls", ["-1", "/proc/self/fd"], descriptors: [7: writeEnd]))
        #expect(result.termination == .exited(0))
        let open = Set(result.standardOutput.split(separator: "\n").compactMap { Int32($0) })
        #expect(open.contains(7))
        #expect(!open.contains(leaky))
        // 0, 1, 2, the mapped 7, and the one descriptor ls itself opened on /proc/self/fd.
        let unexpected = open.subtracting([0, 1, 2, 7])
        #expect(unexpected.count == 1, "the child had \(open.sorted())")
    }

    @Test func childrenStartWithAnEmptySignalMaskWhileSignalsAreDeferred() throws {
        let deferred = try DeferredSignals()
        defer { deferred.restore() }
        let result = try Subprocess.run(Command(shell, ["-c", "grep SigBlk /proc/self/status"]))
        #expect(result.standardOutput.contains("SigBlk:\t0000000000000000"))
    }

    @Test func environmentIsExactlyTheOneGiven() throws {
        let result = try Subprocess.run(Command("/usr/bin/env", environment: ["ONLY": "this"]))
        #expect(result.standardOutput == "ONLY=this\n")
    }

    @Test func workingDirectoryAndNewSession() throws {
        let directory = try TestDirectory()
        let result = try Subprocess.run(Command(shell, ["-c", "pwd; ps -o sid= -p $$ | tr -d ' '; echo $$"],
                                                newSession: true, workingDirectory: directory.path))
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.first == directory.path)
        // setsid: the child leads its own session.
        #expect(lines.count == 3 && lines[1] == lines[2])
    }

    @Test(Privileged.enabled) func runsAsTheGivenUser() throws {
        let nobody = try #require(UserIdentity.lookup("nobody"))
        let result = try Subprocess.run(Command("/usr/bin/id", ["-u"], user: nobody))
        #expect(result.standardOutput == "\(nobody.uid)\n")
    }

    @Test func stopEndsAChildWithSIGTERM() throws {
        let pid = try Subprocess.startDetached(Command("/bin/sleep", ["30"]), output: nil)
        let outcome = Subprocess.stop(pid, grace: .seconds(10))
        #expect(outcome.stopped)
        #expect(outcome.termination == .signaled(SIGTERM))
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
    }

    @Test func stopEscalatesToSIGKILLWhenSIGTERMIsIgnored() throws {
        let (readEnd, writeEnd) = try Subprocess.makePipe()
        defer { close(readEnd) }
        // An ignored signal stays ignored across exec: sleep will not die of SIGTERM.
        let pid = try Subprocess.startDetached(Command(shell, ["-c", "trap '' TERM; echo ready; exec sleep 30"]), output: writeEnd)
        close(writeEnd)
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(read(readEnd, &buffer, buffer.count) > 0)  // the trap is set
        let outcome = Subprocess.stop(pid, grace: .milliseconds(200))
        #expect(outcome.termination == .signaled(SIGKILL))
    }

    @Test func reapIfExitedReapsOnceTheChildHasEnded() throws {
        let pid = try Subprocess.spawn(Command("/bin/true"))
        var termination: Termination?
        #expect(waitUntil(timeout: 10) {
            termination = Subprocess.reapIfExited(pid)
            return termination != nil
        })
        #expect(termination == .exited(0))
        #expect(Subprocess.reapIfExited(pid) == nil)
    }

    @Test func whichSearchesThePath() throws {
        let directory = try TestDirectory()
        #expect(creat(directory.file("data"), 0o644) >= 0)
        #expect(Subprocess.which("data", searchPath: directory.path) == nil)  // not executable
        #expect(Subprocess.which("sh", searchPath: "/nonexistent:relative:/bin") == "/bin/sh")
        #expect(Subprocess.which("sh", searchPath: "/nonexistent") == nil)
        #expect(Subprocess.which("qnet-no-such-program-anywhere") == nil)
        #expect(Subprocess.which("/bin/sh") == "/bin/sh")
        #expect(Subprocess.which(directory.file("data")) == nil)
    }
}

@Suite struct ProcessIdentityTests {
    @Test func identityDetectsPidReuseByStartTime() throws {
        let pid = try Subprocess.startDetached(Command("/bin/sleep", ["30"]), output: nil)
        defer { Subprocess.stop(pid) }
        let identity = try #require(ProcessIdentity.of(pid))
        #expect(identity.isRunning)
        #expect(identity.executable?.hasSuffix("sleep") == true)
        // The same pid with another start time is another process that got the pid later.
        var reused = identity
        reused.startTime += 1
        #expect(!reused.isRunning)
        // Same pid and start time, another executable: the process exec'd something else.
        var replaced = identity
        replaced.executable = "/usr/bin/other"
        #expect(!replaced.isRunning)
        Subprocess.stop(pid)
        #expect(!identity.isRunning)
        #expect(ProcessIdentity.of(pid) == nil)
    }

    @Test func stoppingByIdentityNeverSignalsAReusedPid() throws {
        let pid = try Subprocess.startDetached(Command("/bin/sleep", ["30"]), output: nil)
        defer { Subprocess.stop(pid) }
        var recorded = try #require(ProcessIdentity.of(pid))
        recorded.startTime += 1  // the process that had this pid is gone; this one came later
        _ = Subprocess.stop(recorded, grace: .milliseconds(100))
        #expect(ProcessIdentity.of(pid) != nil, "a process that only shares the pid was signalled")
        recorded.startTime -= 1
        #expect(Subprocess.stop(recorded, grace: .seconds(10)).termination == .signaled(SIGTERM))
    }

    @Test func aZombieHasNoIdentity() throws {
        let pid = try Subprocess.spawn(Command("/bin/true"))
        #expect(waitUntil(timeout: 10) { ProcessIdentity.state(of: pid) == "Z" })
        #expect(Subprocess.hasExited(pid))
        #expect(ProcessIdentity.of(pid) == nil)
        #expect(Subprocess.wait(pid) == .exited(0))
    }

    @Test func identityRoundTripsThroughJSON() throws {
        let identity = try #require(ProcessIdentity.current())
        let decoded = try JSONDecoder().decode(ProcessIdentity.self, from: JSONEncoder().encode(identity))
        #expect(decoded == identity)
        #expect(decoded.isRunning)
    }
}
