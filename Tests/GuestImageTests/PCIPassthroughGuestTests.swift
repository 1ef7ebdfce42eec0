import Foundation
@testable import GuestImage
import QNetTestSupport
import Testing

/// PCI passthrough on a real kernel: a TCG micro-VM with an emulated IOMMU (q35 + intel-iommu
/// with interrupt remapping, kernel `intel_iommu=on`), an e1000e NIC and an NVMe controller
/// with SR-IOV (QEMU 7.2 emulates no SR-IOV NIC; creating VFs, their sysfs links,
/// driver_override and vfio-pci binding are the same for any PCI function). qnet itself runs
/// in the guest (the debug build with the libraries it needs, `ProgramClosure`) and does every
/// step; the guest checks each result through sysfs and /dev/vfio (not qnet's own reading)
/// and reports it as a `QNET step=...` line. No root needed on the host.
@Suite(Host.needsGuestInputs)
struct PCIPassthroughGuestTests {
    /// Fixed guest addresses (`addr=` on the QEMU devices), so the script and the checks agree.
    static let nicAddress = "0000:00:03.0"
    static let nvmeAddress = "0000:00:04.0"
    static let stepScript = "/etc/qnet/pci-steps.sh"

    /// Every step the guest must report ok, in order.
    static let expectedSteps = [
        "link", "address", "vfio", "pci-list", "refuse-in-use", "bind-nic", "release-nic",
        "vfs-create", "bind-vf", "release-vf", "vfs-remove",
    ]

