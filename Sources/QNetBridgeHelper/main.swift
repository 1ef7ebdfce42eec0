// qnet-bridge-helper: QEMU's bridge helper (`-netdev bridge,br=BR,helper=PATH`), so that an
// unprivileged user's QEMU can put a TAP on the bridges /etc/qemu/bridge.conf allows.
// Equivalent to qemu-bridge-helper; written from its documented protocol and facts.
//
// Protocol (QEMU's net/tap.c): QEMU runs `HELPER [--use-vnet] --fd=N --br=BR`, where N is
// one end of a unix stream socket pair. The helper creates a TAP (IFF_TAP|IFF_NO_PI, plus
// IFF_VNET_HDR with --use-vnet), gives it the bridge's MTU and a MAC starting with 0xfe (so
// the bridge, which takes its lowest port MAC, keeps its own), attaches it to the bridge,
// brings it up and sends the TAP descriptor back over N with SCM_RIGHTS. Its stderr is
// QEMU's, so a refusal is printed there; the exit status tells QEMU it failed.
//
// Privilege: installed with the file capability cap_net_admin+ep (never setuid root), it
// runs with CAP_NET_ADMIN and nothing else. It reads no environment variable and no path
// but /etc/qemu/bridge.conf (and files that file includes), which must belong to root and
// not be writable by others. Kept minimal: no Foundation, only the C shims and the ACL parser.
import BridgeACL
import CLinuxNet
import CLinuxSystem
import Glibc
import QNetTypes

/// The access list, as qemu-bridge-helper's default (CONFIG_QEMU_CONFDIR/bridge.conf).
/// A constant: no argument or environment variable can name another file.
let aclFile = "/etc/qemu/bridge.conf"
let program = "qnet-bridge-helper"

func fail(_ message: String, status: Int32 = 1) -> Never {
    let line = "\(program): \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(status)
}

func usage(_ problem: String) -> Never {
    fail("\(problem)\nusage: \(program) [--use-vnet] --br=BRIDGE --fd=UNIX_SOCKET_FD (run by QEMU: -netdev bridge,br=BRIDGE,helper=PATH)", status: 2)
}

// MARK: - arguments

var useVnet = false
var bridge: String?
var socketDescriptor: Int32?
for argument in CommandLine.arguments.dropFirst() {
    if argument == "--use-vnet" {
        useVnet = true
    } else if argument.hasPrefix("--br=") {
        bridge = String(argument.dropFirst(5))
    } else if argument.hasPrefix("--fd=") {
        guard let value = Int32(argument.dropFirst(5)), value >= 0 else { usage("--fd needs a descriptor number, not '\(argument.dropFirst(5))'") }
        socketDescriptor = value
    } else if argument == "--help" || argument == "-h" {
        usage("puts a TAP on a bridge allowed by \(aclFile) and passes its descriptor to QEMU")
    } else {
        usage("unknown argument '\(argument)'")
    }
}
guard let bridge else { usage("--br=BRIDGE is missing") }
guard let socketDescriptor else { usage("--fd=UNIX_SOCKET_FD is missing") }
if let problem = InterfaceName.problem(with: bridge) { usage("bridge name '\(bridge)' is not valid: \(problem)") }

// MARK: - access list

/// Reads an ACL file: a regular file owned by root and not writable by others (a file the
/// caller could write would let them grant themselves any bridge). Symlinks are followed,
/// as for every file under /etc, but the checks apply to the file they lead to.
func readACL(_ path: String) throws(BridgeACL.Problem) -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        let reason = errno == ENOENT ? "missing, so no bridge is allowed (add a line such as 'allow br0')" : String(cString: strerror(errno))
        throw BridgeACL.Problem(file: path, line: 0, reason: reason)
    }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
        throw BridgeACL.Problem(file: path, line: 0, reason: "not a regular file")
    }
    guard status.st_uid == 0, status.st_mode & S_IWOTH == 0 else {
        throw BridgeACL.Problem(file: path, line: 0, reason: "must belong to root and not be writable by others (owner uid \(status.st_uid), mode \(String(status.st_mode & 0o7777, radix: 8)))")
    }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { throw BridgeACL.Problem(file: path, line: 0, reason: String(cString: strerror(errno))) }
        if count == 0 { break }
        bytes += chunk[0..<count]
        guard bytes.count <= 1 << 20 else { throw BridgeACL.Problem(file: path, line: 0, reason: "larger than 1 MiB") }
    }
    return bytes
}

