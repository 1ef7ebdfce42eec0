#!/usr/bin/env bash
# VM benchmarks, qnet against the classic recipe, with the same micro-VM guest in the same run (TCG):
#   (a) time from the start command to the first guest frame seen on the bridge;
#   (b) guest -> host TCP throughput (iperf3 client in the guest, server on the bridge address).
# Writes a Markdown section (default bench/vm-results.md) to paste into BENCHMARKS.md.
#
#   sudo bench/vm-bench.sh                      # 5 repetitions of each measurement
#   sudo REPS=3 QNET=path/to/qnet bench/vm-bench.sh
#   KEEP_WORK=1 ...   keep the work directory (consoles, captures, iperf3 JSON) for inspection
#   QNET_SOURCE="qnet abc1234 (...)"   what to print as the binary's source when QNET is given
#
# The recipe is the one found in countless guides: QEMU (as root) creates the TAP itself and runs
#   /etc/qemu-ifup:  ip link set "$1" up; sleep 0.5; brctl addif br0 "$1"
# with `-net nic -net tap,ifname=...,script=...` (an emulated e1000 NIC). qnet opens the TAP itself
# (IFF_VNET_HDR), attaches it over rtnetlink and passes the descriptor to an unprivileged QEMU with a
# virtio-net NIC. Everything happens in one network namespace created here (br0 = 10.30.0.1/24,
# STP off) and deleted at the end, also on failure or Ctrl-C; host interfaces are never touched.
#
# The start measurement also runs qnet with the recipe's NIC model (`--nic ...,model=e1000`), which
# separates what the host side costs from what the guest's NIC driver costs.
#
# Needs root, iproute2, bridge-utils (brctl), tcpdump, iperf3, qemu-system-x86_64, and the qnet guest
# image (`qnet guest build`, which this script runs; it is cached). ethtool, if installed, records the
# TAPs' offload flags.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "vm-bench: $*" >&2; exit 1; }
say() { echo "vm-bench: $*" >&2; }
[ "$(id -u)" -eq 0 ] || die "run as root (the bench creates a network namespace, a bridge and TAPs)"
for tool in ip brctl tcpdump iperf3 qemu-system-x86_64 ss awk; do
    command -v "$tool" >/dev/null || die "missing $tool (apt-get install iproute2 bridge-utils tcpdump iperf3 qemu-system-x86)"
done

