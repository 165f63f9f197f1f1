#!/usr/bin/env bash
# Where the program cost goes: one case of the cost bench (run.sh) under
# `perf record -g`, split per function in ns per packet
# (scripts/bench/perfsplit.py), for the shipped program and gcra_min side by side.
#   usage: scripts/bench/profile.sh [BUILD_DIR]      (root; default build/)
#   PROFILE_FAMILY=4  PROFILE_SOURCES=1000000  PROFILE_SCENARIO=default|2tier
#   PROFILE_METER=gcra  PROFILE_RUNS=8  PROFILE_TOP=12
#   plus run.sh's BENCH_CPU and rl_bench's RL_BENCH_* ablations (README.md).
# Leaves BUILD_DIR/bench/profile/ (perf.data, cost.csv, the run's report).
set -euo pipefail

O=${1:-build}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${BENCH_OUT:-$O/bench}/profile
command -v perf >/dev/null || { echo "profile: perf missing (apt-get install linux-perf)" >&2; exit 1; }
case "${PROFILE_SCENARIO:-default}" in
  default) two=0 ;;
  2tier) two=only ;;
  *) echo "profile: PROFILE_SCENARIO must be default or 2tier, not '${PROFILE_SCENARIO}'" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
echo "profile: IPv${PROFILE_FAMILY:-4}, ${PROFILE_SOURCES:-1000000} sources, ${PROFILE_SCENARIO:-default} rule, ${PROFILE_METER:-gcra}" >&2
# the cost part of run.sh alone, one case; perf follows its processes
BENCH_OUT="$OUT" BENCH_MEM=0 BENCH_E2E=0 BENCH_DAEMON=0 BENCH_COLD=0 BENCH_2TIER=$two \
  BENCH_FAMILIES="${PROFILE_FAMILY:-4}" BENCH_SOURCES="${PROFILE_SOURCES:-1000000}" \
  BENCH_METERS="${PROFILE_METER:-gcra}" BENCH_RUNS="${PROFILE_RUNS:-8}" \
  perf record -q -g -o "$OUT/perf.data" -- bash "$SRC/scripts/bench/run.sh" "$O" > /dev/null
python3 "$SRC/scripts/bench/perfsplit.py" "$OUT/perf.data" "$OUT/cost.csv" "${PROFILE_TOP:-12}"
