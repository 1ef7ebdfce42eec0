/// An error qnet reports to a person: its `description` is one line naming the bad value
/// (or the failed step) and what is allowed or what to do; `isUsageError` tells bad input
/// from an operation the host refused.
///
/// Every error type a library target throws conforms, so the CLI maps any of them to
/// a message and an exit status in one place (QNetCommands' `ErrorReporting`) without
/// knowing the type. Errors that wrap another one (a QMP failure inside a VM start) pass
/// the inner error's `isUsageError` on when the fault is the inner one's.
public protocol UserFacingError: Error, CustomStringConvertible {
    /// Bad input (exit status 2): a value, name or file the user gave. Otherwise a failed
    /// operation (exit status 1).
    var isUsageError: Bool { get }
    /// The process exit status for this error; 2 for usage errors, else 1, unless the
    /// error has a status of its own (an interrupt: 128 + the signal).
    var exitCode: Int32 { get }
}

extension UserFacingError {
    /// Most failures are of the operation, not of the input.
    public var isUsageError: Bool { false }
    public var exitCode: Int32 { isUsageError ? 2 : 1 }
    /// The one line printed after `qnet: error: `.
    public var message: String { description }
}

extension SystemError: UserFacingError {}

extension FileLockBusy: UserFacingError {}

extension Interrupted: UserFacingError {
    /// The shell's convention for a process ended by a signal.
    public var exitCode: Int32 { 128 + signal }
}

extension HostLockBusy: UserFacingError {}

extension JournalError: UserFacingError {}

/// `text` as typed by someone, with control characters escaped (`\n`, `\r`, `\t`, `\0`,
/// the rest as `\u{1B}`, including C1 controls and the Unicode line and paragraph
/// separators), so an error message quoting it stays one line and cannot move the cursor.
public func printable(_ text: String) -> String {
    var result = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case "\0": result += "\\0"
        case _ where scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}":
            result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result
}

extension RecoveryFailed: UserFacingError {}