REPS=${REPS:-5}
IPERF_SECONDS=${IPERF_SECONDS:-5}
OUTPUT=${OUTPUT:-bench/vm-results.md}
MEMORY=256
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer, not '$REPS'"
[[ "$IPERF_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "IPERF_SECONDS must be a positive integer, not '$IPERF_SECONDS'"

if [ -z "${QNET:-}" ]; then
    swift build -c release --product qnet --scratch-path .build-vmbench >&2
    QNET=.build-vmbench/release/qnet
fi
[ -x "$QNET" ] || die "no qnet binary at '$QNET' (set QNET=path)"
QNET=$(realpath "$QNET")

# --- namespace, work directory, cleanup ---------------------------------------------------------
NS="qvb$$"
WORK=$(mktemp -d /tmp/qnet-vmbench.XXXXXX)
chmod 755 "$WORK"            # QEMU runs as 'nobody' under qnet and writes its console log here
STATE="$WORK/state"
QNET_VMS=()                  # names of VMs started with qnet
RECIPE_PIDFILES=()           # pid files of QEMUs started by the recipe
HELPER_PIDS=()               # tcpdump / iperf3 processes started here
CLEANED=0

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# wait_until SECONDS COMMAND...: polls COMMAND every 50 ms; false when the deadline passes.
wait_until() {
    local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
    until "$@"; do
        [ "$(date +%s%N)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}
not_alive() { ! alive "$1"; }

kill_and_wait() {   # PID: SIGTERM, then SIGKILL after 5 s; waits until it is gone
    alive "$1" || return 0
    kill "$1" 2>/dev/null || true
    wait_until 5 not_alive "$1" || { kill -9 "$1" 2>/dev/null || true; wait_until 5 not_alive "$1" || true; }
}

qnet_cmd() { "$QNET" --netns "$NS" --state-dir "$STATE" "$@"; }

cleanup() {
    [ "$CLEANED" = 1 ] && return 0
    CLEANED=1
    set +e
    local name file pid
    for name in "${QNET_VMS[@]}"; do
        qnet_cmd vm kill "$name" >/dev/null 2>&1; kill_and_wait "$(qnet_pid "$name")"
    done
    for file in "${RECIPE_PIDFILES[@]}"; do
        pid=$(cat "$file" 2>/dev/null); kill_and_wait "$pid"
    done
    for pid in "${HELPER_PIDS[@]}"; do kill_and_wait "$pid"; done
    # The VMs' QEMUs live in the namespace: it disappears (with br0 and the TAPs) once they are gone.
    if ip netns list | awk '{print $1}' | grep -qx "$NS"; then ip netns del "$NS"; fi
    if [ "${KEEP_WORK:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add br0 type bridge stp_state 0 forward_delay 0
ip -n "$NS" addr add 10.30.0.1/24 dev br0
ip -n "$NS" link set br0 up

# The classic qemu-ifup (QEMU runs it inside the namespace, so br0 is the namespace's bridge).
IFUP="$WORK/qemu-ifup"
cat > "$IFUP" <<'EOF'
#!/bin/sh
ip link set "$1" up
sleep 0.5
brctl addif br0 "$1"
EOF
chmod 755 "$IFUP"

# --- the guest ---------------------------------------------------------------------------------
GUEST_OUT=$("$QNET" guest build)
KERNEL=$(awk '$1 == "kernel" {print $2}' <<<"$GUEST_OUT")
INITRD=$(awk '$1 == "initramfs" {print $2}' <<<"$GUEST_OUT")
[ -r "$KERNEL" ] && [ -r "$INITRD" ] || die "qnet guest build gave no kernel/initramfs: $GUEST_OUT"

# Built like ProbePlan.kernelCommandLine() (Sources/GuestImage/ProbePlan.swift): base arguments,
# then the qnet.* keys in its order.
BASE_ARGS="console=ttyS0 quiet printk.devkmsg=on panic=-1 i8042.noaux i8042.nomux i8042.nopnp 8250.nr_uarts=1 cryptomgr.notests random.trust_cpu=on"
# (a): static address + gateway ping, so the guest sends (ARP, IPv6 ND/MLD) as soon as its NIC is up.
APPEND_BOOT="$BASE_ARGS qnet.mode=probe qnet.addr=10.30.0.10/24 qnet.gw=10.30.0.1 qnet.timeout=10"
# (b): iperf3 client to the bridge address.
APPEND_IPERF="$BASE_ARGS qnet.mode=probe qnet.addr=10.30.0.10/24 qnet.gw=none qnet.timeout=10 qnet.iperf=10.30.0.1:5201 qnet.iperf.time=$IPERF_SECONDS"

# --- starting a VM either way ------------------------------------------------------------------
# start_vm KIND NAME MAC APPEND CONSOLE: qnet = `qnet vm run` (virtio-net, qnet-made vnet_hdr TAP,
# QEMU as nobody, machine q35); qnet-e1000 = the same with the recipe's NIC model; recipe = QEMU as
# root making its TAP and running qemu-ifup (e1000, machine pc). All detach; -m $MEMORY, 1 vCPU, TCG.
start_vm() {
    local kind=$1 name=$2 mac=$3 append=$4 console=$5 model=
    [ "$kind" = qnet-e1000 ] && model=",model=e1000"
    if [ "$kind" != recipe ]; then
        QNET_VMS+=("$name")
        qnet_cmd vm run "$name" --memory "$MEMORY" --accel tcg --user nobody --nic "bridge=br0,mac=$mac$model" \
            --kernel "$KERNEL" --initrd "$INITRD" --append "$append" --console "$console" > "$WORK/$name.out" 2>&1
    else
        RECIPE_PIDFILES+=("$WORK/$name.pid")
        ip netns exec "$NS" qemu-system-x86_64 -machine pc -accel tcg -m "$MEMORY" -nodefaults -display none \
            -kernel "$KERNEL" -initrd "$INITRD" -append "$append" -serial "file:$console" \
            -net "nic,model=e1000,macaddr=$mac" -net "tap,ifname=$name,script=$IFUP,downscript=no" \
            -daemonize -pidfile "$WORK/$name.pid" > "$WORK/$name.out" 2>&1
    fi
}

qnet_pid() { sed -n 's/.*(pid \([0-9]*\).*/\1/p' "$WORK/$1.out" | head -n 1; }   # from "started VM NAME (pid N, ...)"

stop_vm() {  # KIND NAME
    if [ "$1" != recipe ]; then
        qnet_cmd vm kill "$2" >/dev/null 2>&1 || true
        local pid; pid=$(qnet_pid "$2"); kill_and_wait "$pid"
    else
        local pid; pid=$(cat "$WORK/$2.pid" 2>/dev/null || true); kill_and_wait "$pid"
    fi
}

kind_code() { case $1 in qnet) echo q ;; qnet-e1000) echo e ;; recipe) echo r ;; esac; }
kind_number() { case $1 in qnet) echo 1 ;; qnet-e1000) echo 2 ;; recipe) echo 3 ;; esac; }

