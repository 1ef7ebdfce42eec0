import ArgumentParser
import Glibc
import GuestImage

/// `qnet demo`: the classic recipe, replayed in namespaces it creates and removes.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Replay the classic bridge recipe safely inside throwaway network namespaces, with a real guest.",
        discussion: """
            Creates a LAN namespace (router 192.168.1.254, dnsmasq DHCP) and a host namespace whose eth0 is on \
            that LAN, then runs, printing each command: qnet bridge create br0 --uplink eth0, qnet show, \
            qnet disk create, qnet vm run (a micro-VM that gets a lease and pings the router), qnet show, \
            qnet vm stop (its TAP disappears), qnet bridge delete (eth0 gets its address and route back). \
            Leaves nothing behind, even on Ctrl-C; every name it makes carries its pid, so demos can run side by \
            side, and what a killed demo left is removed by the next. Needs root.
            """)

    func run() throws {
        guard geteuid() == 0 else { throw ValidationError("qnet demo needs root (it creates network namespaces)") }
        let image = try GuestImageBuilder().cached().image
        let demo = DemoWalkthrough(qnet: Self.ownExecutable(), image: image)
        // Unbuffered, so each step shows as it happens even through a pipe.
        demo.say = { line in writeStandardOutput(Array((line + "\n").utf8)) }
        // A parent may have started us with these blocked (Foundation's Process does): Ctrl-C
        // must reach the demo so it can clean up.
        var interrupting = sigset_t()
        sigemptyset(&interrupting)
        sigaddset(&interrupting, SIGINT)
        sigaddset(&interrupting, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &interrupting, nil)
        signal(SIGINT) { _ in DemoWalkthrough.interrupted = 1 }
        signal(SIGTERM) { _ in DemoWalkthrough.interrupted = 1 }
        guard demo.run() else { throw ExitCode(1) }
    }

    /// This very binary, so every step runs the same qnet the user is trying.
    static func ownExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
