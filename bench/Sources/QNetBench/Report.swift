import Foundation

/// Everything one run measured, and the Markdown written from it.
struct Results: Codable {
    var machine: [String]
    var oneNIC: [Series]
    var many: ManyResults
    var show: [Series]
    var phases: [Series]
    var plan: ManyPlan
    var showPorts: Int
    /// (e) start-up and (f) QEMU's script= hook; absent in runs saved before they existed.
    var hooks: [Series]?
    /// `--version` and the hook of the PIE build of the same objects (`make release-pie`).
    var pie: [Series]?
    /// The hook with qnet's runtime dir on a tmpfs.
    var hookTmpfs: Series?
    /// (g) `qnet probe`.
    var probe: ProbeResults?
}

/// A measured time with its unit, at a precision that suits its size ("1.23 s", "4.5 ms").
func formatMeasurement(_ value: Double) -> String {
    if value >= 1 { return String(format: "%.2f s", value) }
    if value >= 0.1 { return String(format: "%.3f s", value) }
    if value >= 0.01 { return String(format: "%.1f ms", value * 1000) }
    return String(format: "%.2f ms", value * 1000)
}

func formatRatio(_ value: Double) -> String {
    value >= 10 ? String(format: "%.0f×", value) : String(format: "%.2f×", value)
}

/// "2.4× faster" / "1.3× slower" for `other` measured against `qnet`.
func comparison(_ qnet: Series, _ other: Series) -> String {
    let ratio = other.median / qnet.median
    return ratio >= 1 ? "\(formatRatio(ratio)) faster" : "\(formatRatio(1 / ratio)) slower"
}

/// A table: one row per series with its median and spread, and (with `reference`) the
/// ratio of its median to the reference's. Labels starting with two spaces are sub-rows.
func table(_ series: [Series], reference: Series?, ratioTitle: String = "median ÷ qnet") -> String {
    var text = reference == nil ? "| part | median | min | max | reps |\n|---|---:|---:|---:|---:|\n"
                                : "| method | median | min | max | reps | \(ratioTitle) |\n|---|---:|---:|---:|---:|---:|\n"
    for entry in series {
        let sub = entry.label.hasPrefix("  ")
        let label = sub ? "&nbsp;&nbsp;↳ " + entry.label.trimmingCharacters(in: .whitespaces) : entry.label
        text += "| \(label) | **\(formatMeasurement(entry.median))** | \(formatMeasurement(entry.minimum)) | \(formatMeasurement(entry.maximum)) | \(entry.samples.count) |"
        if let reference { text += sub ? " |" : " \(formatRatio(entry.median / reference.median)) |" }
        text += "\n"
    }
    return text
}

/// The median over repetitions of `a[i] - b[i]` (two parts timed in the same repetition).
func pairedMedian(_ a: Series, minus b: Series) -> Double {
    Series("difference", samples: zip(a.samples, b.samples).map { $0 - $1 }).median
}

func rawSamples(_ series: [Series]) -> String {
    series.map { entry in
        "- \(entry.label.trimmingCharacters(in: .whitespaces)): " + entry.samples.map { String(format: "%.4f", $0) }.joined(separator: ", ")
    }.joined(separator: "\n")
}

