#!/usr/bin/env bash
# Guest-to-guest TCP throughput (TCG micro-VMs, iperf3 inside the guests) across two hosts on a
# vxlan network, against the same two guests on one bridge (an isolated network on one host).
# Hosts are network namespaces created here (joined by a veth underlay, MTU 1500) and removed at
# the end, also on failure or Ctrl-C. Writes a Markdown section (default bench/vxlan-results.md)
# for BENCHMARKS.md's hand-written part.
#
#   sudo bench/vxlan-bench.sh                        # 3 repetitions, 5 s each
#   sudo REPS=5 IPERF_SECONDS=10 QNET=.build/release/qnet bench/vxlan-bench.sh
#
# Needs root, iproute2, qemu-system-x86_64, iperf3 (copied into the guest image by `qnet guest build`).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "vxlan-bench: $*" >&2; exit 1; }
say() { echo "vxlan-bench: $*" >&2; }
[ "$(id -u)" -eq 0 ] || die "run as root (the bench creates network namespaces, bridges and VMs)"
for tool in ip qemu-system-x86_64 iperf3 awk; do command -v "$tool" >/dev/null || die "missing $tool"; done

REPS=${REPS:-3}
IPERF_SECONDS=${IPERF_SECONDS:-5}
OUTPUT=${OUTPUT:-bench/vxlan-results.md}
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer, not '$REPS'"
[[ "$IPERF_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "IPERF_SECONDS must be a positive integer, not '$IPERF_SECONDS'"
if [ -z "${QNET:-}" ]; then
    if [ -x .build/release/qnet ]; then QNET=.build/release/qnet; else swift build --product qnet >&2; QNET=.build/debug/qnet; fi
fi
QNET=$(realpath "$QNET")

WORK=$(mktemp -d /tmp/qnet-vxlanbench.XXXXXX)
chmod 755 "$WORK"
H1="qxb$$-h1"; H2="qxb$$-h2"; ONE="qxb$$-one"
S1="$WORK/h1"; S2="$WORK/h2"; S0="$WORK/one"
cleanup() {
    for pair in "$H1:$S1:a" "$H2:$S2:b" "$ONE:$S0:a" "$ONE:$S0:b"; do
        IFS=: read -r ns state vm <<< "$pair"
        "$QNET" --netns "$ns" --state-dir "$state" vm kill "$vm" >/dev/null 2>&1 || true
    done
    for pair in "$H1:$S1:ov" "$H2:$S2:ov" "$ONE:$S0:lab"; do
        IFS=: read -r ns state net <<< "$pair"
        "$QNET" --netns "$ns" --state-dir "$state" net stop "$net" --force >/dev/null 2>&1 || true
    done
    for ns in "$H1" "$H2" "$ONE"; do ip netns del "$ns" 2>/dev/null || true; done
    [ -n "${KEEP_WORK:-}" ] && say "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "guest image (cached)"
IMAGE=$("$QNET" guest build 2>&1 | awk '$1 == "kernel" {k = $2} $1 == "initramfs" {i = $2} $1 == "tools" {t = $0} END {print k, i, t}')
read -r KERNEL INITRD TOOLS <<< "$IMAGE"
[ -f "$KERNEL" ] && [ -f "$INITRD" ] || die "no guest image (qnet guest build printed: $IMAGE)"
[[ "$TOOLS" == *iperf3* ]] || die "the guest image has no iperf3 (install iperf3, then qnet guest build --force)"

q() { local ns=$1 state=$2; shift 2; "$QNET" --netns "$ns" --state-dir "$state" "$@"; }

# --- two hosts on a vxlan network (static peers), one on an isolated network ----------------------
for ns in "$H1" "$H2" "$ONE"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add u0 netns "$H1" type veth peer name u0 netns "$H2"
ip -n "$H1" addr add 192.0.2.1/24 dev u0; ip -n "$H1" link set u0 up
ip -n "$H2" addr add 192.0.2.2/24 dev u0; ip -n "$H2" link set u0 up
q "$H1" "$S1" net create ov --mode vxlan --vni 42 --underlay u0 --peers 192.0.2.2 --subnet 10.77.0.0/24 --dhcp-host >/dev/null
q "$H2" "$S2" net create ov --mode vxlan --vni 42 --underlay u0 --peers 192.0.2.1 --subnet 10.77.0.0/24 >/dev/null
q "$H1" "$S1" net start ov >/dev/null; q "$H2" "$S2" net start ov >/dev/null
q "$ONE" "$S0" net create lab --mode isolated --subnet 10.78.0.0/24 --ipv6 none >/dev/null
q "$ONE" "$S0" net start lab >/dev/null
# Fixed leases (DHCP, so the guests also get the network's MTU as option 26): a is .11, b is .12.
MAC_A=52:54:00:78:00:0a; MAC_B=52:54:00:78:00:0b
q "$H1" "$S1" net lease add ov "$MAC_A" 10.77.0.11 >/dev/null; q "$H1" "$S1" net lease add ov "$MAC_B" 10.77.0.12 >/dev/null
q "$ONE" "$S0" net lease add lab "$MAC_A" 10.78.0.11 >/dev/null; q "$ONE" "$S0" net lease add lab "$MAC_B" 10.78.0.12 >/dev/null

# run SERVER_NS SERVER_STATE CLIENT_NS CLIENT_STATE NETWORK PREFIX: bit/s the client's iperf3 reported.
measure() {
    local sns=$1 sstate=$2 cns=$3 cstate=$4 net=$5 prefix=$6
    local common="console=ttyS0 quiet qnet.gw=none qnet.timeout=60"
    q "$sns" "$sstate" vm run a --memory 256 --accel tcg --nic "network=$net,mac=$MAC_A" --kernel "$KERNEL" --initrd "$INITRD" \
        --append "$common qnet.mode=serve qnet.iperf.server=5201" >/dev/null
    local slog="$sstate/run/vms/a/console.log" deadline=$((SECONDS + 120))
    until grep -q "step=iperf-server ok=1" "$slog" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "server guest did not listen: $(tail -n 3 "$slog")"; sleep 0.5
    done
    q "$cns" "$cstate" vm run b --memory 256 --accel tcg --nic "network=$net,mac=$MAC_B" --kernel "$KERNEL" --initrd "$INITRD" \
        --append "$common qnet.mode=probe qnet.iperf=$prefix.11:5201 qnet.iperf.time=$IPERF_SECONDS" >/dev/null
    local clog="$cstate/run/vms/b/console.log"; deadline=$((SECONDS + 180))
    until grep -q "QNET done" "$clog" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "client guest did not finish: $(tail -n 3 "$clog")"; sleep 0.5
    done
    local bps; bps=$(sed -n 's/.*QNET step=iperf ok=1 .*bps=\([0-9]*\).*/\1/p' "$clog" | head -n 1)
    q "$cns" "$cstate" vm kill b >/dev/null 2>&1 || true
    q "$sns" "$sstate" vm kill a >/dev/null 2>&1 || true
    [ -n "$bps" ] || die "iperf step failed: $(grep 'step=iperf' "$clog")"
    echo "$bps"
}

ACROSS=(); ONEBRIDGE=()
for rep in $(seq 1 "$REPS"); do
    say "round $rep/$REPS: across hosts (vxlan)"; ACROSS+=("$(measure "$H1" "$S1" "$H2" "$S2" ov 10.77.0)")
    say "round $rep/$REPS: one bridge";           ONEBRIDGE+=("$(measure "$ONE" "$S0" "$ONE" "$S0" lab 10.78.0)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
mbit() { awk -v b="$1" 'BEGIN {printf "%.0f", b / 1000000}'; }
list() { local out=""; for b in "$@"; do out+="$(mbit "$b"), "; done; echo "${out%, }"; }
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
cat > "$OUTPUT" <<EOF
### Guest-to-guest TCP across hosts (vxlan) against one bridge

\`bench/vxlan-bench.sh\` ($(date -u +%Y-%m-%d), $(nproc) cores, load average $LOAD at the end): two micro-VMs
(256 MiB, **TCG**, virtio-net with vnet_hdr), iperf3 server in one, \`iperf3 -c -t $IPERF_SECONDS\` in the other
(the receiver's rate from the client's JSON), $REPS rounds, guests booted afresh for each.
"Across hosts": each guest in its own namespace ("host"), a vxlan network (VNI 42, static peers, MTU 1450)
over a veth underlay (MTU 1500). "One bridge": both guests on one isolated network (MTU 1500).

| path | median Mbit/s | rounds (Mbit/s) |
|---|---|---|
| across hosts (vxlan, MTU 1450) | $(mbit "$(median "${ACROSS[@]}")") | $(list "${ACROSS[@]}") |
| one bridge (MTU 1500) | $(mbit "$(median "${ONEBRIDGE[@]}")") | $(list "${ONEBRIDGE[@]}") |

Under TCG the guests' CPUs, not the kernel's VXLAN, set the pace; the vxlan path adds an encapsulation
and a second bridge and loses 50 bytes of MTU per segment.
EOF
say "wrote $OUTPUT"
cat "$OUTPUT"
