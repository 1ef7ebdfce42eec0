import QNetTypes

extension InterfaceName {
    /// Throws ``HostNetworkError/invalidName(_:reason:)`` unless `name` is usable.
    /// `allowTemplate` accepts one `%d`, which the kernel replaces with a free number.
    public static func validate(_ name: String, allowTemplate: Bool = false) throws {
        if let reason = problem(with: name, allowTemplate: allowTemplate) {
            throw HostNetworkError.invalidName(name, reason: reason)
        }
    }
}