# Guest uptime (s, kernel timestamp) of the first console line matching PATTERN; "-" if none.
console_uptime() { sed -n "s/^\[ *\([0-9]*\.[0-9]*\)\] $2.*/\1/p" "$1" 2>/dev/null | head -n 1 | grep . || echo -; }
console_has_link() { grep -q "QNET step=link" "$1" 2>/dev/null; }

# --- (a) start command -> first guest frame on br0 ---------------------------------------------
# first_frame KIND I: sets R_FRAME (s to the first frame), R_RETURN (s until the start command
# returned), R_INIT and R_LINK (guest uptime in s when /init printed its start line and when it saw
# carrier on its NIC, "-" if not seen), R_KERNEL (s from the command to the guest kernel's clock
# zero, ±0.05 s). Runs in this shell (not in $(...)), so that the cleanup lists stay complete and
# `die` ends the script.
first_frame() {
    local kind=$1 i=$2 name mac cap err tcpdump_pid t0 t_return t_frame t_init= console deadline
    name="vb$(kind_code "$kind")f$i"
    mac=$(printf '52:54:00:7b:%02x:%02x' "$(kind_number "$kind")" "$i")
    cap="$WORK/$name.cap" err="$WORK/$name.tcpdump"
    ip netns exec "$NS" tcpdump -i br0 -n -e -tt -l -c 1 "ether src $mac" > "$cap" 2> "$err" &
    tcpdump_pid=$!
    HELPER_PIDS+=("$tcpdump_pid")
    wait_until 10 grep -q "listening on" "$err" || die "tcpdump did not start: $(cat "$err")"
    t0=$(date +%s.%N)
    start_vm "$kind" "$name" "$mac" "$APPEND_BOOT" "$WORK/$name.console" \
        || die "$kind VM $name did not start: $(cat "$WORK/$name.out")"
    t_return=$(date +%s.%N)
    console="$WORK/$name.console"
    # Until the frame: note when the guest's "QNET start" line (printed by /init) reaches the console
    # file, on the host's clock (polled every 50 ms).
    deadline=$(( $(date +%s) + 180 ))
    while alive "$tcpdump_pid"; do
        [ "$(date +%s)" -lt "$deadline" ] || die "$kind VM $name: no frame from $mac within 180 s"
        if [ -z "$t_init" ] && grep -q "QNET start" "$console" 2>/dev/null; then t_init=$(date +%s.%N); fi
        sleep 0.05
    done
    wait_until 20 console_has_link "$console" || say "$kind VM $name: no link step on the console"
    stop_vm "$kind" "$name"
    t_frame=$(awk 'NR == 1 {print $1}' "$cap")
    [ -n "$t_frame" ] || die "$kind VM $name: tcpdump saw nothing: $(cat "$err")"
    echo "$kind run $i first frame: $(head -n 1 "$cap")" >> "$WORK/frames.log"
    R_FRAME=$(awk -v a="$t0" -v c="$t_frame" 'BEGIN { printf "%.3f", c - a }')
    R_RETURN=$(awk -v a="$t0" -v b="$t_return" 'BEGIN { printf "%.3f", b - a }')
    R_INIT=$(console_uptime "$console" "QNET start")
    R_LINK=$(console_uptime "$console" "QNET step=link ok=1")
    # Host time of the guest kernel's clock zero: when /init's line appeared minus its uptime stamp.
    R_KERNEL=$(awk -v a="$t0" -v h="${t_init:--}" -v u="$R_INIT" 'BEGIN { if (h == "-" || u == "-") print "-"; else printf "%.2f", h - a - u }')
}

