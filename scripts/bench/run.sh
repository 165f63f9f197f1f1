#!/usr/bin/env bash
# `make bench`: program cost, memory and end-to-end benchmarks.
#   usage: scripts/bench/run.sh [BUILD_DIR]      (root; default build/)
# Prints the table and writes BUILD_DIR/bench/results.{csv,md} (+ raw cost.csv,
# mem.csv, e2e.csv, daemon.csv). Knobs (environment):
#   BENCH_SOURCES=1,1000,100000,1000000  BENCH_RUNS=3  BENCH_MIN_REPEAT=2000000  BENCH_FAMILIES=4,6
#   BENCH_METERS=token_bucket,gcra,sliding_window,fixed_window  BENCH_2TIER=1 (0 = none, only = only it)
#   ablations: BENCH_TALKER_SHIFT=6 (0 = no top sampling)  BENCH_DCACHE=1 (0 = refusal cache off)
#   BENCH_COST=1  BENCH_COLD=1  BENCH_MEM=1  BENCH_E2E=1  BENCH_DAEMON=1  BENCH_CPU=1 (CPU the cost bench is pinned to)
#   BENCH_OUT=BUILD_DIR/bench (where results go)
#   plus scripts/bench/e2e.sh's BENCH_E2E_* and scripts/bench/daemon.sh's BENCH_DAEMON_* knobs.
# All test traffic stays inside namespaces created here (unique names, removed on exit).
set -euo pipefail

O=${1:-build}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$O/tests/bench/rl_bench
OUT=${BENCH_OUT:-$O/bench}
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (BPF, namespaces)" >&2; exit 1; }
[ -x "$BENCH" ] || { echo "bench: $BENCH missing; run make first" >&2; exit 1; }
BENCH=$(cd "$(dirname "$BENCH")" && pwd)/rl_bench
mkdir -p "$OUT"

NS=rlbench-$$-cost
cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT

CPU=${BENCH_CPU:-$(( $(nproc) - 1 ))}
{
  echo "date: $(date -u +%FT%TZ)  kernel: $(uname -r)  cpus: $(nproc)  model: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "commit: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "cost bench pinned to CPU $CPU; runs=${BENCH_RUNS:-3} min_repeat=${BENCH_MIN_REPEAT:-2000000}"
} > "$OUT/meta.txt"

# Program cost: the driver stays attached to an idle veth in its own namespace,
# so BPF_PROG_TEST_RUN never rebuilds the XDP dispatcher.
if [ "${BENCH_COST:-1}" = 1 ]; then
  ip netns add "$NS"
  ip -n "$NS" link add rlb0 type veth peer name rlb1
  ip -n "$NS" link set rlb0 up
  ip -n "$NS" link set rlb1 up
  cold=(); [ "${BENCH_COLD:-1}" = 1 ] || cold=(--no-cold)
  case "${BENCH_2TIER:-1}" in
    1) ;;
    0) cold+=(--no-2tier) ;;
    only) cold+=(--only-2tier) ;;
    *) echo "bench: BENCH_2TIER must be 1, 0 or only, not '${BENCH_2TIER}'" >&2; exit 2 ;;
  esac
  [ -z "${BENCH_METERS:-}" ] || cold+=(--meters "$BENCH_METERS")
  [ -z "${BENCH_FAMILIES:-}" ] || cold+=(--families "$BENCH_FAMILIES")
  # ablations of the shipped program's optional stages (default: as shipped)
  [ -z "${BENCH_TALKER_SHIFT:-}" ] || cold+=(--talker-shift "$BENCH_TALKER_SHIFT")
  [ "${BENCH_DCACHE:-1}" = 1 ] || cold+=(--no-dcache)
  echo "bench: program cost (this takes a few minutes)" >&2
  ip netns exec "$NS" taskset -c "$CPU" "$BENCH" cost --ifname rlb0 \
    --sources "${BENCH_SOURCES:-1,1000,100000,1000000}" --runs "${BENCH_RUNS:-3}" \
    --min-repeat "${BENCH_MIN_REPEAT:-2000000}" "${cold[@]}" > "$OUT/cost.csv"
  cleanup
else
  rm -f "$OUT/cost.csv"
fi

if [ "${BENCH_MEM:-1}" = 1 ]; then
  echo "bench: memory" >&2
  "$BENCH" mem > "$OUT/mem.csv"
else
  rm -f "$OUT/mem.csv"
fi

if [ "${BENCH_E2E:-1}" = 1 ]; then
  echo "bench: end to end" >&2
  bash "$SRC/scripts/bench/e2e.sh" "$O" > "$OUT/e2e.csv"
else
  rm -f "$OUT/e2e.csv"
fi

if [ "${BENCH_DAEMON:-1}" = 1 ]; then
  echo "bench: daemon at scale" >&2
  bash "$SRC/scripts/bench/daemon.sh" "$O" > "$OUT/daemon.csv"
else
  rm -f "$OUT/daemon.csv"
fi

/usr/bin/python3 "$SRC/scripts/bench/report.py" "$OUT"
echo "bench: wrote $OUT/results.csv and $OUT/results.md" >&2
