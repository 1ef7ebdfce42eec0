import ArgumentParser
import HostNetwork
import PCIDevices
import QNetSystem
import QNetTypes

/// `qnet pci vf PF INDEX [...]`: `ip link set PF vf INDEX mac M vlan ID qos Q proto P
/// min_tx_rate MIN max_tx_rate MAX spoofchk on|off trust on|off state auto|enable|disable`.
struct PCIVF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vf",
        abstract: "Show or change one SR-IOV virtual function's MAC, VLAN, rate, spoof check, trust and link state (ip link set PF vf N ...).",
        discussion: """
            PF is the physical function's interface name or PCI address (DDDD:BB:DD.F, whose interface is \
            found under /sys/bus/pci/devices/ADDR/net). Without settings it prints the VF's settings as \
            `ip link show PF` does. Several settings go to the kernel in one request; the driver applies them \
            in turn, so when it refuses one, the ones before it are put back. Needs CAP_NET_ADMIN.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The physical function: an interface name or a PCI address.", valueName: "pf"))
    var physicalFunction: String

    // The kernel takes the VF index as an int and refuses INT_MAX and above.
    @Argument(help: ArgumentHelp("The VF's index on its PF (0, 1, ...).", valueName: "index"),
              transform: Parse.integer("VF index", in: 0...UInt32(Int32.max - 1)))
    var index: UInt32

    @Option(help: ArgumentHelp("The VF's MAC address (00:00:00:00:00:00 lets the VF pick its own).", valueName: "mac"), transform: Parse.mac)
    var mac: MACAddress?

    @Option(parsing: .unconditional, help: ArgumentHelp("The VLAN the PF tags the VF's traffic with (0-4095; 0 turns it off).", valueName: "id"),
            transform: Parse.integer("VLAN id", in: VFVLAN.idRange))
    var vlan: UInt32?

    @Option(parsing: .unconditional, help: ArgumentHelp("The 802.1p priority of that VLAN (0-7; with --vlan).", valueName: "q"),
            transform: Parse.integer("VLAN qos", in: VFVLAN.qosRange))
    var qos: UInt32?

    @Option(help: ArgumentHelp("The VLAN's tag protocol: 802.1Q (default) or 802.1ad (with --vlan).", valueName: "proto"),
            transform: Parse.vlanProtocol)
    var proto: VLANProtocol?

    @Option(help: "Drop frames the VF sends from another source MAC: on or off.")
    var spoofchk: Switch?

    @Option(help: "Trust the VF (it may then change its MAC and go promiscuous): on or off.")
    var trust: Switch?

    @Option(help: ArgumentHelp("Transmit rate limits in Mbit/s as MIN-MAX (0 means no limit, e.g. 0-1000).", valueName: "min-max"),
            transform: Parse.vfRate)
    var rate: VFRate?

    @Option(help: ArgumentHelp("The VF's link: auto (follows the PF), enable or disable.", valueName: "state"), transform: Parse.vfLinkState)
    var linkState: VFLinkState?

    func validate() throws {
        if vlan == nil, qos != nil || proto != nil {
            throw ValidationError("--qos and --proto need --vlan ID (the VLAN they apply to)")
        }
    }

    var change: VFChange {
        VFChange(macAddress: mac, vlan: vlan.map { VFVLAN(id: $0, qos: qos ?? 0, proto: proto ?? .ieee8021Q) }, rate: rate,
                 spoofCheck: spoofchk?.isOn, trust: trust?.isOn, linkState: linkState)
    }

    func run() throws {
        let change = self.change
        try change.validate()
        let interface = try PCIVF.interface(of: physicalFunction, sysfs: PCIAccess.sysfs)
        guard !change.isEmpty else {
            let (_, list) = try global.openHost().virtualFunctions(of: interface)
            guard let settings = list.functions.first(where: { $0.index == index }) else {
                throw PCIVFError.noSuchVF(interface: interface, vf: index, count: list.count)
            }
            print(settings.summary)
            return
        }
        let hostChange = try HostChange.begin(global)
        try hostChange.run { transaction in
            try hostChange.host.changeVirtualFunction(interface, vf: index, change, transaction: transaction)
        }
        print("\(interface) vf \(index): updated")
    }

    /// The PF's interface: `pf` itself when it is an interface name, the one interface under
    /// /sys/bus/pci/devices/ADDR/net when it is a PCI address.
    static func interface(of pf: String, sysfs: PCISysfs) throws -> String {
        guard let address = PCIAddress(pf) else {
            if let problem = InterfaceName.problem(with: pf) {
                throw ValidationError("invalid PF '\(printable(pf))': \(problem); give an interface name or a PCI address (DDDD:BB:DD.F)")
            }
            return pf
        }
        let host = PCIHost(sysfs: sysfs, stateDirectory: "/nonexistent")
        guard let function = host.function(address) else { throw PCIError.notFound(address) }
        switch function.interfaces.count {
        case 1: return function.interfaces[0]
        case 0: throw PCIVFError.noInterface(address, driver: function.driver)
        default: throw PCIVFError.severalInterfaces(address, function.interfaces)
        }
    }
}

/// Why `qnet pci vf` found no VF or no PF interface to act on.
enum PCIVFError: UserFacingError {
    case noInterface(PCIAddress, driver: String?)
    case severalInterfaces(PCIAddress, [String])
    case noSuchVF(interface: String, vf: UInt32, count: UInt32?)

    var description: String {
        switch self {
        case let .noInterface(address, driver):
            let bound = driver.map { "its driver is \($0)" } ?? "it has no driver"
            return "PCI function \(address) has no network interface in this namespace (\(bound)); VF settings go through the PF's interface"
        case let .severalInterfaces(address, names):
            return "PCI function \(address) has several interfaces (\(names.joined(separator: ", "))); name the one to use"
        case let .noSuchVF(interface, vf, count):
            switch count {
            case nil: return "'\(interface)' reports no VFs (not an SR-IOV PF, or its driver has no VF settings); see `qnet pci list`"
            case 0?: return "'\(interface)' has no VFs enabled; create them with `qnet pci vfs PF --count N`"
            case let count?: return "'\(interface)' has no VF \(vf): it has \(count) VF\(count == 1 ? "" : "s") (0-\(count - 1))"
            }
        }
    }
}

extension Parse {
    /// `802.1Q` or `802.1ad`, as ip's `proto` takes them (any case).
    static func vlanProtocol(_ text: String) throws -> VLANProtocol {
        guard let proto = VLANProtocol.allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() }) else {
            throw ValidationError("invalid VLAN protocol '\(printable(text))': use 802.1Q or 802.1ad")
        }
        return proto
    }

    /// `auto`, `enable` or `disable`.
    static func vfLinkState(_ text: String) throws -> VFLinkState {
        guard let state = VFLinkState.allCases.first(where: { $0.description == text }) else {
            throw ValidationError("invalid link state '\(printable(text))': use auto, enable or disable")
        }
        return state
    }

    /// `MIN-MAX` in Mbit/s, each 0-4294967295, MIN <= MAX unless MAX is 0 (no limit).
    static func vfRate(_ text: String) throws -> VFRate {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let minimum = UInt32(parts[0]), let maximum = UInt32(parts[1]) else {
            throw ValidationError("invalid rate '\(printable(text))': use MIN-MAX in Mbit/s, e.g. 100-1000 (0 means no limit)")
        }
        guard maximum == 0 || minimum <= maximum else {
            throw ValidationError("invalid rate '\(printable(text))': MIN must not exceed MAX (MAX 0 means no upper limit)")
        }
        return VFRate(minimum: minimum, maximum: maximum)
    }
}

/// One VF's settings in JSON (`show PF --json`, `pci list --json`).
struct VFSettingsReport: Encodable {
    var index: UInt32
    /// null when the driver does not report it.
    @NullWhenAbsent var mac: String?
    /// 0: no VLAN.
    var vlan: UInt32
    var qos: UInt32
    /// `802.1Q` or `802.1ad`.
    var vlanProtocol: String
    /// Mbit/s; 0 means no limit.
    var minTxRate: UInt32
    var maxTxRate: UInt32
    @NullWhenAbsent var spoofCheck: Bool?
    /// `auto`, `enable`, `disable`.
    @NullWhenAbsent var linkState: String?
    @NullWhenAbsent var trust: Bool?
    @NullWhenAbsent var queryRSS: Bool?

    init(_ settings: VFSettings) {
        index = settings.index
        mac = settings.macAddress?.description
        vlan = settings.vlan?.id ?? 0
        qos = settings.vlan?.qos ?? 0
        vlanProtocol = (settings.vlan?.proto ?? .ieee8021Q).rawValue
        minTxRate = settings.rate?.minimum ?? 0
        maxTxRate = settings.rate?.maximum ?? 0
        spoofCheck = settings.spoofCheck
        linkState = settings.linkState?.description
        trust = settings.trust
        queryRSS = settings.rssQuery
    }
}

/// `qnet show PF --json`'s `interface`: a PF's VFs (only for an interface that is not a bridge).
struct InterfaceVFReport: Encodable {
    var name: String
    /// IFLA_NUM_VF: how many VFs are enabled.
    var vfCount: UInt32
    var vfs: [VFSettingsReport]

    init(name: String, list: VirtualFunctionList) {
        self.name = name
        vfCount = list.count ?? 0
        vfs = list.functions.map(VFSettingsReport.init)
    }

    /// As `ip link show PF` prints the VFs: a heading, then one indented `vf N ...` line each.
    static func text(name: String, list: VirtualFunctionList) -> String {
        let count = list.count ?? 0
        var text = "\(name): \(count) VF\(count == 1 ? "" : "s")\n"
        for function in list.functions { text += "    \(function.summary)\n" }
        return text
    }
}
