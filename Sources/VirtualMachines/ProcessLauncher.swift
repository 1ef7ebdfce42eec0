import CLinuxNet
import Glibc
import QEMU
import QNetSystem
import SystemPackage

/// Starts a program as another user with chosen descriptors in place.
/// Equivalent to `setpriv --reuid U --regid G --clear-groups PROGRAM` with descriptors
/// inherited at fixed numbers. Needs CAP_SETUID/CAP_SETGID to change user.
enum ProcessLauncher {
    /// Returns the child's pid. `descriptors` maps an open descriptor here to the number
    /// it gets in the child; `output` receives the child's stdout and stderr.
    static func spawn(_ path: String, arguments: [String], environment: [String: String],
                      descriptors: [(from: Int32, to: Int32)], output: Int32, user: UserAccount?,
                      newSession: Bool, workingDirectory: String?) throws -> pid_t {
        let argv = ([path] + arguments).map { strdup($0) }
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var argvList: [UnsafeMutablePointer<CChar>?] = argv + [nil]
        var envpList: [UnsafeMutablePointer<CChar>?] = envp + [nil]
        let from = descriptors.map(\.from)
        let to = descriptors.map(\.to)
        var childErrno: Int32 = 0
        let uid = user.map(\.uid) ?? uid_t.max
        let gid = user.map(\.gid) ?? gid_t.max
        let pid = argvList.withUnsafeMutableBufferPointer { argvBuffer in
            envpList.withUnsafeMutableBufferPointer { envpBuffer in
                from.withUnsafeBufferPointer { fromBuffer in
                    to.withUnsafeBufferPointer { toBuffer in
                        qnet_spawn(path, argvBuffer.baseAddress, envpBuffer.baseAddress, fromBuffer.baseAddress, toBuffer.baseAddress,
                                   Int32(descriptors.count), output, uid, gid, newSession ? 1 : 0, workingDirectory, &childErrno)
                    }
                }
            }
        }
        guard pid > 0 else {
            throw VMError.qemuStartFailed(SystemError(errno: Errno(rawValue: childErrno), operation: "spawn", path: path))
        }
        return pid
    }

    /// Finds an executable on PATH (the same search the QEMU target uses for its binaries).
    static func which(_ program: String) -> String? {
        QEMUBinary.locate(program)
    }
}
