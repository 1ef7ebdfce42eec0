/// The names a network definition holds: the network's own, its bridge's, its DNS domain
/// and its static leases' hostnames. Pure checks (no host access); each throws
/// `NetworkConfigError` naming the bad value.
public enum NetworkNames {
    /// Bridges are named `qn-NAME` and Linux interface names hold 15 bytes (IFNAMSIZ − 1).
    public static let maximumLength = 12

    /// Network names: 1 to 12 bytes of `a-z`, `0-9`, `-`, `_`, starting with a letter or digit.
    /// The name becomes the bridge `qn-NAME` (15 bytes at most), a file name, and the
    /// default DNS domain (so it cannot start with `-` or `_`).
    public static func validate(_ name: String) throws {
        let bytes = Array(name.utf8)
        let allowed = bytes.allSatisfy { isLowercaseLetterOrDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        guard (1...maximumLength).contains(bytes.count), allowed, isLowercaseLetterOrDigit(bytes[0]) else {
            throw NetworkConfigError.badNetworkName(name)
        }
    }

    /// The bridge a nat/isolated network makes unless told otherwise: `qn-NAME`.
    public static func defaultBridge(for network: String) -> String { "qn-\(network)" }

    /// Bridge names that qnet writes into dnsmasq and nftables files: 1 to 15 bytes of
    /// letters, digits, `-`, `_` and `.`, not `.` or `..`. (The kernel allows more, but
    /// nothing that needs quoting in those files gets through here.)
    public static func validateBridge(_ name: String) throws {
        let bytes = Array(name.utf8)
        let allowed = bytes.allSatisfy { isLetterOrDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
        guard (1...15).contains(bytes.count), allowed, name != ".", name != ".." else { throw NetworkConfigError.badBridgeName(name) }
    }

    /// DNS domains for dnsmasq's `domain=`: dot-separated labels of letters, digits, `-`, `_`
    /// (each 1–63 bytes, starting with a letter or digit; dnsmasq's own rule), 253 bytes at most.
    public static func validateDomain(_ domain: String) throws {
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard domain.utf8.count <= 253, labels.allSatisfy({ isDNSLabel(Array($0.utf8), underscore: true) }) else {
            throw NetworkConfigError.badDomain(domain)
        }
    }

    /// Static lease hostnames: one DNS label (1–63 letters, digits, `-`, starting with a
    /// letter or digit); dnsmasq adds the network's domain.
    public static func validateHostname(_ name: String) throws {
        guard isDNSLabel(Array(name.utf8), underscore: false) else { throw NetworkConfigError.badHostname(name) }
    }

    private static func isLowercaseLetterOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        isLowercaseLetterOrDigit(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    private static func isDNSLabel(_ bytes: [UInt8], underscore: Bool) -> Bool {
        guard (1...63).contains(bytes.count), isLetterOrDigit(bytes[0]) else { return false }
        return bytes.allSatisfy { isLetterOrDigit($0) || $0 == UInt8(ascii: "-") || (underscore && $0 == UInt8(ascii: "_")) }
    }
}
