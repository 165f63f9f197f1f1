#!/usr/bin/env bash
# Where the program cost goes: one case of the cost bench under `perf record -g`,
# split per function in ns per packet (scripts/bench/perfsplit.py), for the
# shipped program and its baselines side by side.
#   usage: scripts/bench/profile.sh [BUILD_DIR]      (root; default build/)
#   PROFILE_FAMILY=4  PROFILE_SOURCES=1000000  PROFILE_SCENARIO=default|2tier
#   PROFILE_METER=gcra  PROFILE_RUNS=8  PROFILE_TOP=12  BENCH_CPU (as run.sh)
#   plus rl_bench's RL_BENCH_* ablations (scripts/bench/README.md).
# Leaves BUILD_DIR/bench/profile.{data,csv}. The bench namespace is removed on exit.
set -euo pipefail

O=${1:-build}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$O/tests/bench/rl_bench
OUT=${BENCH_OUT:-$O/bench}
[ "$(id -u)" -eq 0 ] || { echo "profile: needs root (BPF, namespaces, perf)" >&2; exit 1; }
[ -x "$BENCH" ] || { echo "profile: $BENCH missing; run make first" >&2; exit 1; }
command -v perf >/dev/null || { echo "profile: perf missing (apt-get install linux-perf)" >&2; exit 1; }
case "${PROFILE_SCENARIO:-default}" in
  default) scenario=--no-2tier ;;
  2tier) scenario=--only-2tier ;;
  *) echo "profile: PROFILE_SCENARIO must be default or 2tier, not '${PROFILE_SCENARIO}'" >&2; exit 2 ;;
esac
BENCH=$(cd "$(dirname "$BENCH")" && pwd)/rl_bench
mkdir -p "$OUT"

NS=rlprof-$$
cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link add rlb0 type veth peer name rlb1
ip -n "$NS" link set rlb0 up
ip -n "$NS" link set rlb1 up

CPU=${BENCH_CPU:-$(( $(nproc) - 1 ))}
echo "profile: IPv${PROFILE_FAMILY:-4}, ${PROFILE_SOURCES:-1000000} sources, ${PROFILE_SCENARIO:-default} rule, ${PROFILE_METER:-gcra}, CPU $CPU" >&2
# perf follows the bench (one process, pinned), sampling its stacks
perf record -q -g -o "$OUT/profile.data" -- ip netns exec "$NS" taskset -c "$CPU" "$BENCH" cost \
  --ifname rlb0 --no-cold "$scenario" --families "${PROFILE_FAMILY:-4}" \
  --sources "${PROFILE_SOURCES:-1000000}" --meters "${PROFILE_METER:-gcra}" \
  --runs "${PROFILE_RUNS:-8}" --min-repeat 2000000 > "$OUT/profile.csv"
python3 "$SRC/scripts/bench/perfsplit.py" "$OUT/profile.data" "$OUT/profile.csv" "${PROFILE_TOP:-12}"
