import QEMU
import QNetTypes

/// QEMU's `hostfwd=` syntax, parsed into the QEMU target's `PortForward` and rendered back.
///
/// `hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT`, as in
/// `qemu-system-x86_64 -netdev user,id=n0,hostfwd=tcp::8080-:80`. An empty protocol means
/// tcp (QEMU's rule), an empty HOSTADDR every host address, an empty GUESTADDR the guest's
/// DHCP address. IPv6 host addresses are written in brackets (`tcp:[::1]:8080-:80`); only
/// the passt backend can use them (QEMU 7.2's slirp forwards IPv4 only).
/// Pure: no socket is opened; whether the port is free is `PortAvailability`'s job.
public enum HostForward {
    /// The accepted syntax, for error messages.
    public static let syntax = "hostfwd=tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT with ports 1-65535, e.g. hostfwd=tcp::8080-:80 or hostfwd=udp:127.0.0.1:5353-:53"

    /// Parses one forward; a leading `hostfwd=` is accepted and ignored.
    public static func parse(_ text: String) throws -> PortForward {
        let value = text.hasPrefix("hostfwd=") ? String(text.dropFirst("hostfwd=".count)) : text
        func bad(_ problem: String) -> UserModeError { .invalidForward(value: value, problem: problem) }

        guard let firstColon = value.firstIndex(of: ":") else {
            throw bad("no ':' after the protocol")
        }
        let protocolText = value[..<firstColon].lowercased()
        let transport: PortForward.TransportProtocol
        switch protocolText {
        case "", "tcp": transport = .tcp
        case "udp": transport = .udp
        default: throw bad("protocol '\(protocolText)' is not tcp or udp")
        }
        let sides = value[value.index(after: firstColon)...]
        // IPv6 addresses have no '-', so the first '-' separates the host and guest sides.
        guard let dash = sides.firstIndex(of: "-") else {
            throw bad("no '-' between the host side and the guest side")
        }
        let host = try endpoint(sides[..<dash], side: "host", bad)
        let guest = try endpoint(sides[sides.index(after: dash)...], side: "guest", bad)
        return PortForward(transport, hostAddress: host.address, hostPort: host.port,
                           guestAddress: guest.address, guestPort: guest.port)
    }

    /// `ADDR:PORT`, `[V6ADDR]:PORT` or `:PORT`.
    private static func endpoint(_ text: Substring, side: String, _ bad: (String) -> UserModeError) throws -> (address: IPAddress?, port: UInt16) {
        guard let colon = text.lastIndex(of: ":") else {
            throw bad("the \(side) side '\(text)' has no ':' before its port")
        }
        var addressText = text[..<colon]
        let portText = text[text.index(after: colon)...]
        if addressText.hasPrefix("[") && addressText.hasSuffix("]") && addressText.count >= 2 {
            addressText = addressText.dropFirst().dropLast()
            guard addressText.contains(":") else { throw bad("\(side) address '[\(addressText)]': brackets are for IPv6 addresses") }
        } else if addressText.contains(":") {
            throw bad("\(side) address '\(addressText)': write IPv6 addresses in brackets, e.g. [::1]:8080")
        }
        var address: IPAddress?
        if !addressText.isEmpty {
            guard let parsed = IPAddress(String(addressText)) else {
                throw bad("\(side) address '\(addressText)' is not an IP address")
            }
            address = parsed
        }
        guard !portText.isEmpty else { throw bad("the \(side) port is missing") }
        guard portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), portText.count <= 5, let port = Int(portText) else {
            throw bad("\(side) port '\(portText)' is not a number")
        }
        guard (1...65535).contains(port) else {
            throw bad("\(side) port \(port) is out of range")
        }
        return (address, UInt16(port))
    }

    /// Renders a forward back into the `hostfwd=` value (without the `hostfwd=` key):
    /// `tcp::8080-:80`, `udp:127.0.0.1:5353-:53`, `tcp:[::1]:8080-:80`.
    public static func render(_ forward: PortForward) -> String {
        func address(_ value: IPAddress?) -> String {
            guard let value else { return "" }
            return value.isIPv4 ? value.description : "[\(value.description)]"
        }
        return "\(forward.transportProtocol.rawValue):\(address(forward.hostAddress)):\(forward.hostPort)-\(address(forward.guestAddress)):\(forward.guestPort)"
    }
}
