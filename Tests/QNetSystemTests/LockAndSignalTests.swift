import Foundation
import Glibc
import QNetSystem
import SystemPackage
import Testing

@Suite struct FileLockTests {
    @Test func aSecondOpenOfTheLockLosesAndNamesTheHolder() throws {
        let directory = try TestDirectory()
        let path = directory.file("net.lock")
        let lock = try FileLock.tryAcquire(path)
        let busy = try #require(throws: FileLockBusy.self) { try FileLock.tryAcquire(path) }
        #expect(busy.holder == getpid())
        #expect(busy.description == "\(path) is held by pid \(getpid())")
        lock.release()
        lock.release()  // idempotent
        let again = try FileLock.tryAcquire(path)
        again.release()
    }

    /// The holder record is written over the previous one (not truncated to 0 first, which
    /// costs ms on ext4) and cut to its own length: a shorter record leaves nothing of a
    /// longer one behind, and a note's line breaks become spaces.
    @Test func aShorterRecordReplacesALongerOneWhole() throws {
        let directory = try TestDirectory()
        let path = directory.file("net.lock")
        try FileLock.tryAcquire(path, note: "qnet bridge create br0 --uplink eth0 --address 192.0.2.1/24").release()
        try FileLock.tryAcquire(path, note: "qnet ifup\ntap0").release()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "\(getpid())\nqnet ifup tap0\n")
        let held = try FileLock.tryAcquire(path)
        defer { held.release() }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "\(getpid())\n")
        let busy = try #require(throws: FileLockBusy.self) { try FileLock.tryAcquire(path) }
        #expect(busy.holder == getpid() && busy.holderNote == nil)
    }

    @Test func anotherProcessSeesTheLockAndItsHolder() throws {
        let directory = try TestDirectory()
        let path = directory.file("net.lock")
        let flock = try #require(Subprocess.which("flock", searchPath: "/usr/bin:/bin"))
        let lock = try FileLock.tryAcquire(path)
        let refused = try Subprocess.run(Command(flock, ["--nonblock", path, "cat", path]))
        #expect(refused.termination == .exited(1))  // flock(1): could not take the lock
        lock.release()
        let taken = try Subprocess.run(Command(flock, ["--nonblock", path, "cat", path]))
        #expect(taken.termination == .exited(0))
        #expect(taken.standardOutput == "\(getpid())\n")  // the holder's pid, recorded in the file
    }

    @Test func aLockHeldByAnotherProcessIsReportedWithItsPid() throws {
        let directory = try TestDirectory()
        let path = directory.file("net.lock")
        let (readEnd, writeEnd) = try Subprocess.makePipe()
        defer { close(readEnd) }
        // The child takes the lock on its descriptor 9 and records its pid as FileLock does.
        let script = "exec 9<>\"$0\"; flock --exclusive 9; echo $$ >&9; echo locked; exec sleep 30"
        let pid = try Subprocess.startDetached(Command("/bin/sh", ["-c", script, path]), output: writeEnd)
        close(writeEnd)
        defer { Subprocess.stop(pid) }
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(read(readEnd, &buffer, buffer.count) > 0)  // "locked"
        let busy = try #require(throws: FileLockBusy.self) { try FileLock.acquire(path, timeout: .milliseconds(100)) }
        #expect(busy.holder == pid)
        #expect(FileLock.recordedHolder(path) == pid)
        Subprocess.stop(pid)
        // The holder died: the kernel dropped its lock, whatever the file still says.
        let lock = try FileLock.acquire(path, timeout: .seconds(10))
        #expect(FileLock.recordedHolder(path) == getpid())
        lock.release()
    }

    @Test func aLockFileThatIsASymlinkIsRefused() throws {
        let directory = try TestDirectory()
        #expect(symlink(directory.file("elsewhere"), directory.file("net.lock")) == 0)
        let error = try #require(throws: SystemError.self) { try FileLock.tryAcquire(directory.file("net.lock")) }
        #expect(error.errno == .tooManySymbolicLinkLevels)
        #expect(!FileManager.default.fileExists(atPath: directory.file("elsewhere")))
    }
}

/// Set by the SIGUSR2 handler below.
nonisolated(unsafe) private var usr2Delivered: sig_atomic_t = 0

@Suite struct DeferredSignalTests {
    @Test func aDeferredSignalIsTakenAtTheSafePoint() throws {
        let deferred = try DeferredSignals()
        defer { while deferred.take() != nil {}; deferred.restore() }
        #expect(deferred.pending() == nil)
        try deferred.checkpoint()  // nothing pending: no throw
        // Directed at this thread, as a terminal's Ctrl-C reaches the blocked main thread.
        #expect(pthread_kill(pthread_self(), SIGTERM) == 0)
        // Still running: SIGTERM waits.
        #expect(deferred.pending() == SIGTERM)
        let interrupted = try #require(throws: Interrupted.self) { try deferred.checkpoint() }
        #expect(interrupted.signal == SIGTERM)
        #expect(interrupted.description == "interrupted by SIGTERM")
        #expect(deferred.pending() == nil)
    }

    @Test func eachOfINTTERMHUPIsDeferred() throws {
        let deferred = try DeferredSignals()
        defer { while deferred.take() != nil {}; deferred.restore() }
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            #expect(pthread_kill(pthread_self(), signal) == 0)
            #expect(deferred.take() == signal)
        }
        #expect(deferred.take() == nil)
    }

    @Test func aSignalStillPendingAtRestoreIsDeliveredThen() throws {
        usr2Delivered = 0
        let previous = signal(SIGUSR2) { _ in usr2Delivered = 1 }
        defer { signal(SIGUSR2, previous) }
        // Test threads may start with signals blocked (dispatch's workers do): unblock
        // SIGUSR2 here first, so the mask restored below lets it through.
        var usr2 = sigset_t(), threadMask = sigset_t()
        sigemptyset(&usr2)
        sigaddset(&usr2, SIGUSR2)
        #expect(pthread_sigmask(SIG_UNBLOCK, &usr2, &threadMask) == 0)
        defer { pthread_sigmask(SIG_SETMASK, &threadMask, nil) }
        let deferred = try DeferredSignals([SIGUSR2])
        #expect(pthread_kill(pthread_self(), SIGUSR2) == 0)
        #expect(usr2Delivered == 0)
        #expect(deferred.pending() == SIGUSR2)
        deferred.restore()
        #expect(usr2Delivered == 1)
    }
}
