import ArgumentParser
import QNetSystem

/// A failed operation the CLI itself detects: printed as one line, exit status 1.
struct OperationFailed: UserFacingError {
    var description: String
}

/// The CLI's one mapping from an error to what the user sees: one line on stderr and an
/// exit status — 2 for bad input, 1 for a failed operation, 0 for --help and --version.
///
/// Every library error is a `UserFacingError` and says which it is. Everything else comes
/// from ArgumentParser (a bad option, or a `ValidationError` from a command), which is
/// bad input.
public enum ErrorReporting {
    public static func exitCode(for error: Error) -> Int32 {
        if let error = error as? any UserFacingError { return error.exitCode }
        return QNet.exitCode(for: error) == .success ? 0 : 2
    }

    public static func message(for error: Error) -> String {
        if let error = error as? any UserFacingError { return oneLine(error.message) }
        return oneLine(QNet.message(for: error))
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