    /// The guest's step script, sourced by /init (`qnet.run`) after the address step: it sees
    /// `NIC` (the e1000e's interface, which carries the static address) and `MYADDR`.
    static let script = #"""
    # qnet PCI passthrough steps (PCIPassthroughGuestTests). Every witness is sysfs or /dev/vfio.
    Q="/usr/bin/qnet --state-dir /run/qnet"
    NICDEV=__NIC__ NVME=__NVME__
    driver_of() { d=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) && basename "$d" || echo none; }
    group_of() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"; }
    # run_q ARGS...: qnet's output (both streams) in RAW, as one short line in OUT; its status in RC.
    run_q() { RAW=$($Q "$@" 2>&1); RC=$?; OUT=$(oneline "$RAW"); }

    t0=$(now_ms)
    load_module vfio_pci; load_module vfio_iommu_type1
    groups=$(ls /sys/kernel/iommu_groups 2>/dev/null | wc -l)
    if [ -d /sys/module/vfio_pci ] && [ "$groups" -gt 0 ]; then
        step vfio 1 "$t0" "groups=$groups" -- "vfio-pci loaded; $groups IOMMU groups"
    else
        step vfio 0 "$t0" "groups=$groups" -- "$(oneline "$(cat /tmp/insmod.log 2>/dev/null; dmesg | grep -i -m 3 'dmar\|iommu')")"
    fi

    t0=$(now_ms)
    run_q pci list --all --json
    if [ $RC = 0 ] && echo "$RAW" | grep -q "\"$NICDEV\"" && echo "$RAW" | grep -q "\"$NVME\"" \
        && echo "$RAW" | grep -q '"e1000e"' && echo "$RAW" | grep -q '"nvme"' && echo "$RAW" | grep -q '"iommuGroup" : [0-9]'; then
        step pci-list 1 "$t0" -- "lists $NICDEV (e1000e) and $NVME (nvme) with IOMMU groups"
    else
        step pci-list 0 "$t0" "exit=$RC" -- "$OUT"
    fi

    # The NIC carries the guest's address: qnet must refuse it and leave it alone.
    t0=$(now_ms)
    run_q pci bind "$NICDEV"
    if [ $RC != 0 ] && [ "$(driver_of "$NICDEV")" = e1000e ] && [ -n "$(ip -4 addr show dev "$NIC" | grep inet)" ] \
        && { echo "$OUT" | grep -q -e "$NIC" -e "${MYADDR%/*}"; }; then
        step refuse-in-use 1 "$t0" "exit=$RC" -- "$OUT"
    else
        step refuse-in-use 0 "$t0" "exit=$RC" "driver=$(driver_of "$NICDEV")" -- "$OUT"
    fi

    # Without its address (and down) the host no longer uses it: bound, /dev/vfio/GROUP appears.
    ip addr flush dev "$NIC"; ip link set "$NIC" down
    t0=$(now_ms)
    run_q pci bind "$NICDEV"
    g=$(group_of "$NICDEV")
    if [ $RC = 0 ] && [ "$(driver_of "$NICDEV")" = vfio-pci ] && [ -c "/dev/vfio/$g" ]; then
        step bind-nic 1 "$t0" "group=$g" -- "$NICDEV on vfio-pci, /dev/vfio/$g"
    else
        step bind-nic 0 "$t0" "exit=$RC" "driver=$(driver_of "$NICDEV")" "group=$g" -- "$OUT $(ls /dev/vfio 2>&1)"
    fi

    t0=$(now_ms)
    run_q pci release "$NICDEV"
    if [ $RC = 0 ] && [ "$(driver_of "$NICDEV")" = e1000e ] && [ -d "/sys/bus/pci/devices/$NICDEV/net" ] \
        && [ -z "$(cat "/sys/bus/pci/devices/$NICDEV/driver_override")" -o "$(cat "/sys/bus/pci/devices/$NICDEV/driver_override")" = "(null)" ]; then
        step release-nic 1 "$t0" -- "$NICDEV back on e1000e ($(ls "/sys/bus/pci/devices/$NICDEV/net"))"
    else
        step release-nic 0 "$t0" "exit=$RC" "driver=$(driver_of "$NICDEV")" -- "$OUT"
    fi

    # SR-IOV: VFs of the NVMe controller, not probed by a host driver (autoprobe 0).
    echo 0 > "/sys/bus/pci/devices/$NVME/sriov_drivers_autoprobe"
    t0=$(now_ms)
    run_q pci vfs "$NVME" --count 2
    VF0=$(basename "$(readlink "/sys/bus/pci/devices/$NVME/virtfn0")" 2>/dev/null)
    VF1=$(basename "$(readlink "/sys/bus/pci/devices/$NVME/virtfn1")" 2>/dev/null)
    if [ $RC = 0 ] && [ "$(cat "/sys/bus/pci/devices/$NVME/sriov_numvfs")" = 2 ] && [ -n "$VF0" ] && [ -d "/sys/bus/pci/devices/$VF1" ]; then
        step vfs-create 1 "$t0" "vfs=$VF0,$VF1" -- "2 VFs"
    else
        step vfs-create 0 "$t0" "exit=$RC" "numvfs=$(cat "/sys/bus/pci/devices/$NVME/sriov_numvfs")" -- "$OUT"
    fi

    t0=$(now_ms)
    if [ -z "$VF0" ]; then skip bind-vf "" "skipped: no VF"; else
        run_q pci bind "$VF0"
        g=$(group_of "$VF0")
        if [ $RC = 0 ] && [ "$(driver_of "$VF0")" = vfio-pci ] && [ -c "/dev/vfio/$g" ]; then
            step bind-vf 1 "$t0" "vf=$VF0" "group=$g" -- "$VF0 on vfio-pci, /dev/vfio/$g"
        else
            step bind-vf 0 "$t0" "exit=$RC" "vf=$VF0" "driver=$(driver_of "$VF0")" "group=$g" -- "$OUT"
        fi
    fi

    t0=$(now_ms)
    if [ -z "$VF0" ]; then skip release-vf "" "skipped: no VF"; else
        run_q pci release "$VF0"
        if [ $RC = 0 ] && [ "$(driver_of "$VF0")" = none ]; then
            step release-vf 1 "$t0" "vf=$VF0" -- "$VF0 unbound again (it had no driver)"
        else
            step release-vf 0 "$t0" "exit=$RC" "vf=$VF0" "driver=$(driver_of "$VF0")" -- "$OUT"
        fi
    fi

    t0=$(now_ms)
    run_q pci vfs "$NVME" --count 0
    if [ $RC = 0 ] && [ "$(cat "/sys/bus/pci/devices/$NVME/sriov_numvfs")" = 0 ] && [ ! -e "/sys/bus/pci/devices/$NVME/virtfn0" ]; then
        step vfs-remove 1 "$t0" -- "no VFs"
    else
        step vfs-remove 0 "$t0" "exit=$RC" "numvfs=$(cat "/sys/bus/pci/devices/$NVME/sriov_numvfs")" -- "$OUT"
    fi
    """#
        .replacing("__NIC__", with: nicAddress).replacing("__NVME__", with: nvmeAddress)

    /// The image: the probe image plus the e1000e, NVMe and VFIO modules, qnet and the step
    /// script; uncompressed (the debug qnet and its libraries are about 110 MB, which qnet's
    /// own gzip would take long to compress in a debug build). Cached in a folder of its
    /// own beside the shared image (a different image; the fingerprint rebuilds it whenever
    /// qnet is rebuilt).
    static func image() throws -> GuestImage {
        var builder = try GuestImageBuilder(kernel: Host.kernel, iperf3: nil, compression: .none, dhcpcd: nil)
        builder.requiredDrivers += ["e1000e", "nvme"]
        builder.extraModules += ["vfio_pci", "vfio_iommu_type1"]
        builder.extraPrograms = [.init(hostPath: try qnetExecutable(), guestPath: "/usr/bin/qnet")]
        builder.extraFiles = [.init(guestPath: stepScript, contents: script)]
        builder.sizeLimit = 400_000_000
        return try builder.cached(in: SharedImage.directory + "/pci").image
    }

    /// One boot: qnet lists the functions, refuses the NIC that carries the guest's address,
    /// binds it to vfio-pci once it does not (/dev/vfio/GROUP appears) and gives it back to
    /// e1000e, makes two NVMe VFs, binds one and releases it, and removes the VFs. Each step
    /// is checked by its line; a missing line fails the test naming it.
    @Test(.timeLimit(.minutes(15)))
    func qnetBindsAndReleasesFunctionsAndVFsOnARealIOMMU() throws {
        let image = try Self.image()
        let scratch = try ScratchDirectory("pci-guest")
        // Kernel quirk: with interrupt remapping, a slow TCG guest on a loaded host can fail the
        // boot-time check that the timer interrupt arrives through the IO-APIC and panic
        // ("timer doesn't work through Interrupt-remapped IO-APIC"); no_timer_check skips it.
        let plan = ProbePlan(addressing: .address("10.0.2.15/24"), gateway: .none, stepTimeout: 10,
                             extraKernelArguments: ["intel_iommu=on", "no_timer_check", "qnet.run=\(Self.stepScript)"])
        let devices = [
            // Interrupt remapping needs the split irqchip; caching-mode lets vfio map guest memory.
            "-machine", "q35,kernel-irqchip=split", "-device", "intel-iommu,intremap=on,caching-mode=on",
            "-netdev", "user,id=n0", "-device", "e1000e,netdev=n0,addr=0x3",
            "-device", "nvme-subsys,id=ss0",
            "-device", "nvme,serial=qnetsriov,subsys=ss0,sriov_max_vfs=2,sriov_vq_flexible=6,sriov_vi_flexible=2,msix_qsize=4,addr=0x4",
        ]
        let guest = try QEMUGuest(image: image, plan: plan, scratch: scratch, name: "pci", network: devices, memoryMiB: 768)
        let finished = guest.wait(timeout: BootTests.bootAllowance + 60) { $0.isComplete }
        BootTests.report(guest, "pci passthrough")
        #expect(finished, "the guest did not finish its steps\n\(guest.diagnostics)")
        for name in Self.expectedSteps {
            guard let step = guest.report.step(name) else {
                Issue.record("no QNET step=\(name) line\n\(guest.diagnostics)")
                continue
            }
            #expect(step.ok, "step \(name): \(step.detail) \(step.fields)")
        }
        #expect(guest.report.ok, "\(guest.report.failedSteps.map { "\($0.name): \($0.detail)" })")
    }
}