let verdict: BridgeACL.Verdict
do {
    verdict = try BridgeACL.load(file: aclFile, read: readACL).verdict(for: bridge)
} catch {
    fail("bridge '\(bridge)' refused: \(error)")
}
guard verdict.isAllowed else { fail("bridge '\(bridge)' \(verdict)") }

// MARK: - the TAP

func setName(_ request: inout ifreq, _ name: String) {
    withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { buffer in
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        for (offset, byte) in name.utf8.prefix(buffer.count - 1).enumerated() { buffer[offset] = byte }
    }
}

func readName(_ request: ifreq) -> String {
    withUnsafeBytes(of: request.ifr_ifrn.ifrn_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

/// One ifreq ioctl on `descriptor` for `name`, or exit naming the step.
func ioctl(_ descriptor: Int32, _ request: UInt, _ name: String, _ step: String, _ fill: (inout ifreq) -> Void = { _ in }) -> ifreq {
    var value = ifreq()
    setName(&value, name)
    fill(&value)
    guard qnet_ioctl_ifreq(descriptor, request, &value) == 0 else {
        fail("\(step) failed for '\(name)': \(String(cString: strerror(errno)))\(errno == EPERM ? " (the helper needs CAP_NET_ADMIN: setcap cap_net_admin+ep on it)" : "")")
    }
    return value
}

guard if_nametoindex(bridge) != 0 else { fail("bridge '\(bridge)' does not exist") }

// The TAP is transient (no TUNSETPERSIST): it vanishes when QEMU closes the descriptor,
// and so on every failure below, when this process exits.
let tun = qnet_open("/dev/net/tun", O_RDWR)
guard tun >= 0 else { fail("cannot open /dev/net/tun: \(String(cString: strerror(errno)))") }
let tapFlags = Int16(IFF_TAP | IFF_NO_PI | (useVnet ? IFF_VNET_HDR : 0))
let tap = readName(ioctl(tun, QNET_TUNSETIFF, "tap%d", "TUNSETIFF") { $0.ifr_ifru.ifru_flags = tapFlags })

let control = socket(AF_INET, Int32(QNET_SOCK_DGRAM) | Int32(QNET_SOCK_CLOEXEC), 0)
guard control >= 0 else { fail("socket: \(String(cString: strerror(errno)))") }

// The bridge's MTU, so the TAP never fragments what the bridge forwards.
let mtu = ioctl(control, UInt(SIOCGIFMTU), bridge, "SIOCGIFMTU").ifr_ifru.ifru_mtu
_ = ioctl(control, UInt(SIOCSIFMTU), tap, "SIOCSIFMTU") { $0.ifr_ifru.ifru_mtu = mtu }

// First MAC byte 0xfe: the bridge takes the lowest port MAC as its own unless one was set,
// and 0xfe sorts above any NIC vendor's, so adding this port never changes the bridge's MAC.
var hardware = ioctl(control, UInt(SIOCGIFHWADDR), tap, "SIOCGIFHWADDR").ifr_ifru.ifru_hwaddr
withUnsafeMutableBytes(of: &hardware.sa_data) { $0[0] = 0xfe }
_ = ioctl(control, UInt(SIOCSIFHWADDR), tap, "SIOCSIFHWADDR") { $0.ifr_ifru.ifru_hwaddr = hardware }

// Equivalent to `ip link set TAP master BRIDGE`.
let tapIndex = Int32(if_nametoindex(tap))
var attach = ifreq()
setName(&attach, bridge)
attach.ifr_ifru.ifru_ivalue = tapIndex
guard qnet_ioctl_ifreq(control, UInt(SIOCBRADDIF), &attach) == 0 else {
    fail("cannot attach \(tap) to '\(bridge)': \(errno == EOPNOTSUPP || errno == EINVAL ? "it is not a bridge" : String(cString: strerror(errno)))")
}

// Equivalent to `ip link set TAP up`.
let flags = ioctl(control, UInt(SIOCGIFFLAGS), tap, "SIOCGIFFLAGS").ifr_ifru.ifru_flags
_ = ioctl(control, UInt(SIOCSIFFLAGS), tap, "SIOCSIFFLAGS") { $0.ifr_ifru.ifru_flags = flags | Int16(IFF_UP) }
close(control)

// One byte of payload with the descriptor, as QEMU's recv_fd expects.
var payload: UInt8 = 0
guard qnet_send_with_descriptor(socketDescriptor, &payload, 1, tun) == 1 else {
    fail("cannot pass the TAP to QEMU over descriptor \(socketDescriptor): \(String(cString: strerror(errno)))")
}
exit(0)
