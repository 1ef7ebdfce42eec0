import ArgumentParser
import HostNetwork
import Netlink
import QEMU
import QMP
import VirtualMachines
import GuestImage

/// A failed operation: printed as one line, exit status 1.
struct OperationFailed: Error, CustomStringConvertible {
    var description: String
}

/// Maps library errors to the CLI's contract: one line on stderr; exit 2 for bad input,
/// 1 for a failed operation.
public enum ErrorReporting {
    public static func exitCode(for error: Error) -> Int32 {
        switch error {
        case let error as HostNetworkError: error.isUsageError ? 2 : 1
        case let error as VMError: error.isUsageError ? 2 : 1
        case let error as QEMUError: error.isUsageError ? 2 : 1
        case is QMPError: 1
        case let error as UserModeError: error.isUsageError ? 2 : 1
        case let error as NetworkError: error.isUsageError ? 2 : 1
        case let error as NetworkConfigError: error.isUsageError ? 2 : 1
        case let error as GuestImageError: error.isUsageError ? 2 : 1
        case is RolledBackError, is OperationFailed, is NetlinkError, is NamespaceError: 1
        default: QNet.exitCode(for: error).rawValue == 0 ? 0 : 2
        }
    }

    public static func message(for error: Error) -> String {
        switch error {
        case let error as HostNetworkError: error.description
        case let error as VMError: error.description
        case let error as QEMUError: error.description
        case let error as QMPError: error.description
        case let error as UserModeError: error.description
        case let error as NetworkError: error.description
        case let error as NetworkConfigError: error.description
        case let error as GuestImageError: error.description
        case let error as RolledBackError: error.description
        case let error as OperationFailed: error.description
        case let error as NetlinkError: error.description
        case let error as NamespaceError: error.description
        default: oneLine(QNet.message(for: error))
        }
    }

    /// Parse errors come from ArgumentParser, sometimes over several lines; the CLI's
    /// contract is one line per error.
    static func oneLine(_ text: String) -> String {
        text.split(separator: "\n")
            .map { line in String(line.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
            .filter { !$0.isEmpty }
            .joined(separator: "; ")
    }
}
