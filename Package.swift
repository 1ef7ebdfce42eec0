// swift-tools-version:6.0
import PackageDescription

// Layers, bottom to top (each may import only the ones above it in this list):
//   QNetTypes     value types: MAC and IP addresses, prefixes, interface names and indexes; no syscalls
//   CLinuxNet     C shim over the kernel UAPI headers: constants and struct layouts only
//   CLinuxSystem  C wrappers for syscalls Swift cannot call (ioctl, open, spawn, setns, SCM_RIGHTS)
//   BridgeACL     /etc/qemu/bridge.conf's allow/deny/include rules (pure, no dependency)
//   QNetBridgeHelper  qnet-bridge-helper, QEMU's bridge helper (cap_net_admin): C shims and BridgeACL only
//   QNetSystem    processes, files (atomic, openat), clock, users, locks, signals, SystemError
//   NetlinkWire   pure netlink wire format: no syscalls, bounds-checked, never traps
//   Netlink       sockets, sequence matching, multipart dumps, typed kernel errors
//   HostNetwork   iproute2-shaped verbs: links, bridges, TAPs, addresses, routes
//   PCIDevices    PCI functions over sysfs: list, IOMMU groups, vfio-pci bind/release, SR-IOV VF count
//   HostChecks    `qnet doctor`: host readiness checks over an injectable root, KVM probe
//   QEMU          QEMU command line (typed, comma-escaped), binaries, disk images
//   QMP           QEMU Machine Protocol client (greeting, capabilities, commands, events, fd passing)
//   GuestImage    the micro-VM (Debian kernel + busybox initramfs) and its result protocol
//   VirtualMachines  VM lifecycle: TAP fds handed to an unprivileged QEMU, state under /run/qnet
//   Topology      the host's network as kernel + qnet see it: per-port counters, graph model, DOT rendering
//   QNetCommands  the CLI's commands (one folder per noun, one file per verb)
//   qnet          the executable: a tiny @main
let package = Package(
    name: "qnet",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "qnet", targets: ["qnet"]),
        .executable(name: "qnet-bridge-helper", targets: ["QNetBridgeHelper"]),
        .library(name: "HostNetwork", targets: ["HostNetwork"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .target(name: "QNetTypes"),
        .target(name: "CLinuxNet"),
        .target(name: "CLinuxSystem"),
        .target(name: "BridgeACL"),
        .executableTarget(name: "QNetBridgeHelper", dependencies: ["BridgeACL", "CLinuxNet", "CLinuxSystem", "QNetTypes"]),
        .target(name: "QNetSystem", dependencies: ["CLinuxSystem", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "NetlinkWire", dependencies: ["CLinuxNet", "QNetTypes"]),
        .target(
            name: "Netlink",
            dependencies: [
                "CLinuxNet", "CLinuxSystem", "QNetSystem", "NetlinkWire",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .target(
            name: "HostNetwork",
            dependencies: [
                "QNetTypes", "QNetSystem", "CLinuxNet", "CLinuxSystem", "NetlinkWire", "Netlink",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .target(name: "PCIDevices", dependencies: ["QNetSystem", "NetlinkWire", "HostNetwork"]),
        .target(name: "HostChecks", dependencies: ["QNetTypes", "QNetSystem", "CLinuxSystem", "HostNetwork", "PCIDevices"]),
        .target(name: "QEMU", dependencies: ["QNetTypes", "QNetSystem", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "QMP", dependencies: ["CLinuxSystem", "QNetSystem", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "GuestImage", dependencies: ["QNetSystem"]),
        .target(
            name: "VirtualMachines",
            dependencies: [
                "QNetTypes", "CLinuxNet", "CLinuxSystem", "QNetSystem", "Netlink", "HostNetwork", "PCIDevices", "QEMU", "QMP", "GuestImage",
                .product(name: "Yams", package: "Yams"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .target(name: "Topology", dependencies: ["QNetTypes", "QNetSystem", "NetlinkWire", "Netlink", "HostNetwork", "PCIDevices", "VirtualMachines"]),
        .target(
            name: "QNetCommands",
            dependencies: [
                "QNetTypes", "CLinuxSystem", "QNetSystem", "Netlink", "HostNetwork", "PCIDevices", "HostChecks", "QEMU",
                "GuestImage", "VirtualMachines", "Topology",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "qnet", dependencies: ["QNetCommands"]),
        // Coverage-guided fuzzers (Fuzz/, `make fuzz`): libFuzzer entry points, built with
        // -sanitize=fuzzer,address -DQNET_FUZZING; in an ordinary build each one replays the
        // inputs named on its command line (a saved crash, a seed folder).
        .target(name: "CFuzzer", path: "Fuzz/CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer"], path: "Fuzz/FuzzSupport"),
        .executableTarget(name: "FuzzNetlink", dependencies: ["FuzzSupport", "NetlinkTestSupport"], path: "Fuzz/FuzzNetlink"),
        .executableTarget(name: "FuzzQMP", dependencies: ["FuzzSupport", "QMP"], path: "Fuzz/FuzzQMP"),
        .executableTarget(name: "FuzzDefinitions", dependencies: ["FuzzSupport", "VirtualMachines"], path: "Fuzz/FuzzDefinitions"),
        .executableTarget(name: "FuzzImporters", dependencies: ["FuzzSupport", "VirtualMachines"], path: "Fuzz/FuzzImporters"),
        // Benchmarks (bench/): qnet against `ip` per step and `ip -batch`; see BENCHMARKS.md.
        .executableTarget(name: "QNetBench", dependencies: ["QNetSystem", "Netlink", "HostNetwork"], path: "bench/Sources/QNetBench"),
        .testTarget(name: "QNetTypesTests", dependencies: ["QNetTypes"]),
        .testTarget(name: "BridgeACLTests", dependencies: ["BridgeACL", "QNetTestSupport"]),
        .testTarget(name: "QNetSystemTests", dependencies: ["QNetSystem", "QNetTestSupport", .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(name: "NetlinkWireTests", dependencies: ["NetlinkWire", "QNetTypes", "NetlinkTestSupport", "QNetTestSupport"]),
        // A scripted netlink transport shared by the request-layer suites (tier 2, no root).
        .target(name: "NetlinkTestSupport", dependencies: ["Netlink", "NetlinkWire", "QNetTypes"], path: "Tests/NetlinkTestSupport"),
        .testTarget(
            name: "NetlinkTests",
            dependencies: ["Netlink", "NetlinkWire", "QNetTypes", "NetlinkTestSupport", .product(name: "SystemPackage", package: "swift-system")]),
        // Namespaces, an `ip -j` witness and privilege checks shared by the privileged suites.
        .target(name: "QNetTestSupport", path: "Tests/Support"),
        .target(name: "PCITestSupport", dependencies: ["PCIDevices", "QNetSystem", .product(name: "SystemPackage", package: "swift-system")],
                path: "Tests/PCITestSupport"),
        .testTarget(
            name: "HostNetworkTests",
            dependencies: [
                "HostNetwork", "Netlink", "NetlinkWire", "QNetSystem", "QNetTypes", "CLinuxNet", "CLinuxSystem", "QNetTestSupport", "NetlinkTestSupport",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .testTarget(name: "PCIDevicesTests", dependencies: ["PCIDevices", "HostNetwork", "Netlink", "QNetSystem", "QNetTestSupport", "PCITestSupport", .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(name: "HostChecksTests", dependencies: ["HostChecks", "HostNetwork", "Netlink", "PCIDevices", "QNetSystem", "QNetTestSupport"]),
        .testTarget(name: "QEMUTests", dependencies: ["QEMU", "QNetTypes", "QNetTestSupport"], exclude: ["Golden"]),
        .testTarget(name: "QMPTests", dependencies: ["QMP", "CLinuxSystem", "QNetTestSupport"]),
        .testTarget(name: "GuestImageTests", dependencies: ["GuestImage", "QNetTestSupport"]),
        .testTarget(
            name: "VirtualMachinesTests",
            dependencies: [
                "VirtualMachines", "QNetSystem", "QNetTypes", "HostNetwork", "Netlink", "PCIDevices", "QEMU", "QMP", "GuestImage", "QNetTestSupport", "PCITestSupport",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: ["Golden"]),
        .testTarget(name: "TopologyTests", dependencies: ["Topology", "HostNetwork", "NetlinkWire", "QNetTypes", "PCIDevices", "VirtualMachines", "QNetTestSupport"], exclude: ["Golden"]),
        .testTarget(
            name: "QNetCommandsTests",
            dependencies: [
                "QNetCommands", "QNetSystem", "QNetTypes", "VirtualMachines", "PCIDevices", "QMP", "HostNetwork", "Netlink", "GuestImage", "Topology",
                "QNetTestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["Golden"]),
    ],
    swiftLanguageModes: [.v6]
)
