import ArgumentParser
import HostChecks
import HostNetwork
import PCIDevices
import QNetSystem
import VirtualMachines

/// `qnet doctor [--bridge BR] [--user USER] [--json]`: host readiness checks, each with
/// what was found and the exact fix. Changes nothing on the host.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check that this host can run qnet's bridges, TAPs and QEMU guests, and say how to fix what is wrong.",
        discussion: """
            Checks the TUN device, driver and kernel option; the bridge driver and CAP_NET_ADMIN; QEMU, qemu-img, \
            KVM (with a bounded test guest, cached per boot in /run/qnet/kvm-probe.json) and vhost-net; \
            br_netfilter, a FORWARD policy of drop and IP forwarding; NetworkManager and systemd-networkd; \
            with --bridge the bridge itself (up, STP delay, MTUs, wireless uplink, host address); and with \
            --passthrough (or --pci ADDR) what PCI device assignment needs: the IOMMU and its kernel parameters, \
            vfio-pci, interrupt remapping and each function's IOMMU group.

            Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 for bad usage. \
            --json prints the schema documented in the README's Troubleshooting section.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Also check this bridge: up, STP forward delay, port MTUs, uplink, host address.", valueName: "bridge"),
            transform: Parse.interfaceName)
    var bridge: String?

    @Option(help: ArgumentHelp("Also check /dev/net/tun, /dev/kvm and /dev/vhost-net access for this user (name or uid).", valueName: "user"),
            transform: Doctor.user)
    var user: UserIdentity?

    @Flag(help: "Also check PCI passthrough: IOMMU, kernel parameters, vfio-pci, interrupt remapping, each network function's IOMMU group.")
    var passthrough = false

    @Option(name: .customLong("pci"), help: ArgumentHelp("Check this PCI function's IOMMU group (implies --passthrough; repeatable).", valueName: "address"),
            transform: Parse.pciAddress)
    var pciDevices: [PCIAddress] = []

    @Flag(help: "Print JSON (schema version 1).")
    var json = false

    static func user(_ text: String) throws -> UserIdentity {
        guard let identity = UserIdentity.lookup(text) else {
            throw ValidationError("unknown user '\(text)': use a login name or numeric uid that `getent passwd` knows")
        }
        return identity
    }

    func run() throws {
        let host = try global.openHost()
        var options = DoctorOptions(bridge: bridge, user: user, network: host)
        options.journalDirectory = QNetPaths.journal
        options.passthrough = passthrough
        options.pciDevices = pciDevices
        options.willProbeKVM = {
            writeStandardError("qnet doctor: testing whether KVM can run a guest (up to 5 s, once per boot)...\n")
        }
        let report = HostDoctor.run(options)
        if json {
            print(try report.jsonText())
        } else {
            print(report.text(), terminator: "")
        }
        if !report.passed { throw ExitCode(1) }
    }
}