# --- (b) guest -> host TCP throughput ----------------------------------------------------------
bridge_has_port() { ip -n "$NS" -o link show master br0 | grep -q .; }
# tap_rx TAP: "RX_BYTES RX_PACKETS" of the TAP (empty once it is gone).
tap_rx() { ip -n "$NS" -s -o link show dev "$1" 2>/dev/null | tr '\\' '\n' | awk 'found { print $1, $2; exit } /RX:/ { found = 1 }'; }
iperf_listening() { ip netns exec "$NS" ss -Hltn 'sport = :5201' | grep -q .; }
console_done() { grep -q "QNET done" "$1" 2>/dev/null; }

# throughput KIND I: sets R_GUEST (bit/s the guest's iperf3 reported), R_SERVER (bit/s in the
# server's JSON, "-" if unreadable) and R_FRAME_BYTES (mean size of what the guest wrote into its
# TAP: above 1514 means GSO super-frames through vnet_hdr). Runs in this shell, like first_frame.
throughput() {
    local kind=$1 i=$2 name mac console server_pid guest_bps server_bps tap
    name="vb$(kind_code "$kind")t$i"
    mac=$(printf '52:54:00:7b:%02x:%02x' "$((0x10 + $(kind_number "$kind")))" "$i")
    console="$WORK/$name.console"
    ip netns exec "$NS" iperf3 -s -1 -p 5201 -B 10.30.0.1 -J > "$WORK/$name.server.json" 2> "$WORK/$name.server.err" &
    server_pid=$!
    HELPER_PIDS+=("$server_pid")
    wait_until 10 iperf_listening || die "iperf3 server did not listen: $(cat "$WORK/$name.server.err")"
    start_vm "$kind" "$name" "$mac" "$APPEND_IPERF" "$console" \
        || die "$kind VM $name did not start: $(cat "$WORK/$name.out")"
    wait_until 10 bridge_has_port || die "$kind VM $name: no port on br0"
    tap=$(ip -n "$NS" -o link show master br0 | awk -F': ' 'NR == 1 { sub(/@.*/, "", $2); print $2 }')
    local described=0
    [ "$i" = 1 ] || described=1
    # Until the guest is done: its TAP's receive counters (= frames the guest sent) every 0.5 s; the
    # TAP vanishes when the guest powers off, so the last sample is kept.
    local deadline=$(( $(date +%s) + IPERF_SECONDS + 180 )) sample rx_bytes=0 rx_packets=0
    until console_done "$console"; do
        [ "$(date +%s)" -lt "$deadline" ] \
            || die "$kind VM $name: no 'QNET done' within $((IPERF_SECONDS + 180)) s; console: $(tail -n 5 "$console")"
        sample=$(tap_rx "$tap")
        if [ "$described" = 0 ] && grep -q "QNET step=address" "$console" 2>/dev/null; then
            # The TAP as the kernel sees it once the guest's driver is up (vnet_hdr; offloads QEMU
            # enabled with TUNSETOFFLOAD for what the guest accepts), once per kind.
            described=1
            { echo "$kind:"; ip -n "$NS" -d link show dev "$tap"
              if command -v ethtool > /dev/null; then
                  ip netns exec "$NS" ethtool -k "$tap" | grep -E '^(tx-checksumming|tcp-segmentation-offload|generic-segmentation-offload):'
              fi
            } >> "$WORK/taps.log" 2>&1
        fi
        [ -n "$sample" ] && read -r rx_bytes rx_packets <<<"$sample"
        sleep 0.5
    done
    stop_vm "$kind" "$name"
    wait_until 10 not_alive "$server_pid" || kill_and_wait "$server_pid"
    guest_bps=$(sed -n 's/.*QNET step=iperf ok=1 .*bps=\([0-9]*\).*/\1/p' "$console" | head -n 1)
    [ -n "$guest_bps" ] || die "$kind VM $name: iperf step failed: $(grep 'QNET step=iperf' "$console")"
    server_bps=$(awk -F: '/"sum_received"/ { found = 1 } found && /"bits_per_second"/ { v = $2; gsub(/[ \t,]/, "", v); printf "%.0f", v; exit }' "$WORK/$name.server.json")
    R_GUEST=$guest_bps R_SERVER=${server_bps:--}
    R_FRAME_BYTES=$(awk -v b="$rx_bytes" -v p="$rx_packets" 'BEGIN { if (p > 0) printf "%.0f", b / p; else print "-" }')
}

