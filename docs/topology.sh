#!/usr/bin/env bash
# Regenerates docs/topology.svg, the README's picture: the topology `qnet demo` builds, at the
# moment its VM runs, drawn by `qnet show --graph`. The demo's steps are replayed here without
# booting the guest: two namespaces (a LAN with the router 192.168.1.254 on lan0, a host whose
# eth0 is lan0's veth peer, 192.168.1.10/24 with the default route), `qnet bridge create br0
# --uplink eth0`, and the VM's TAP vnet0 held open by a stand-in for QEMU with the alias qnet
# gives a VM's NIC (qnet:vm=demo/0), so it has carrier and forwards like the demo's.
#
#   sudo docs/topology.sh                 # uses .build/debug/qnet (or QNET=path)
#
# Needs root, iproute2, python3 (the TAP holder) and graphviz. Removes what it made, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
QNET=${QNET:-$PWD/.build/debug/qnet}
LAN=qnet-doc-lan
HOST=qnet-doc-host
STATE=$(mktemp -d)
HOLDER=
cleanup() {
    [ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null || true
    ip netns del "$HOST" 2>/dev/null || true
    ip netns del "$LAN" 2>/dev/null || true
    rm -rf "$STATE"
}
trap cleanup EXIT INT TERM

ip netns add "$LAN"
ip netns add "$HOST"
for ns in "$LAN" "$HOST"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; done
ip -n "$LAN" link add lan0 type veth peer name eth0 netns "$HOST"
ip -n "$LAN" addr add 192.168.1.254/24 dev lan0
ip -n "$LAN" link set lan0 up
ip -n "$HOST" addr add 192.168.1.10/24 dev eth0
ip -n "$HOST" link set eth0 up
ip -n "$HOST" route add default via 192.168.1.254 dev eth0 metric 100
"$QNET" --netns "$HOST" --state-dir "$STATE" bridge create br0 --uplink eth0 >/dev/null

# The stand-in for QEMU: opens vnet0 (IFF_TAP | IFF_NO_PI, transient) and holds it until killed.
ip netns exec "$HOST" python3 -c '
import fcntl, os, struct, signal, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"vnet0", 0x0002 | 0x1000))  # TUNSETIFF
print("ready", flush=True)
signal.pause()
' > "$STATE/holder" &
HOLDER=$!
for _ in $(seq 100); do grep -q ready "$STATE/holder" 2>/dev/null && break; sleep 0.05; done
ip -n "$HOST" link set vnet0 master br0 alias qnet:vm=demo/0 up
# Port states settle once linkwatch has seen the carrier (up to a second).
for _ in $(seq 100); do
    [ "$(ip netns exec "$HOST" bridge link show dev vnet0 | grep -c 'state forwarding')" = 1 ] && break; sleep 0.05
done

"$QNET" --netns "$HOST" --state-dir "$STATE" show --graph br0 --all-namespaces -o docs/topology.svg
"$QNET" --netns "$HOST" --state-dir "$STATE" show --graph br0 --all-namespaces --format dot
echo "wrote docs/topology.svg" >&2
