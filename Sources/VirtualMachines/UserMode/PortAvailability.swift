import CLinuxSystem
import Glibc
import Netlink
import QEMU
import QNetSystem
import QNetTypes
import SystemPackage

/// Host port checks for user-mode forwards, run before a VM starts.
///
/// Equivalent to `ss -ltnu 'sport = :PORT'` before `qemu ... hostfwd=...`, but asked of the
/// kernel the way the forwarder will: each port is bound (and, for TCP, put in listening
/// state) on the same address with the same socket options slirp and passt use, then
/// closed at once. Needs no privilege (ports below net.ipv4.ip_unprivileged_port_start
/// are refused for unprivileged users, as the forwarder would be).
///
/// Race: the port is free when checked, but another program may take it before QEMU or
/// passt binds it (a window of the VM's start-up, well under a second). slirp then makes
/// QEMU exit with "Could not set up host forwarding rule"; passt exits with "Failed to bind
/// any port" when it gets no socket at all, but if only its IPv4 bind loses the race it
/// carries on forwarding IPv6 clients alone (`PasstProcess.start` still sees a socket of
/// passt's on the port and cannot tell).
public enum PortAvailability {
    /// Refuses two forwards of one VM on the same protocol and host port whose host
    /// addresses overlap (equal, or either one every address). Pure.
    public static func checkDuplicates(_ forwards: [PortForward]) throws {
        for (index, first) in forwards.enumerated() {
            for second in forwards[(index + 1)...] where first.transportProtocol == second.transportProtocol
                && first.hostPort == second.hostPort && overlap(first.hostAddress, second.hostAddress) {
                throw UserModeError.duplicateForward(first: HostForward.render(first), second: HostForward.render(second),
                                                     port: first.hostPort, protocol: first.transportProtocol.rawValue)
            }
        }
    }

    private static func overlap(_ a: IPAddress?, _ b: IPAddress?) -> Bool {
        guard let a, let b else { return true }
        if a == b { return true }
        // 0.0.0.0 covers every IPv4 address; :: may be bound dual-stack and cover both.
        if isUnspecified(a) && (a.isIPv4 == b.isIPv4 || !a.isIPv4) { return true }
        if isUnspecified(b) && (a.isIPv4 == b.isIPv4 || !b.isIPv4) { return true }
        return false
    }

    private static func isUnspecified(_ address: IPAddress) -> Bool { address.bytes.allSatisfy { $0 == 0 } }

    /// Checks every forward of a VM: no duplicates, and each host port can be bound now.
    ///
    /// - backend: which program will bind (slirp binds 0.0.0.0 for an empty HOSTADDR;
    ///   passt binds `[::]` dual-stack for TCP, and 0.0.0.0 plus `[::]` for UDP).
    /// - user: the account QEMU/passt runs as; non-root accounts cannot bind ports below
    ///   `net.ipv4.ip_unprivileged_port_start`, so such forwards are refused here.
    /// - namespace: where the forwarder will run (nil: the current one).
    public static func check(_ forwards: [PortForward], backend: UserBackend, user: UserAccount? = nil,
                             namespace: NetworkNamespace? = nil) throws {
        try checkDuplicates(forwards)
        let body = {
            let unprivilegedStart = unprivilegedPortStart()
            for forward in forwards {
                if let user, !user.isRoot, Int(forward.hostPort) < unprivilegedStart {
                    throw UserModeError.portUnavailable(
                        protocol: forward.transportProtocol.rawValue, port: forward.hostPort,
                        address: forward.hostAddress?.description ?? "every address",
                        reason: "ports below \(unprivilegedStart) need privilege and \(backend == .passt ? "passt" : "QEMU") runs as '\(user.name)'; use a host port of \(unprivilegedStart) or more (or lower net.ipv4.ip_unprivileged_port_start)")
                }
                for probe in probes(for: forward, backend: backend) {
                    try probe.run(port: forward.hostPort, transport: forward.transportProtocol)
                }
            }
        }
        if let namespace { try namespace.withEntered(body) } else { try body() }
    }

    /// `net.ipv4.ip_unprivileged_port_start` of the current namespace (1024 when unreadable).
    static func unprivilegedPortStart() -> Int {
        guard let text = try? FileSystem.readText("/proc/sys/net/ipv4/ip_unprivileged_port_start"),
              let value = Int(String(text.filter(\.isNumber))) else { return 1024 }
        return value
    }

