import ArgumentParser

/// `qnet guest ...`: the micro-VM image `qnet probe` boots.
struct GuestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest",
        abstract: "Build the probe micro-VM (Debian kernel + busybox initramfs with NIC drivers and iperf3).",
        subcommands: [GuestBuild.self]
    )
}
