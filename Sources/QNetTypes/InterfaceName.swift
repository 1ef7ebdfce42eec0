import Glibc

/// The kernel's rules for interface names (dev_valid_name in net/core/dev.c), checked
/// before any syscall so a bad name is reported as such rather than as EINVAL.
public enum InterfaceName {
    /// IFNAMSIZ - 1: the longest name the kernel accepts, in bytes.
    public static let maximumLength = Int(IFNAMSIZ) - 1

    /// Why `name` is not a usable interface name, or nil when it is: 1 to 15 bytes, not
    /// `.` or `..`, no `/`, `:`, whitespace or control characters. `allowTemplate` accepts
    /// one `%d`, which the kernel replaces with a free number.
    public static func problem(with name: String, allowTemplate: Bool = false) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "an interface name needs 1 to \(maximumLength) bytes" }
        if bytes.count > maximumLength { return "it is \(bytes.count) bytes; the kernel allows 1 to \(maximumLength)" }
        if name == "." || name == ".." { return "'.' and '..' are not allowed" }
        if name.contains("/") { return "'/' is not allowed" }
        if name.contains(":") { return "':' is not allowed (it marks IPv4 address labels)" }
        if name.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }) {
            return "whitespace and control characters are not allowed"
        }
        let templates = name.split(separator: "%", omittingEmptySubsequences: false).count - 1
        if templates > 0 {
            if !allowTemplate { return "'%' is only allowed in a name template such as tap%d" }
            if templates > 1 || !name.contains("%d") { return "a name template takes exactly one %d" }
        }
        return nil
    }
}
