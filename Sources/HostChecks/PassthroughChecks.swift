import PCIDevices

/// `qnet doctor --passthrough`: what direct assignment of PCI functions (vfio-pci) needs:
/// an IOMMU that is on, the kernel command line that turns it on, vfio-pci, interrupt
/// remapping, and functions with IOMMU groups of their own. Reads only.
enum PassthroughChecks {
    static func run(_ root: HostRoot, devices: [PCIAddress], config: KernelConfig?) -> [CheckResult] {
        var sysfs = PCISysfs(prefix: "")
        sysfs.sys = root.sys
        sysfs.proc = root.proc
        sysfs.dev = root.dev
        let pci = PCIHost(sysfs: sysfs, stateDirectory: root.run + "/qnet/pci")
        let groups = pci.iommuGroups()
        let vendor = CPUVendor(root)
        var checks = [iommu(root, groups: groups, vendor: vendor), commandLine(root, groups: groups, vendor: vendor, config: config),
                      vfioDriver(root, config: config), interruptRemapping(root, groups: groups)]
        let functions = devices.isEmpty ? pci.functions().filter { $0.isNetwork } : devices.map { pci.function($0) ?? missing($0) }
        checks += functions.map { group(of: $0, pci: pci, iommuOn: !groups.isEmpty) }
        return checks
    }

    /// A placeholder for an address with no function (reported by `group(of:)`).
    static func missing(_ address: PCIAddress) -> PCIFunction {
        PCIFunction(address: address, classCode: 0xffffff, vendorID: 0xffff, deviceID: 0xffff)
    }

    enum CPUVendor {
        case intel, amd, other

        init(_ root: HostRoot) {
            let info = root.read(root.proc + "/cpuinfo") ?? ""
            self = info.contains("GenuineIntel") ? .intel : info.contains("AuthenticAMD") ? .amd : .other
        }

        /// The parameter that turns the IOMMU on: `intel_iommu=on`, `amd_iommu=on`.
        var parameter: String {
            switch self {
            case .intel: "intel_iommu=on"
            case .amd: "amd_iommu=on"
            case .other: "intel_iommu=on (Intel) or amd_iommu=on (AMD)"
            }
        }

        var firmwareSetting: String {
            switch self {
            case .intel: "VT-d (Intel Virtualization Technology for Directed I/O)"
            case .amd: "AMD-Vi (IOMMU, sometimes under \"SVM\" or \"NB configuration\")"
            case .other: "VT-d (Intel) or AMD-Vi/IOMMU (AMD)"
            }
        }
    }

    static let grubRemedy = """
        edit GRUB_CMDLINE_LINUX in /etc/default/grub, then `update-grub` (Debian) or `grub2-mkconfig -o /boot/grub2/grub.cfg` (RHEL) and reboot
        """

    /// `iommu.enabled`: IOMMU groups exist (the kernel turned the IOMMU on). Distinguishes
    /// hardware that reports one (ACPI DMAR/IVRS table, /sys/class/iommu units) but is off
    /// from none at all.
    static func iommu(_ root: HostRoot, groups: [Int], vendor: CPUVendor) -> CheckResult {
        let id = "iommu.enabled", title = "IOMMU"
        let units = root.list(root.sys + "/class/iommu")
        let tables = ["DMAR", "IVRS"].filter { root.exists(root.sys + "/firmware/acpi/tables/" + $0) }
        if !groups.isEmpty {
            return CheckResult(id: id, status: .ok, title: title,
                               found: "on: \(groups.count) IOMMU group\(groups.count == 1 ? "" : "s") in \(root.sys)/kernel/iommu_groups"
                                   + (units.isEmpty ? "" : " (units: \(units.joined(separator: ", ")))"))
        }
        if !tables.isEmpty || !units.isEmpty {
            let seen = (tables.map { "ACPI \($0) table" } + units).joined(separator: ", ")
            return CheckResult(id: id, status: .fail, title: title,
                               found: "present but off: the firmware reports one (\(seen)) and \(root.sys)/kernel/iommu_groups is empty; vfio-pci cannot assign devices",
                               remedy: "boot with \(vendor.parameter) iommu=pt: \(grubRemedy)")
        }
        return CheckResult(id: id, status: .fail, title: title,
                           found: "none: no ACPI DMAR/IVRS table, no unit in \(root.sys)/class/iommu and no IOMMU group; PCI passthrough (`qnet pci bind`) is impossible on this host",
                           remedy: """
                               turn on \(vendor.firmwareSetting) in the firmware setup, then boot with \(vendor.parameter) iommu=pt
                               in a virtual machine, give it a virtual IOMMU: QEMU -machine q35,kernel-irqchip=split -device intel-iommu,intremap=on
                               """)
    }