# --- statistics and formatting -----------------------------------------------------------------
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
gbit() { awk -v b="$1" 'BEGIN { if (b == "-") print "-"; else printf "%.2f", b / 1e9 }'; }
join_gbit() { local out= v; for v in "$@"; do out="$out${out:+, }$(gbit "$v")"; done; echo "$out"; }
join_s() { local out= v; for v in "$@"; do out="$out${out:+, }$v"; done; echo "$out"; }
# pairwise OP LIST_A LIST_B: "a1 OP b1, a2 OP b2, ..." for two space-separated lists (OP: / or -).
pairwise() {
    awk -v op="$1" -v a="$2" -v b="$3" 'BEGIN { n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) {
        v = (op == "/") ? x[i] / y[i] : x[i] - y[i]; printf "%s%.2f", (i > 1 ? ", " : ""), v } }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Raised priority (inherited by QEMU, tcpdump and iperf3 alike), so that other work on a shared
# machine disturbs the measurements less.
renice -n -15 $$ > /dev/null 2>&1 || true

# --- run (kinds alternate; their order reverses between repetitions) ----------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A FRAME RETURN INIT LINK KSTART GUEST SERVER FBYTES
say "namespace $NS, guest $KERNEL + $INITRD, $REPS repetitions"
for ((i = 1; i <= REPS; i++)); do
    if ((i % 2)); then order="qnet qnet-e1000 recipe"; else order="recipe qnet-e1000 qnet"; fi
    for kind in $order; do
        first_frame "$kind" "$i"
        FRAME[$kind]+="$R_FRAME " RETURN[$kind]+="$R_RETURN " INIT[$kind]+="$R_INIT " LINK[$kind]+="$R_LINK " KSTART[$kind]+="$R_KERNEL "
        say "first frame  $kind #$i: $R_FRAME s (command returned after $R_RETURN s, guest kernel clock started at $R_KERNEL s; guest uptime at /init $R_INIT s, at carrier $R_LINK s)"
    done
done
for ((i = 1; i <= REPS; i++)); do
    if ((i % 2)); then order="qnet recipe"; else order="recipe qnet"; fi
    for kind in $order; do
        throughput "$kind" "$i"
        GUEST[$kind]+="$R_GUEST " SERVER[$kind]+="$R_SERVER " FBYTES[$kind]+="$R_FRAME_BYTES "
        say "throughput   $kind #$i: $(gbit "$R_GUEST") Gbit/s (server saw $(gbit "$R_SERVER"); mean frame into the TAP $R_FRAME_BYTES B)"
    done