    /// One socket the forwarder will bind.
    struct Probe: Equatable {
        var address: IPAddress
        /// IPV6_V6ONLY for an IPv6 socket: false = dual-stack (also takes the IPv4 port).
        var v6Only: Bool
        /// Skip silently when the host has no IPv6 (the forwarder skips it too).
        var optional: Bool

        /// Binds like the forwarder, closes at once; throws when the kernel refuses.
        ///
        /// TCP: SO_REUSEADDR on, bind, listen — what libslirp and passt do. With it, the
        /// kernel ignores TIME_WAIT leftovers of earlier connections (which the forwarder
        /// would ignore too) but still refuses a port another socket listens on; without
        /// it, every VM restart within 60 s of a forwarded connection would be refused.
        /// UDP: SO_REUSEADDR off, so a port shared by another reuse-socket counts as taken
        /// (two UDP sockets on one port would split the guest's traffic).
        func run(port: UInt16, transport: PortForward.TransportProtocol) throws {
            let isIPv4 = address.isIPv4
            let type = transport == .tcp ? QNET_SOCK_STREAM : QNET_SOCK_DGRAM
            let descriptor = socket(isIPv4 ? AF_INET : AF_INET6, type | QNET_SOCK_CLOEXEC, 0)
            guard descriptor >= 0 else {
                if optional && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT) { return }
                throw failure(port, transport, errno)
            }
            defer { close(descriptor) }
            var one: Int32 = 1
            if transport == .tcp {
                setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            if !isIPv4 {
                var flag: Int32 = v6Only ? 1 : 0
                setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &flag, socklen_t(MemoryLayout<Int32>.size))
            }
            let bound: Int32 = isIPv4 ? {
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = port.bigEndian
                withUnsafeMutableBytes(of: &address.sin_addr) { $0.copyBytes(from: self.address.bytes) }
                return withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }() : {
                var address = sockaddr_in6()
                address.sin6_family = sa_family_t(AF_INET6)
                address.sin6_port = port.bigEndian
                withUnsafeMutableBytes(of: &address.sin6_addr) { $0.copyBytes(from: self.address.bytes) }
                return withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
                }
            }()
            if bound != 0 {
                if optional && errno == EADDRNOTAVAIL { return }
                throw failure(port, transport, errno)
            }
            if transport == .tcp && listen(descriptor, 1) != 0 {
                throw failure(port, transport, errno)
            }
        }

        private func failure(_ port: UInt16, _ transport: PortForward.TransportProtocol, _ code: Int32) -> UserModeError {
            let proto = transport.rawValue
            let where_ = address.description
            switch code {
            case EADDRINUSE:
                return .portInUse(protocol: proto, port: port, address: where_)
            case EADDRNOTAVAIL:
                return .portUnavailable(protocol: proto, port: port, address: where_,
                                        reason: "\(where_) is not an address of this host (EADDRNOTAVAIL); use one of its addresses or leave HOSTADDR empty")
            case EACCES:
                return .portUnavailable(protocol: proto, port: port, address: where_,
                                        reason: "permission denied (EACCES); use a host port of 1024 or more")
            default:
                return .portUnavailable(protocol: proto, port: port, address: where_, reason: Errno(rawValue: code).description)
            }
        }
    }

    /// The sockets the forwarder binds for `forward`.
    static func probes(for forward: PortForward, backend: UserBackend) -> [Probe] {
        let any4 = IPAddress.v4([0, 0, 0, 0]), any6 = IPAddress.v6([UInt8](repeating: 0, count: 16))
        if let address = forward.hostAddress {
            return [Probe(address: address, v6Only: true, optional: false)]
        }
        switch (backend, forward.transportProtocol) {
        case (.slirp, _):
            return [Probe(address: any4, v6Only: true, optional: false)]
        case (.passt, .tcp):
            // passt binds one dual-stack [::] socket; the IPv4 probe covers hosts without IPv6.
            return [Probe(address: any6, v6Only: false, optional: true), Probe(address: any4, v6Only: true, optional: false)]
        case (.passt, .udp):
            return [Probe(address: any4, v6Only: true, optional: false), Probe(address: any6, v6Only: true, optional: true)]
        }
    }
}