    /// `iommu.cmdline`: intel_iommu=on / amd_iommu=on (or the kernel's default), and iommu=pt.
    static func commandLine(_ root: HostRoot, groups: [Int], vendor: CPUVendor, config: KernelConfig?) -> CheckResult {
        let id = "iommu.cmdline", title = "IOMMU kernel parameters"
        let path = root.proc + "/cmdline"
        guard let line = root.readValue(path) else {
            return CheckResult(id: id, status: .warn, title: title, found: "cannot read \(path)", remedy: "boot with \(vendor.parameter) iommu=pt")
        }
        let words = line.split(separator: " ").map(String.init)
        let relevant = words.filter { $0.hasPrefix("intel_iommu=") || $0.hasPrefix("amd_iommu=") || $0.hasPrefix("iommu=") || $0.hasPrefix("vfio") }
        let shown = relevant.isEmpty ? "none of intel_iommu=, amd_iommu=, iommu=" : relevant.joined(separator: " ")
        if let off = relevant.first(where: { $0 == "intel_iommu=off" || $0 == "amd_iommu=off" || $0 == "iommu=off" }) {
            return CheckResult(id: id, status: .fail, title: title, found: "\(off) on the kernel command line (\(path)): the IOMMU is turned off",
                               remedy: "replace \(off) with \(vendor.parameter) iommu=pt: \(grubRemedy)")
        }
        let defaultOn = config?["CONFIG_INTEL_IOMMU_DEFAULT_ON"] == .builtIn
        let turnedOn = relevant.contains("intel_iommu=on") || relevant.contains("amd_iommu=on") || vendor == .amd || defaultOn
        let passThrough = relevant.contains("iommu=pt")
        if groups.isEmpty && !turnedOn {
            return CheckResult(id: id, status: .fail, title: title, found: "\(shown) (\(path)); the IOMMU stays off without \(vendor.parameter)",
                               remedy: "add \(vendor.parameter) iommu=pt: \(grubRemedy)")
        }
        if !passThrough {
            return CheckResult(id: id, status: .warn, title: title,
                               found: "\(shown) (\(path)): no iommu=pt, so every host device's DMA is translated too (slower host I/O)",
                               remedy: "add iommu=pt (host devices bypass translation; assigned ones stay isolated): \(grubRemedy)")
        }
        return CheckResult(id: id, status: .ok, title: title, found: "\(shown) (\(path))")
    }

    /// `vfio.driver`: vfio-pci loaded, built in, or loadable.
    static func vfioDriver(_ root: HostRoot, config: KernelConfig?) -> CheckResult {
        let id = "vfio.driver", title = "vfio-pci driver"
        let modules = KernelModules(root: root)
        if root.exists(root.sys + "/bus/pci/drivers/vfio-pci") {
            let how = modules.isLoadedModule("vfio_pci") ? "loaded" : "present (built in or loaded)"
            return CheckResult(id: id, status: .ok, title: title, found: "\(how): \(root.sys)/bus/pci/drivers/vfio-pci")
        }
        if modules.builtIn.contains("vfio_pci") || config?["CONFIG_VFIO_PCI"] == .builtIn {
            return CheckResult(id: id, status: .ok, title: title, found: "built into the kernel")
        }
        if modules.isAvailable("vfio-pci") || config?["CONFIG_VFIO_PCI"] == .module {
            return CheckResult(id: id, status: .ok, title: title, found: "a loadable module (not loaded yet): `qnet pci bind` loads it")
        }
        let setting = config.map { " (CONFIG_VFIO_PCI=\($0["CONFIG_VFIO_PCI"]), \($0.source))" } ?? ""
        return CheckResult(id: id, status: .fail, title: title,
                           found: "not loaded and not found among the kernel's modules\(setting)",
                           remedy: "install your distribution's full kernel modules (Debian: linux-image-amd64; Ubuntu: linux-modules-extra-$(uname -r)), then `modprobe vfio-pci`")
    }