done

# --- report ------------------------------------------------------------------------------------
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
med() { median <<<"${1//-/}"; }   # median of a space-separated list, "-" entries left out
declare -A MF MR MI ML MK MG MS MB
for kind in qnet qnet-e1000 recipe; do
    MF[$kind]=$(med "${FRAME[$kind]}") MR[$kind]=$(med "${RETURN[$kind]}") MK[$kind]=$(med "${KSTART[$kind]}")
    MI[$kind]=$(med "${INIT[$kind]}") ML[$kind]=$(med "${LINK[$kind]}")
done
for kind in qnet recipe; do
    MG[$kind]=$(med "${GUEST[$kind]}") MS[$kind]=$(med "${SERVER[$kind]}") MB[$kind]=$(med "${FBYTES[$kind]}")
done
span() { printf '%s\n' "$@" | grep -v '^-\?$' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (lo == hi) printf "%.2f", lo; else printf "%.2f–%.2f", lo, hi }'; }
fmt2() { awk -v v="$1" 'BEGIN { if (v == "") print "-"; else printf "%.2f", v }'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
TARGET=2.8
THROUGHPUT_RATIO=$(awk -v a="${MG[qnet]}" -v b="${MG[recipe]}" 'BEGIN { printf "%.3f", a / b }')
MET=$(awk -v r="$THROUGHPUT_RATIO" -v t="$TARGET" 'BEGIN { print (r >= t) ? "met" : "missed" }')
qemu_version=$(qemu-system-x86_64 --version | head -n 1)
# QNET_SOURCE says what the binary was built from when QNET points elsewhere than this tree's build.
source_line=${QNET_SOURCE:-"qnet $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- Sources 2>/dev/null || echo ' with uncommitted changes in Sources')"}
tap_line() { awk -v k="$1:" '$0 == k { f = 1; next } /^[a-z0-9-]+:$/ { f = 0 } f && /tun type/ { sub(/^ */, ""); sub(/ *$/, ""); print; exit }' "$WORK/taps.log"; }
offload_line() { awk -v k="$1:" '$0 == k { f = 1; next } /^[a-z0-9-]+:$/ { f = 0 } f && /^(tx-checksumming|tcp-segmentation-offload):/ { printf "%s%s", (n++ ? ", " : ""), $0 }' "$WORK/taps.log"; }
frame_kinds() {  # KIND: the distinct first frames of its runs, e.g. "ARP request"
    awk -v k="$1" '$1 == k && $2 == "run" {
        if ($0 ~ /ethertype ARP/) t = "ARP request"; else if ($0 ~ /multicast listener report/) t = "IPv6 MLD report"
        else if ($0 ~ /neighbor solicitation/) t = "IPv6 neighbour solicitation"; else if ($0 ~ /router solicitation/) t = "IPv6 router solicitation"
        else { t = $0; sub(/.*ethertype /, "", t); sub(/,.*/, "", t) }
        if (!(t in seen)) { seen[t] = 1; out = out (out == "" ? "" : ", ") t }
    } END { print out }' "$WORK/frames.log"
}
row_frame() {  # KIND LABEL
    echo "| $2 | **${MF[$1]} s** | $(join_s ${FRAME[$1]}) | ${MR[$1]} s | ${MK[$1]:--} s | $(fmt2 "${MI[$1]}") s | $(fmt2 "${ML[$1]}") s | $(sub "${MF[$1]}" "${MK[$1]}") s | $(frame_kinds "$1") |"
}

