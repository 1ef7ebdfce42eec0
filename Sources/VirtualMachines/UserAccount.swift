import Glibc
import QNetSystem

/// The account QEMU runs as when `--user` names one (otherwise a uid of its own from the
/// VM uid range: `VMUserRange`). Never root unless asked for by name. The same type as `UserIdentity` (QNetSystem); this
/// file adds the policy for choosing it.
public typealias UserAccount = UserIdentity

extension UserIdentity {
    public static let systemUserName = "qnet"

    /// Resolves who QEMU runs as.
    public static func resolve(requested: String?) throws -> UserAccount {
        if let requested {
            guard let account = lookup(requested) else {
                throw VMError.noSuchUser(requested, requested: true)
            }
            return account
        }
        if let sudo = getenv("SUDO_USER").map({ String(cString: $0) }), !sudo.isEmpty, sudo != "root", let account = lookup(sudo) {
            return account
        }
        guard let account = lookup(systemUserName) else {
            throw VMError.noSuchUser(systemUserName, requested: false)
        }
        return account
    }
}