    /// `iommu.interrupt-remapping`: MSIs go through the IOMMU's remapping table (`IR-` in
    /// /proc/interrupts); without it vfio_iommu_type1 refuses to assign a device unless
    /// allow_unsafe_interrupts=1, which lets a guest forge interrupts to the host.
    static func interruptRemapping(_ root: HostRoot, groups: [Int]) -> CheckResult {
        let id = "iommu.interrupt-remapping", title = "Interrupt remapping"
        let unsafePath = root.sys + "/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"
        let unsafe = root.readValue(unsafePath)
        let unsafeNote = unsafe.map { " (allow_unsafe_interrupts=\($0))" } ?? ""
        let interrupts = root.read(root.proc + "/interrupts") ?? ""
        if interrupts.contains("IR-") {
            return CheckResult(id: id, status: .ok, title: title, found: "on: \(root.proc)/interrupts lists IR- (remapped) interrupts\(unsafeNote)")
        }
        let meaning = "without it vfio refuses to assign devices (\"No interrupt remapping support\") unless vfio_iommu_type1 allow_unsafe_interrupts=1, which lets a guest with an assigned device send arbitrary interrupts (MSI) to the host: acceptable only for guests you trust"
        if groups.isEmpty {
            return CheckResult(id: id, status: .fail, title: title, found: "off: there is no IOMMU, so no interrupt remapping; \(meaning)",
                               remedy: "enable the IOMMU first (see iommu.enabled); interrupt remapping comes with it on current hardware")
        }
        if unsafe == "Y" || unsafe == "1" {
            return CheckResult(id: id, status: .warn, title: title,
                               found: "off, and allow_unsafe_interrupts=Y (\(unsafePath)): assigned devices work, but a guest can send the host arbitrary interrupts",
                               remedy: "enable interrupt remapping (x2APIC / \"Interrupt Remapping\" in the firmware setup; not intremap=off on the kernel command line), then remove allow_unsafe_interrupts from /etc/modprobe.d")
        }
        return CheckResult(id: id, status: .warn, title: title, found: "not seen in \(root.proc)/interrupts\(unsafeNote); \(meaning)",
                           remedy: """
                               enable interrupt remapping (x2APIC / "Interrupt Remapping" in the firmware setup; remove intremap=off from the kernel command line)
                               for trusted guests only: echo 'options vfio_iommu_type1 allow_unsafe_interrupts=1' > /etc/modprobe.d/qnet-vfio.conf
                               """)
    }

    /// `iommu.group.ADDR`: the function's group, and whether other functions in it have
    /// host drivers (they would have to be bound too).
    static func group(of function: PCIFunction, pci: PCIHost, iommuOn: Bool) -> CheckResult {
        let id = "iommu.group.\(function.address)", title = "IOMMU group of \(function.address)"
        guard pci.function(function.address) != nil else {
            return CheckResult(id: id, status: .fail, title: title, found: "no PCI function \(function.address)",
                               remedy: "pick an address from `qnet pci list --all`")
        }
        guard let group = function.iommuGroup else {
            return CheckResult(id: id, status: iommuOn ? .fail : .warn, title: title,
                               found: "\(function.label) has no IOMMU group" + (iommuOn ? "" : " (no IOMMU, see iommu.enabled)"),
                               remedy: iommuOn ? "a device behind a conventional PCI bridge may lack one; move the card to another slot" : "enable the IOMMU (see iommu.enabled)")
        }
        let peers = function.groupPeers.compactMap(pci.function)
        let driven = peers.filter { !$0.isBridge && $0.driver != nil && $0.driver != "vfio-pci" && $0.driver != "pci-stub" }
        if driven.isEmpty {
            let others = peers.isEmpty ? "alone in it" : "with \(peers.map(\.address.description).joined(separator: ", ")) (bridges or without host driver)"
            return CheckResult(id: id, status: .ok, title: title, found: "\(function.label): group \(group), \(others)")
        }
        let named = driven.map { "\($0.label) [\($0.driver ?? "-")]" }.joined(separator: ", ")
        return CheckResult(id: id, status: .warn, title: title,
                           found: "\(function.label): group \(group) is shared with \(named); VFIO assigns whole groups",
                           remedy: """
                               assign them together: qnet pci bind \(function.address) --group
                               or move the card to a slot with its own group (a CPU root port, not the chipset's; an ACS-capable switch)
                               """)
    }
}