{
cat <<EOF
## VM start and throughput against the recipe (TCG)

Measured by \`bench/vm-bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) CPUs, Linux $(uname -r),
$qemu_version, $source_line; $REPS repetitions of each, the variants alternating (their order
reversed every other repetition); medians in bold. Same guest for all: the qnet micro-VM
(kernel $(basename "$(dirname "$KERNEL")") + initramfs from \`qnet guest build\`), ${MEMORY} MiB, 1 vCPU,
\`-accel tcg\`, inside one network namespace with \`br0\` = 10.30.0.1/24 (STP off). Load average of the
(shared) machine: ${LOAD_BEFORE} before, ${LOAD_AFTER} after.

- **qnet**: \`qnet vm run NAME --accel tcg --memory $MEMORY --user nobody --nic bridge=br0,mac=MAC --kernel … --initrd … --append …\`:
  qnet opens the TAP (\`IFF_VNET_HDR\`), attaches it to the bridge over rtnetlink and passes the
  descriptor; QEMU runs as \`nobody\`, machine q35, virtio-net, started paused and continued once the
  NIC is on the bridge.
- **qnet e1000**: the same with \`--nic bridge=br0,mac=MAC,model=e1000\` (the recipe's NIC model), to
  tell the host side apart from the guest's NIC driver.
- **recipe**: \`qemu-system-x86_64 -machine pc -accel tcg -m $MEMORY -nodefaults -display none -kernel … -initrd … -append … -serial file:LOG -net nic,model=e1000,macaddr=MAC -net tap,ifname=TAP,script=qemu-ifup,downscript=no -daemonize\`
  as root, with the classic \`qemu-ifup\`: \`ip link set "\$1" up; sleep 0.5; brctl addif br0 "\$1"\`.

### Start command → first guest frame on the bridge

The clock starts right before the start command; the frame time is tcpdump's kernel timestamp of
the first frame from the guest's MAC on \`br0\` (\`tcpdump -i br0 -n -e -tt -c 1 ether src MAC\`,
listening before the start). Guest command line: \`qnet.mode=probe qnet.addr=10.30.0.10/24
qnet.gw=10.30.0.1\`, so the guest transmits (IPv6 MLD/ND, ARP for the gateway) as soon as its NIC has
carrier. Columns after "every run" are medians: when the start command returned; when the guest
kernel's clock started, on the host's clock (when /init's \`QNET start\` line reached the console
file, polled every 50 ms, minus its kernel timestamp; ±0.05 s): QEMU start-up, host-side plumbing, firmware
and kernel loading; the guest's uptime when /init started and when it saw carrier on its NIC
(kernel timestamps of \`QNET start\` and \`QNET step=link\`); and the guest's uptime at the frame.

| | to first frame | every run (s) | start command returned | guest kernel started | guest /init (uptime) | guest carrier (uptime) | guest uptime at the frame | first frame |
|---|---:|---|---:|---:|---:|---:|---:|---|
$(row_frame qnet "qnet (virtio-net)")
$(row_frame qnet-e1000 "qnet, e1000")
$(row_frame recipe "recipe (e1000)")

Differences of the medians (and per repetition, in seconds):
- recipe − qnet: **$(sub "${MF[recipe]}" "${MF[qnet]}") s**, recipe / qnet $(ratio "${MF[recipe]}" "${MF[qnet]}")× ($(pairwise - "${FRAME[recipe]}" "${FRAME[qnet]}"));
- recipe − qnet e1000 (same NIC model; the host side and the machine type differ): **$(sub "${MF[recipe]}" "${MF[qnet-e1000]}") s** ($(pairwise - "${FRAME[recipe]}" "${FRAME[qnet-e1000]}"));
- qnet e1000 − qnet (the NIC model only): **$(sub "${MF[qnet-e1000]}" "${MF[qnet]}") s** ($(pairwise - "${FRAME[qnet-e1000]}" "${FRAME[qnet]}")).

What dominates:
- **TCG boot, in every variant.** QEMU start-up, firmware and loading the $(du -m "$KERNEL" | cut -f1)+$(du -m "$INITRD" | cut -f1) MB kernel and
  initramfs take $(span "${MK[@]}") s before the guest kernel's clock starts, and the emulated CPU needs another
  $(span "${MI[@]}") s to reach /init; neither depends on who made the TAP.
- **The recipe's host side.** QEMU runs qemu-ifup synchronously and only then carries on, so its
  start command returns after ${MR[recipe]} s (qnet: ${MR[qnet]} s for TAP, bridge port, QEMU exec and QMP \`cont\`),
  and the script's \`sleep 0.5\` is most of that. The same shows on the guest's timeline: its kernel
  starts $(sub "${MK[recipe]}" "${MK[qnet-e1000]}") s later than with qnet and the same NIC (machine types pc and q35 also differ).
- **The NIC model.** With e1000 the guest sees carrier $(sub "${ML[qnet-e1000]}" "${ML[qnet]}") s later (guest uptime) than with
  virtio-net: QEMU's e1000 finishes its emulated auto-negotiation some 0.5 s after the driver opens
  it, and the Linux e1000 driver learns of the link from a watchdog that runs every 2 s, so the
  first check misses it; nothing leaves the guest before carrier. With virtio-net carrier is there at once. This is part
  of the recipe (\`-net nic\` means e1000), but it is a guest-driver cost, not a host-networking one:
  with the same NIC model qnet is $(sub "${MF[recipe]}" "${MF[qnet-e1000]}") s ahead.

### Guest → host TCP throughput (iperf3, ${IPERF_SECONDS} s)

\`iperf3 -s -1 -p 5201 -B 10.30.0.1\` in the namespace; the guest runs \`iperf3 -c 10.30.0.1 -t ${IPERF_SECONDS}\`
(\`qnet.iperf=10.30.0.1:5201 qnet.iperf.time=${IPERF_SECONDS}\`) and reports the receiver's rate in its
\`QNET step=iperf … bps=\` line; the server's own JSON (\`sum_received\`) is the cross-check. "Mean frame"
is the TAP's received bytes / packets during the run (what the guest's NIC wrote into the TAP).

| | NIC / TAP | guest's report (median) | every run (Gbit/s) | server's view (median; every run) | mean frame |
|---|---|---:|---|---|---:|
| qnet | virtio-net; \`$(tap_line qnet)\`; $(offload_line qnet) | **$(gbit "${MG[qnet]}") Gbit/s** | $(join_gbit ${GUEST[qnet]}) | $(gbit "${MS[qnet]}"); $(join_gbit ${SERVER[qnet]}) | ${MB[qnet]} B |
| recipe | e1000; \`$(tap_line recipe)\`; $(offload_line recipe) | **$(gbit "${MG[recipe]}") Gbit/s** | $(join_gbit ${GUEST[recipe]}) | $(gbit "${MS[recipe]}"); $(join_gbit ${SERVER[recipe]}) | ${MB[recipe]} B |
| qnet / recipe | | **${THROUGHPUT_RATIO}×** (target ≥ ${TARGET}×: ${MET}) | per repetition: $(pairwise / "${GUEST[qnet]}" "${GUEST[recipe]}") | $(ratio "${MS[qnet]}" "${MS[recipe]}")× | $(ratio "${MB[qnet]}" "${MB[recipe]}")× |

What dominates: the per-packet cost of an emulated guest. With virtio-net on a vnet_hdr TAP the
guest hands over TCP segments of up to 64 KB with a virtio-net header (GSO, checksum left to the
host): the mean frame QEMU wrote into qnet's TAP was ${MB[qnet]} bytes, so every per-packet step (guest
driver under TCG, virtqueue notification, QEMU's \`write()\`, one pass through the host stack) is paid
$(ratio "${MB[qnet]}" "${MB[recipe]}")× less often per byte. With e1000 every descriptor and register access is emulated, QEMU
segments and checksums in software and writes MTU-sized frames (mean ${MB[recipe]} bytes) one by one.
The recipe's TAP has vnet_hdr on as well (QEMU asks for it by default), but the e1000 model never
fills the header in, so it gains nothing from it.
EOF
} > "$OUTPUT.tmp"
mv "$OUTPUT.tmp" "$OUTPUT"
say "first frames:"; cat "$WORK/frames.log" >&2
say "TAPs:"; cat "$WORK/taps.log" >&2
say "wrote $OUTPUT"