extension Results {
    func markdown() -> String {
        let a = oneNIC, b = many.create, c = many.teardown, d = show, p = phases
        let qnetA = a[0], qnetCLI = a[2], stepA = a[3], batchA = a[4]
        let qnetB = b[0], closeB = b[2], batchB = b[3], stepB = b[4]
        let qnetC = c[0], groupC = c[1], batchC = c[2], oneByOneC = c[3]
        let showTable = d[0], bridgeShow = d[2], brctlShow = d[3], qnetHelp = d[6], ipLo = d[7]
        let partFull = p[0], partBare = p[1], partLookups = p[2], partTuntap = p[4], partAttach = p[5]
        let partDeletePorts = p[6], partDeleteBare = p[7]
        let n = plan.count
        let settle = many.settle

        let createTargetMet = qnetB.median <= 0.15
        let createVsBatchMet = qnetB.median <= batchB.median
        let deleteTargetMet = qnetC.median <= 0.15
        let cliVsStepMet = qnetCLI.median < stepA.median
        let cliVsBatchMet = qnetCLI.median <= 1.5 * batchA.median
        let showMet = showTable.median <= bridgeShow.median
        func verdict(_ met: Bool) -> String { met ? "**met**" : "**missed**" }
        let ms = { (value: Double) in formatMeasurement(value) }
        let dump: Series? = d.count > 8 ? d[8] : nil
        let receive: Series? = d.count > 9 ? d[9] : nil
        // (e)/(f): version, help, ip lo, true, qnet hook, two-ip script, classic script.
        let h = hooks ?? []
        let hasHooks = h.count == 7
        var hookTargets = ""
        let pieRows = pie ?? []
        if hasHooks {
            let version = h[0], hookQnet = h[4], hookIP = h[5], hookClassic = h[6]
            hookTargets = """
            | `qnet --version` ≤ 3 ms | \(ms(version.median)) | \(verdict(version.median <= 0.003)) |
            | `qnet ifup` as QEMU's `script=` faster than the two-process ip script | qnet \(ms(hookQnet.median)), script \(ms(hookIP.median)) | \(verdict(hookQnet.median < hookIP.median)) |
            | `qnet ifup` ≥ 100× faster than the classic script with `sleep 0.5` | \(formatRatio(hookClassic.median / hookQnet.median)) (\(ms(hookClassic.median))) | \(verdict(hookClassic.median >= 100 * hookQnet.median)) |

            """
            if pieRows.count == 2 {
                hookTargets += "| `qnet --version` as a PIE with DT_RELR (the same objects, not shipped; see (e)) ≤ 3 ms | \(ms(pieRows[0].median)) | \(verdict(pieRows[0].median <= 0.003)) |\n"
            }
        }

        var text = """
        # qnet benchmarks

        Generated by `bench/run.sh` (release builds of `qnet` and `QNetBench`); every number below
        comes from that run. Do not edit by hand: re-run `sudo bench/run.sh`.

        **Machine:** \(machine.joined(separator: "; "))

        **Method.** Each measurement runs inside network namespaces the bench creates (`ip netns add`)
        and deletes itself, each with a bridge `br0` (STP off); the host namespace's interfaces are
        never touched. qnet, `ip` once per step (one process per command, as a shell script would run
        it) and `ip -batch` (one process reading a file of the same commands) do the same job side by
        side, interleaved within each repetition. Time is read with `clock_gettime(CLOCK_MONOTONIC)`; a
        process is timed from `posix_spawn` to `waitpid` (stdout to /dev/null), so its start-up counts,
        as it does for a script. Every `ip` command addresses the namespace with `-n NS`; qnet
        in-process uses `HostNetwork(namespace:)` on an already open instance. After every step an
        independent witness checks the kernel's state (`ip -j -n NS link show master br0` / `type tun`
        / `group N`: the right number of ports, all up, no TAP left after a teardown) and the run stops
        on any mismatch. Before each timed step the bench waits until the kernel has finished the
        previous one (every port of br0 in STP state "disabled", see (b)), until at least one of the
        two CPUs is idle (other users build and test on this machine; for the millisecond-scale (a)
        and (d) this is checked once per repetition; at most 5 s, the machine line says
        how long it waited in all) and then 100 ms more. The bench and every process it starts run
        at `nice -15`, so other users' builds take CPU time from them as little as possible. One untimed
        warm-up round comes first. Medians are reported; "÷ qnet" is a row's median over qnet's.

        ## Targets

        Each a whole process, start-up included, except the in-process rows; the sections below
        have the tables, and "Why" the reasons measured for a miss.

        | target | measured (median) | result |
        |---|---:|---|
        \(hookTargets)| (a) `qnet --netns NS tap create nic0 --bridge br0` faster than `ip` per step (3 processes) | qnet \(ms(qnetCLI.median)), ip \(ms(stepA.median)) | \(verdict(cliVsStepMet)) |
        | (a) the same within 1.5× of `ip -batch` | \(formatRatio(qnetCLI.median / batchA.median)) of \(ms(batchA.median)) | \(verdict(cliVsBatchMet)) |
        | (d) `qnet show br0` with \(showPorts) ports no slower than `bridge link show` | qnet \(ms(showTable.median)), bridge \(ms(bridgeShow.median)) | \(verdict(showMet)) |
        | (b) in-process `createTAPs` of \(n) TAPs no slower than `ip -batch` | qnet \(ms(qnetB.median)), `ip -batch` \(ms(batchB.median)) | \(verdict(createVsBatchMet)) |
        | (c) teardown of the \(n) ports ≤ 0.15 s | \(ms(qnetC.median)) | \(verdict(deleteTargetMet)) |
        | (b) \(n) TAPs create + attach + up ≤ 0.15 s (an earlier target) | \(ms(qnetB.median)) | \(verdict(createTargetMet)) |
        \(probe.map { g in
            "| (g) `qnet probe` with a warm guest cache, command to verdict under TCG, ≤ 6 s | \(ms(g.series[0].median)) (accel \(g.accel)) | \(verdict(g.series[0].median <= 6 && g.accel == "tcg")) |\n"
            + "| (g) the KVM verdict reused, not probed again, when the state dir changes | verdict file unchanged over \(g.series[0].samples.count) runs in 2 state dirs (verdict: \(g.kvmVerdict)) | \(verdict(g.kvmVerdictReused)) |\n"
        } ?? "")
        ## (a) One NIC: create a TAP, attach it to an existing bridge, bring it up

        A persistent TAP `nic0` (what `ip tuntap add` makes), attached to `br0` and up. qnet: one
        `TUNSETIFF` + `TUNSETPERSIST`, then one `RTM_NEWLINK` carrying MAC, MTU, master and up together;
        the timed region includes closing qnet's descriptor. The TAP is deleted between repetitions
        (untimed).

        \(table(a, reference: qnetA))
        In-process qnet is \(comparison(qnetA, stepA)) than the three `ip` processes and
        \(comparison(qnetA, batchA)) than `ip -batch`. As a process of its own (`qnet tap create`,
        \(ms(qnetCLI.median))) it is \(comparison(qnetCLI, stepA)) than ip per step: its start-up alone
        is \(ms(hasHooks ? h[0].median : qnetHelp.median)) (\(hasHooks ? "`qnet --version`, see (e)" : "`qnet --help`, see (d)")) against \(ms(ipLo.median)) for a whole
        `ip link show dev lo`.\(cliVsBatchMet ? "" : " Within 1.5× of `ip -batch` (\(ms(batchA.median)), one process) is missed by that start-up: with \(ms(a[1].median)) of kernel work done in-process, \(ms(qnetCLI.median)) leaves \(ms(max(0, qnetCLI.median - a[1].median))) for starting the 92 MiB static binary and for the lock and the journal (see \"Why\" below).")

        ## (b) \(n) TAPs: create, attach to br0, bring up

        qnet: one `createTAPs` call for \(n) persistent, named TAPs in interface group \(plan.group),
        bridge `br0`, then closing the \(n) descriptors it returns (timed). `ip`: for each TAP
        `tuntap add NAME mode tap`, `link set NAME master br0`, `link set NAME up`.

        \(table(b, reference: qnetB))
        **Asynchronous tail.** After `createTAPs` returns, the kernel still has carrier changes of the
        new ports to process in the background (linkwatch, in batches, holding the RTNL lock; about
        \(Int(Double(n) / settle.median)) devices per second here): \(ms(settle.median)) median (min \(ms(settle.minimum)), max \(ms(settle.maximum)))
        until every port is in STP state "disabled". This is in none of the timed rows (the bench
        waits for it before the next step). `createTAPs` closes each persistent TAP's descriptor (a TAP
        with an open descriptor has a carrier) before its link batch\(closeB.median < 0.001 ? " (hence the near-zero \"closing\" row)" : ""), which
        `TAPOptions` documents as avoiding this tail; in this run the tail was there all the same (the
        carrier each TAP had between its `TUNSETIFF` and that close is still being processed after the
        ports joined br0). `ip tuntap add` closes its descriptor before anything is attached.

        ## (c) Teardown of the \(n) ports

        qnet: `deleteGroup(\(plan.group))`, one `RTM_DELLINK` naming the group. `ip link delete group`
        sends the same request from a process; it runs on TAPs qnet created (with the group). The other
        `ip` rows delete the TAPs `ip` created.

        \(table(c, reference: qnetC))

        ## Where the time of (b) and (c) goes

        The same jobs split into parts, each timed separately (same namespace setup, \(partFull.samples.count) repetitions).

        \(table(p, reference: nil))

        ## (d) Showing a bridge with \(showPorts) ports

        Each row is a whole process (start-up included), output to /dev/null. All rows except the two
        "from the host namespace" run inside the namespace: the bench re-runs itself under
        `ip netns exec NS`, so `brctl`, which reads `/sys/class/net/br0/brif`, sees it. Each display
        command's output was checked once to list all \(showPorts) ports. The ports are TAPs made by
        `createTAPs` and owned by root, as `qnet tap create` makes them. The last two rows are start-up
        floors for comparison.

        \(table(d, reference: showTable, ratioTitle: "median ÷ `qnet show br0`"))

        """
        if hasHooks {
            text += """
            ## (e) Start-up

            Whole processes doing nothing but starting (and, for `ip`, one small request), interleaved,
            run inside a namespace. `qnet --version` is answered before the argument parser runs;
            `qnet --help` builds the whole command tree through ArgumentParser.

            \(table(Array(h[0..<4]) + pieRows.prefix(1), reference: h[0], ratioTitle: "median ÷ `qnet --version`"))
            ## (f) QEMU's `script=` hook

            What QEMU does when a NIC has `script=PATH`: it runs PATH with the TAP's name as the only
            argument (`execv`) and waits for it. A persistent TAP `hook0` (down, no master) is handed to
            each hook in turn inside a namespace with `br0`; after each run `ip -j` checks that it is up
            and a port of br0, then it is detached and taken down again (untimed). The classic script
            runs \(h[6].samples.count) times, the others \(h[4].samples.count).

            \(table(Array(h[4...]) + pieRows.dropFirst() + (hookTmpfs.map { [$0] } ?? []), reference: h[4], ratioTitle: "median ÷ qnet"))

            """
        }
        if let probe {
            text += """
            ## (g) `qnet probe`: a micro-VM on br0, from command to verdict

            In a namespace whose br0 has 10.77.0.1/24, `qnet probe br0 --address 10.77.0.2/24 --gateway
            10.77.0.1 --json` boots the micro-VM on br0 and reports link, address and gateway ping; each run
            is checked to pass. The state dir alternates between two folders (`--state-dir`), each with its
            guest cache built before (untimed), so every run follows a state-dir change; the per-boot KVM
            verdict lives outside the state dir (`/run/qnet/kvm-probe.json`), and the bench checks the file
            is unchanged after all runs. One untimed warm-up run comes first. Accelerator used: \(probe.accel)
            (KVM verdict on this machine: \(probe.kvmVerdict)).

            \(table(probe.series, reference: nil))

            """
        }

        // Why: every figure interpolated from this run. Differences between two parts are
        // taken within each repetition (both measured seconds apart), then the median.
        let attachQnet = pairedMedian(partFull, minus: partBare)
        let linkwatchRate = Double(n) / settle.median
        let perTAPFloor = partBare.median / Double(n) * 1000
        var why = "## Why qnet is faster here and slower there\n\n"
        why += """
        **Creating.** A TAP cannot be created over rtnetlink (the kernel answers EOPNOTSUPP), so every
        method pays one `open("/dev/net/tun")` + `TUNSETIFF` per TAP, and that ioctl registers a whole
        net device (sysfs entries, sysctl tables, per-device IPv4/IPv6 state). It is the floor nobody
        can batch: qnet's `createTAPs` without attaching takes \(ms(partBare.median)) for \(n) TAPs
        (\(String(format: "%.2f", perTAPFloor)) ms per TAP, of which \(ms(partLookups.median)) in all
        are the per-TAP index lookups), `ip -batch`'s \(n) `tuntap add` lines \(ms(partTuntap.median)).
        What qnet saves is everything around the ioctl: no process start-ups (\(String(format: "%.1f", stepB.median / Double(n * 3) * 1000)) ms
        per `ip` process here, including `ip -n`'s `setns` and `/sys` remount) and one `RTM_NEWLINK` per TAP
        carrying MAC, MTU, group, master and up together, all \(n) sent as one netlink batch whose
        acknowledgements are collected at the end. Hence in-process qnet is \(comparison(qnetA, stepA))
        than ip per step for one NIC and \(comparison(qnetB, stepB)) for \(n). Against `ip -batch` for
        \(n) TAPs qnet is \(comparison(qnetB, batchB)) (\(ms(qnetB.median)) against \(ms(batchB.median))).
        Attaching and bringing up the \(n) TAPs costs qnet about
        \(ms(attachQnet)) (first part minus second, per repetition), `ip -batch`'s 1000 `link set` lines on
        carrier-less TAPs \(ms(partAttach.median)); closing the descriptors adds \(ms(closeB.median)), and the
        asynchronous tail is \(ms(settle.median)) (≈ \(Int(linkwatchRate)) ports per second). A TAP that joins
        a bridge with a carrier is enabled at once, and enabling a port re-runs the STP port state
        selection over every port of br0 (touching each port's multicast-snooping timers), so that work
        grows with the square of the port count; a TAP that comes up with a carrier also gets IPv6
        autoconfiguration. (perf on this kernel, in an earlier run where qnet still held the descriptors:
        `br_port_state_selection` → `br_multicast_enable_port`, `addrconf_notify` and `register_netdevice`
        were the largest kernel entries.) For VM TAPs, whose descriptors go to QEMU, the carrier is real
        and this work is unavoidable; for persistent TAPs nobody reads, it is not. \(createTargetMet ? "The 0.15 s target is met." : "The 0.15 s target is missed: creating the \(n) TAPs without attaching them already takes \(ms(partBare.median)), attaching and bringing them up about \(ms(attachQnet)) more and closing the descriptors \(ms(closeB.median)); nearly all of it is kernel time.")

        **Deleting.** Unregistering a net device waits for an RCU grace period. One device per
        request pays one grace period each: `ip link del` one by one takes \(ms(oneByOneC.median)), and
        `ip -batch` of `link del` lines \(ms(batchC.median)), hardly less, because a batch saves the
        process start-ups but not the grace periods. qnet puts every TAP in one interface group when it
        creates it, so one `RTM_DELLINK` naming the group unregisters all \(n) as one batch:
        \(ms(qnetC.median)), \(comparison(qnetC, oneByOneC)) than one by one (`ip link delete group`:
        \(ms(groupC.median)), the same request plus a process start-up). What remains is the kernel's
        per-port work of leaving the bridge (sysfs links, forwarding-database flush, the port's receive
        handler, STP recalculation): the same group delete takes \(ms(partDeletePorts.median)) when the
        TAPs are ports of br0 and \(ms(partDeleteBare.median)) when they are not. \(deleteTargetMet ? "The 0.15 s target is met." : "The 0.15 s target is missed by that per-port bridge work, which is the kernel's, not by the request.")

        **Start-up and the command line.** \(hasHooks ? "A qnet process that does nothing (`qnet --version`) takes \(ms(h[0].median)) against \(ms(h[3].median)) for `/bin/true`: the loader mapping the 85 MiB static binary and binding glibc, then the Swift runtime's and Foundation's initializers. " : "")\(pieRows.count == 2 ? "The same objects linked as a PIE take \(ms(pieRows[0].median)) (the hook \(ms(pieRows[1].median))): a PIE needs about 86,000 relative relocations applied at every start, Swift metadata and Foundation's and ICU's tables; DT_RELR shrinks their table from 2 MB to 16 KB, but applying them still writes to about 250 pages of the binary's data, each a copy-on-write page fault (perf stat: 437 page faults against 205 for the position-dependent build). " : "")Every command but `--version`, QEMU's hook and the plain `tap create NAME [--bridge BR]` and `show [BRIDGE]` goes through ArgumentParser, which builds each command's argument set by reflection (`Mirror`) and casts, and in a static binary each first protocol-conformance lookup scans every conformance record of the binary.\(hasHooks ? " `qnet --help` takes \(ms(h[1].median))." : "") `tap create` (\(ms(qnetCLI.median))) and the hook run without it: \(hasHooks ? "start-up \(ms(h[0].median)), " : "")the kernel work done in-process, netlink socket included, \(ms(a[1].median)), and the rest\(hasHooks ? " (\(ms(max(0, qnetCLI.median - a[1].median - h[0].median))))" : "") the namespace lock, the transaction journal and the Swift code around them. Under `--netns` the plain `tap create` and `show` enter the namespace (`setns`) but leave /sys alone: they read nothing under /sys/class/net, and the remount that `ip -n` and `ip netns exec` do in every process (unshare, `umount2("/sys", MNT_DETACH)`, a fresh sysfs) waits for the old mount to be detached (`strace -T` of `ip -n NS link show`: 0.1 ms at best, up to 46 ms on this machine under load). The command walks qnet's state directory from `/` once, where it walked /run/qnet six times (lock, recovery scan, two journal writes, the removal; a later open checks the remembered descriptor with one `fstatat` and one `fstat`), writes the TAP's journal once (created, written, renamed; unlinked at the commit) and fsyncs nothing: 204 system calls, against 273 before (strace). Its own instructions, start-up excluded (`qnet --version` is 0.50 M), went from 2.7 M to 0.92 M (callgrind): in a static binary the first runtime check of a protocol conformance (a String-keyed Dictionary, an array of `Result`, a tuple holding a `Range`, `[String].joined`) scans every conformance record, 0.3-0.45 M instructions each, and building the recovery handlers that only a rollback uses cost 0.44 M; the hot paths now avoid both (JSONEncoder's first use, 2.1 M, went earlier: the journal's header and created-link record are written by hand). Both write files under `/run/qnet`, which on this machine is on the root file system (ext4), not on a tmpfs: the lock file's holder record is overwritten in place and the journal is not fsync'ed (truncating the lock file to 0 first took 4-6 ms here, ext4 flushing a truncated-and-rewritten file at close; see `FileLock` and `Journal`). Creating, renaming and removing the journal and rewriting the lock file are still file-system journal operations on ext4, which wait when other users' writes keep it busy: with the runtime dir on a tmpfs (as /run is on Debian), `tap create` took \(a.count > 5 ? ms(a[5].median) : "-")\(hookTmpfs.map { " and the hook \(ms($0.median))" } ?? "") in this run.\(hasHooks ? " The hook: `qemu-ifup TAP` \(ms(h[4].median)), the two-process ip script \(ms(h[5].median)), the classic script \(ms(h[6].median)) (its `sleep 0.5` alone is 0.5 s)." : "")

        **Showing.** `qnet show br0` reads br0 by name and then one `RTM_GETLINK` dump that the kernel filters by master (IFLA_MASTER in the request), and decodes only the attributes it reads (typed-only decoding: per-family settings, port timers and counters are skipped without being copied); the plain forms run without the argument parser. `bridge link show` reads a full link dump and an `AF_BRIDGE` one (below); `brctl show br0`
        only lists `/sys/class/net/br0/brif` (port names, nothing else), hence its \(ms(brctlShow.median)).
        `qnet show br0` (\(ms(showTable.median))) takes \(formatRatio(showTable.median / bridgeShow.median)) the time of
        `bridge link show` (\(ms(bridgeShow.median))). \(dump.map { "In-process, what it reads takes \(ms($0.median))" } ?? "")\(receive.map { ", of which \(ms($0.median)) is receiving the filtered dump (the kernel filling \(showPorts) full link messages, about 1.5 KB each: IFLA_STATS64 and IFLA_STATS come with every link although the request sets RTEXT_FILTER_SKIP_STATS) and the rest decoding" } ?? "")\(dump == nil ? "" : "; ")`qnet --help`, the parser and start-up without any netlink, \(ms(qnetHelp.median)); the rest is the table. `bridge link show` sends two dumps (strace): a full `RTM_GETLINK` of every link with RTEXT_FILTER_VF (its index-to-name map, about 950 KB for 500 ports) and an `AF_BRIDGE` one, whose messages carry the bridge-port attributes only (about 400 bytes each: no link info, statistics or per-family settings); it reads them with a 32 KB buffer and prints as it reads. The kernel's side of the two kinds of dump, measured apart (the system time of 30 dumps from a small Python client in the namespace): about 4 ms for the full dump qnet reads and 1.1-1.5 ms for the `AF_BRIDGE` one, nearly all of it `rtnl_fill_ifinfo` and `br_port_fill_attrs` putting attributes (perf). So qnet asks the kernel for less than `bridge` does; what it spends more is its own: start-up, and decoding \(showPorts) messages into links and rendering the table, 25 M instructions in all (callgrind; 23 K per link decoded, most of it walking and copying the attributes of IFLA_LINKINFO). \(showMet ? "The target is met." : "The target is missed\(receive.map { r in dump.map { d in ": of `qnet show br0`'s \(ms(showTable.median)), receiving the dump is \(ms(r.median)), decoding it \(ms(max(0, d.median - r.median))), against \(ms(bridgeShow.median)) for the whole `bridge link show`" } ?? "" } ?? ""). An `AF_BRIDGE` dump alone would cut the kernel's part to a third, but it lacks what the table shows besides the bridge-port attributes (each port's alias, which names its VM, and for a TAP its owner and group, which the warning about TAPs open to every user needs), and no cheaper source has those: sysfs would be three file reads per port, and a second full dump filtered by kind costs what the first one does.")
        """
        if let probe {
            let whole = probe.series[0], boot = probe.series[1]
            why += "\n\n**Probing.** `qnet probe` takes \(ms(whole.median)) from command to verdict, of which the micro-VM's boot under \(probe.accel) (QEMU started to the guest's first result line) \(ms(boot.median)); the rest is starting QEMU, the probe's steps and stopping the VM. "
            why += whole.median <= 6 ? "The 6 s target is met." : "The 6 s target is missed by the guest's boot under software emulation (TCG), which no change to qnet's own start-up or to its host calls shortens."
            why += probe.kvmVerdictReused ? " No run probed KVM again: the verdict is cached per boot in `/run/qnet`, whatever the state dir." : " The KVM verdict file changed during the runs: a run probed KVM again."
        }
        text += "\n" + why + "\n"
        text += "\n## Raw samples (seconds)\n\n"
        text += "(a)\n\n" + rawSamples(a) + "\n\n(b)\n\n" + rawSamples(b + [settle]) + "\n\n(c)\n\n" + rawSamples(c)
        text += "\n\nparts of (b) and (c)\n\n" + rawSamples(p) + "\n\n(d)\n\n" + rawSamples(d) + "\n"
        if hasHooks { text += "\n(e) and (f)\n\n" + rawSamples(h + pieRows + (hookTmpfs.map { [$0] } ?? [])) + "\n" }
        if let probe { text += "\n(g)\n\n" + rawSamples(probe.series) + "\n" }
        return text
    }
}
