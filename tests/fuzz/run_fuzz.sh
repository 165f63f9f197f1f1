#!/usr/bin/env bash
# Runs one libFuzzer harness for a bounded time on a scratch copy of its seed
# corpus. Passes only if libFuzzer exits 0 AND reports more than zero runs.
# usage: run_fuzz.sh BINARY SEED_CORPUS_DIR SECONDS [ARTIFACT_DIR]
# RL_FUZZ_SECONDS in the environment overrides SECONDS (make fuzz FUZZ_SECONDS=...).
set -euo pipefail
bin=$1 seeds=$2 secs=${RL_FUZZ_SECONDS:-$3}
artifacts=${4:-$(dirname "$bin")/artifacts}
name=$(basename "$bin")
[ -x "$bin" ] || { echo "$name: harness not built ($bin); build with RL_FUZZ=ON (clang++)"; exit 1; }
[ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ] || { echo "$name: no seed corpus in $seeds"; exit 1; }
work=$(mktemp -d /tmp/rl-fuzz-$name-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$artifacts"
cp "$seeds"/* "$work/corpus/"
log=$work/log
dict=()
[ -f "${seeds%/}.dict" ] && dict=(-dict="${seeds%/}.dict")
rc=0
TMPDIR=$work "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
  "${dict[@]}" -artifact_prefix="$artifacts/$name-" "$work/corpus" >"$log" 2>&1 || rc=$?
runs=$(sed -n 's/^Done \([0-9][0-9]*\) runs.*/\1/p' "$log" | tail -1)
awk '/^Done|^stat::number_of_executed_units|^stat::peak_rss_mb/' "$log"
if [ "$rc" -ne 0 ]; then
  echo "$name: libFuzzer exited $rc; log tail:"
  tail -60 "$log"
  exit 1
fi
if [ -z "$runs" ] || [ "$runs" -le 0 ]; then
  echo "$name: no runs executed"; tail -30 "$log"; exit 1
fi
echo "$name: $runs runs in ${secs}s, corpus $(ls "$work/corpus" | wc -l) inputs, no crash"
