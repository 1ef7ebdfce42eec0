#!/usr/bin/env bash
# Builds the static release qnet (`make release`, the binary `make install` and `make deb`
# ship) and the benchmark, runs it, and writes BENCHMARKS.md at the repo root and the raw
# measurements to bench/results/last-run.json. `make bench` runs this.
#
#   sudo bench/run.sh                 # 7 repetitions (fewer for the multi-second ones)
#   REPS=3 sudo bench/run.sh
#   bench/run.sh --report-only        # re-render BENCHMARKS.md from bench/results/last-run.json
#
# Needs root, iproute2 (ip, bridge) and bridge-utils (brctl). Every measurement happens in
# network namespaces named qnbPID-*, which are deleted at the end, also on failure.
# BENCHMARKS.md is generated, except what follows the HAND_WRITTEN marker line: that part
# (measurements made by hand, with the commands that reproduce them) is carried over.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "bench/run.sh: $*" >&2; exit 1; }
BIN=.build/release
RESULTS=bench/results/last-run.json
HAND_WRITTEN='<!-- Everything below this line is written by hand; bench/run.sh keeps it. -->'

# Writes BENCHMARKS.md from BENCHMARKS.md.tmp plus the hand-written part of the old one.
finish_report() {
    if [ -f BENCHMARKS.md ] && grep -qxF "$HAND_WRITTEN" BENCHMARKS.md; then
        { echo; awk -v marker="$HAND_WRITTEN" 'kept || $0 == marker { kept = 1; print }' BENCHMARKS.md; } >> BENCHMARKS.md.tmp
    fi
    mv BENCHMARKS.md.tmp BENCHMARKS.md
    echo "bench/run.sh: wrote BENCHMARKS.md" >&2
}

if [ "${1:-}" = "--report-only" ]; then
    [ -f "$RESULTS" ] || die "no $RESULTS: run bench/run.sh first"
    make --no-print-directory bench-build
    "$BIN/QNetBench" report --from "$RESULTS" --output BENCHMARKS.md.tmp
    finish_report
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "run as root (the bench creates network namespaces and TAPs)"
for tool in ip bridge brctl swift; do
    command -v "$tool" >/dev/null || die "missing $tool (apt-get install iproute2 bridge-utils)"
done

make --no-print-directory bench-build

PREFIX="qnb$$"
cleanup() {
    local ns
    for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX-" || true); do
        echo "bench/run.sh: deleting leftover namespace $ns" >&2
        ip netns del "$ns" || true
    done
    rm -f BENCHMARKS.md.tmp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export QNET_BENCH_SWIFT_VERSION="$(swift --version 2>/dev/null | head -n 1)"
export QNET_BENCH_BUILD="binary: \`make release\` (--static-swift-stdlib, libstdc++ linked in, position-dependent, linked by lld), $(( $(stat -c %s "$BIN/qnet") / 1048576 )) MiB, loads $(ldd "$BIN/qnet" | awk '/=>/ { print $1 }' | tr '\n' ' ')"
# QNET_BENCH_SOURCE may be set by the caller (e.g. when running in a `git archive` snapshot).
if [ -z "${QNET_BENCH_SOURCE:-}" ] && git rev-parse --git-dir >/dev/null 2>&1; then
    measured="Sources Package.swift Makefile"
    # shellcheck disable=SC2086
    changed=$(git status --porcelain -- $measured | awk '{print $2}' | tr '\n' ' ')
    QNET_BENCH_SOURCE="source: commit $(git rev-parse --short HEAD)"
    if [ -n "$changed" ]; then
        QNET_BENCH_SOURCE="$QNET_BENCH_SOURCE with uncommitted changes in ${changed% }"
    else
        QNET_BENCH_SOURCE="$QNET_BENCH_SOURCE (the measured sources had no uncommitted changes)"
    fi
    export QNET_BENCH_SOURCE
fi

mkdir -p bench/results
# Raised priority (inherited by every process the bench starts, qnet and ip alike), so
# that builds of other users on this machine disturb the timings less.
nice -n -15 "$BIN/QNetBench" run --qnet "$PWD/$BIN/qnet" --qnet-pie "$PWD/$BIN/qnet-pie" --prefix "$PREFIX" --reps "${REPS:-7}" \
    --output BENCHMARKS.md.tmp --save "$RESULTS"
finish_report
