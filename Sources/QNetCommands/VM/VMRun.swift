import ArgumentParser
import Glibc
import VirtualMachines

/// `qnet vm run NAME ...`: the recipe's long `qemu-kvm ... -net nic -net tap,...` line.
struct VMRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start a VM (qemu-system-x86_64 ... -netdev tap,fd=N), detached unless --foreground.",
        discussion: """
            Each --nic gets a transient TAP that qnet opens (vnet_hdr on), attaches to the bridge with the \
            bridge's MTU and hands to QEMU as a descriptor; so are the QMP socket, console log, disks, CD, \
            kernel and initrd, so QEMU needs access to no path. QEMU runs under -sandbox as a uid of its own \
            from the VM uid range (--uid-range, QNET_UID_RANGE; default 1879048192-1879113727), unless --user \
            names a user, and starts paused until every NIC is on its bridge. The TAPs vanish when QEMU exits, \
            however it exits. Arguments after -- go to QEMU unchanged.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The VM's name (letters, digits, '.', '_', '-'); optional with -f.")
    var name: String?

    @Option(name: .customShort("f"), help: ArgumentHelp("Read the VM from a YAML file (same fields as the options).", valueName: "file"))
    var file: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Memory: MiB, or with a unit (512M, 2G).", valueName: "size"), transform: Parse.memory)
    var memory: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Virtual CPUs.", valueName: "n"))
    var cpus: Int?

    @Option(name: .customLong("disk"), help: ArgumentHelp("A disk image (repeatable; raw or qcow2).", valueName: "path"))
    var disks: [String] = []

    @Option(help: ArgumentHelp("An ISO image as CD-ROM.", valueName: "iso"))
    var cdrom: String?

    @Option(help: ArgumentHelp("Boot order, e.g. cd (disk, then CD-ROM).", valueName: "order"))
    var boot: String?

    @Option(name: .customLong("nic"), help: ArgumentHelp("bridge=BR|network=NAME[,model=virtio|e1000|e1000e|rtl8139][,mac=MAC][,queues=N][,filter=on|off][,ip=ADDR]...; user[,backend=slirp|passt][,hostfwd=tcp:ADDR:HPORT-:GPORT]...[,restrict=on]; pci=DDDD:BB:DD.F (a host NIC through vfio-pci); vf=PF:INDEX[,mac=MAC][,vlan=ID] (an SR-IOV VF); or none (repeatable).", valueName: "spec"))
    var nics: [String] = []

    @Option(help: ArgumentHelp("Boot this kernel directly.", valueName: "path"))
    var kernel: String?

    @Option(help: ArgumentHelp("Initial ramdisk for --kernel.", valueName: "path"))
    var initrd: String?

    @Option(help: ArgumentHelp("Kernel command line for --kernel.", valueName: "text"))
    var append: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("VNC display, e.g. :0.", valueName: ":n"), transform: Parse.vncDisplay)
    var vnc: Int?

    @Option(help: ArgumentHelp("Write the serial console to this file (default: the VM's state directory).", valueName: "file"))
    var console: String?

    @Option(help: "Accelerator: kvm, tcg or auto (KVM only if a probe shows it runs guests).")
    var accel: Acceleration?

    @Option(help: ArgumentHelp("The user QEMU runs as (default: a uid of its own from the VM uid range; never root unless --user root).", valueName: "user"))
    var user: String?

    @Option(help: ArgumentHelp("The uids VMs' QEMUs get without --user (default: $QNET_UID_RANGE, else 1879048192-1879113727).", valueName: "first-last"),
            transform: { try VMUserRange(parsing: $0) })
    var uidRange: VMUserRange?

    @Flag(help: "Stay attached until the VM exits (default: detach, like -daemonize).")
    var foreground = false

    @Flag(help: "Start the VM declared in CONFIG_DIR/vms/NAME.yaml (/etc/qnet, or DIR/etc with --state-dir DIR), as `qnet apply` would; what qnet-vm@NAME.service runs.")
    var declared = false

    @Argument(parsing: .postTerminator, help: "Extra QEMU arguments, after --.")
    var extra: [String] = []

    func validate() throws {
        if name == nil && file == nil { throw ValidationError("give the VM a name, or a YAML file with -f") }
        if declared && (name == nil || file != nil) { throw ValidationError("--declared takes the VM's name and no -f (its file is CONFIG_DIR/vms/NAME.yaml)") }
    }

    /// The command line's values, for `VMDefinition.load` to lay over the file's.
    var overrides: VMOverrides {
        VMOverrides(name: name, memory: memory, cpus: cpus, disks: disks, cdrom: cdrom, boot: boot, nics: nics,
                    kernel: kernel, initrd: initrd, append: append, vnc: vnc, console: console, accel: accel,
                    user: user, extraArguments: extra)
    }

    func run() throws {
        let definition = try declared ? declaredDefinition() : VMDefinition.load(path: file, overrides: overrides)
        let host = try global.openHost()
        let manager = VMFactory.manager(host: host, global: global)
        manager.userRange = uidRange
        let state = try manager.run(definition, foreground: foreground)
        if foreground {
            print("VM \(state.name) exited")
        } else {
            print("started VM \(state.name) (pid \(state.pid), \(state.accel.rawValue), user \(state.user))")
            for nic in state.nics { print("  \(NICFormatting.long(nic))") }
            print("  console: \(state.consoleLog)")
        }
        // A signal after QEMU was continued: the VM runs (and is tracked); exit 128 + the signal.
        if let interruption = manager.interruption { throw interruption }
    }
}

extension VMRun {
    /// The VM `qnet apply` would start under this name, with the command line's values laid over it.
    func declaredDefinition() throws -> VMDefinition {
        if let stateDirectory = global.stateDirectory { setenv("QNET_STATE_DIR", stateDirectory, 1) }
        let directory = QNetPaths.configuration
        guard let declared = try HostConfiguration.load(directory: directory).vms.first(where: { $0.definition.name == name }) else {
            throw OperationFailed(description: "no VM named '\(name ?? "")' is declared in \(directory)/vms (see `ls \(directory)/vms`)")
        }
        var overrides = overrides
        overrides.name = nil
        return try declared.definition.overridden(by: overrides)
    }
}

extension Acceleration: ExpressibleByArgument {}
