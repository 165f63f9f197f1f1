#!/usr/bin/env bash
# Daemon bench: /metrics scrape time, `ratelimitctl status` latency, daemon CPU
# (idle, while `ratelimitctl top` streams, while Prometheus-style scraping runs
# every second) and RSS, with BENCH_DAEMON_KEYS (default 1,000,000) tracked keys.
#
# Lab: sender and receiver namespaces joined by one veth pair (unique names).
# ratelimitd runs in the receiver namespace via `nsenter --net` (host bpffs, its
# own pin dir /sys/fs/bpf/rltest-$$-dbench and socket), attached natively to the
# receiver veth, metrics on 127.0.0.1:PORT inside that namespace (a fresh
# namespace: every port is free there). Default rule: token bucket 1/s burst 1
# per /32 and /128, tracking capacity 1,048,576 per family.
#
# Keys are created by the in-kernel live-frames generator (rl_bench gen, as in
# e2e.sh), one distinct spoofed source per key, several passes (bounded:
# BENCH_DAEMON_PASSES passes per attempt, 3 attempts, `timeout`). IPv4 test
# traffic stays inside 198.18.0.0/15, which holds only 131,072 addresses, so the
# keys are min(KEYS, 131072) IPv4 sources from 198.18.0.0 plus the rest as IPv6
# sources in 2001:db8:1::/96 (documentation prefix).
#
# Per run (BENCH_DAEMON_RUNS, default 3; runs after the first restart the daemon,
# which re-adopts the pinned state with all its keys):
#   start_empty_s             (run 0) daemon start -> control socket answers, before any key
#   start_s                   (runs >= 2) daemon restart on the pinned keys -> control socket answers
#   first_scrape_wall_s       curl time_total of the first /metrics scrape after start
#   first_scrape_duration_s   its ratelimit_scrape_duration_seconds
#   first_scrape_has_keys     1 if it already carried ratelimit_keys_tracked
#   count_ready_s             first scrape -> a scrape carries ratelimit_keys_tracked (background count)
#   status_wall_s             `ratelimitctl --json status` wall time (median of 3 calls)
#   talkers_*                 entries in the sampled top-talker table at the start of each window
#   cpu_idle_pct              daemon utime+stime over the window / window, % of one core
#   cpu_top_pct               same while `ratelimitctl --json top` (live, default interval) streams to /dev/null
#   top_client_cpu_pct        the ratelimitctl process itself over that window
#   cpu_scrape1s_pct          same while /metrics is scraped every second
#   steady_scrape_wall_s      median curl time_total of those 1 s scrapes
#   steady_scrape_duration_s  median ratelimit_scrape_duration_seconds of those scrapes
#   rss_kb, hwm_kb            VmRSS / VmHWM of the daemon at the end of the run
#
# usage: daemon.sh BUILD_DIR > daemon.csv   (root)
# Knobs: BENCH_DAEMON_KEYS=1000000 BENCH_DAEMON_RUNS=3 BENCH_DAEMON_WINDOW=20 (s)
#        BENCH_DAEMON_PASSES=3 BENCH_GEN_CPU=0 BENCH_DAEMON_DIAG=0 (1: strace -c summaries on stderr)
set -euo pipefail

O=${1:-build}
O=$(cd "$O" && pwd)
BENCH=$O/tests/bench/rl_bench
RLD=$O/controller/ratelimitd
CTL=$O/controller/ratelimitctl
KEYS=${BENCH_DAEMON_KEYS:-1000000}
RUNS=${BENCH_DAEMON_RUNS:-3}
WINDOW=${BENCH_DAEMON_WINDOW:-20}
PASSES=${BENCH_DAEMON_PASSES:-3}
GEN_CPU=${BENCH_GEN_CPU:-0}
GEN_TIMEOUT=${BENCH_DAEMON_TIMEOUT:-120}
V4_MAX=131072
TALKERS_MAP=rl_talkers
command -v bpftool >/dev/null || { echo "daemon bench: bpftool missing" >&2; exit 1; }
for b in "$BENCH" "$RLD" "$CTL"; do [ -x "$b" ] || { echo "daemon bench: $b missing" >&2; exit 1; }; done
command -v curl >/dev/null || { echo "daemon bench: curl missing" >&2; exit 1; }
command -v jq >/dev/null || { echo "daemon bench: jq missing" >&2; exit 1; }

if [ "$KEYS" -le "$V4_MAX" ]; then K4=$KEYS; K6=0; else K4=$V4_MAX; K6=$((KEYS - V4_MAX)); fi

SNS=rlbench-$$-dsnd
RNS=rlbench-$$-drcv
SDEV=ds$$
RDEV=dr$$
PIN=/sys/fs/bpf/rltest-$$-dbench
TMP=$(mktemp -d /tmp/rlbench-$$-daemon-XXXX)
chmod 755 "$TMP"
SOCK=$TMP/ctl.sock
LOG=$TMP/daemon.log
CLK_TCK=$(getconf CLK_TCK)
RLD_PID=
BG_PIDS=()

cleanup() {
  local rc=$?
  local p
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -n "$RLD_PID" ]; then kill "$RLD_PID" 2>/dev/null || true; wait "$RLD_PID" 2>/dev/null || true; fi
  ip netns del "$SNS" 2>/dev/null || true
  ip netns del "$RNS" 2>/dev/null || true
  if [ -d "$PIN" ]; then rm -rf "$PIN" || true; fi
  if [ $rc -ne 0 ] && [ -f "$LOG" ]; then echo "daemon bench: daemon log:" >&2; tail -n 30 "$LOG" >&2; fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT

log() { echo "daemon bench: $*" >&2; }
inrx() { nsenter --net="/run/netns/$RNS" "$@"; }
now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.6f\n", (b - a) / 1e9 }'; }
# pct TICKS SECONDS: CPU ticks over a wall window as % of one core
pct() { awk -v d="$1" -v t="$CLK_TCK" -v e="$2" 'BEGIN { printf "%.3f\n", 100 * d / t / e }'; }
row() { echo "$KEYS,$1,$2,$3,$4"; }   # run,metric,value,unit

if ! mount | grep -q ' /sys/fs/bpf type bpf'; then mount -t bpf bpf /sys/fs/bpf; fi
ip netns add "$SNS"
ip netns add "$RNS"
ip link add "$SDEV" netns "$SNS" type veth peer name "$RDEV" netns "$RNS"
ip -n "$SNS" addr add 198.18.0.1/15 dev "$SDEV"
ip -n "$RNS" addr add 198.18.0.2/15 dev "$RDEV"
# No IPv6 on the veths: the generator's frames need no address, and the
# kernel's own IPv6 packets (router/neighbour solicitations) would add keys.
for ns_dev in "$SNS $SDEV" "$RNS $RDEV"; do
  set -- $ns_dev
  ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
  ip -n "$1" link set lo up
  ip -n "$1" link set "$2" up
done
RMAC=$(ip netns exec "$RNS" cat "/sys/class/net/$RDEV/address")
# No traffic flows during the measured windows (talker refills come before
# them), so the receiver's packet processing is never charged to the daemon.

PORT=9477
write_config() {
  cat > "$TMP/ratelimit.yaml" <<EOF
version: 1
defaults:
  action: limit
  on_exceed: drop
  algorithm: token_bucket
  rate: 1/s
  burst: 1
  key: {ipv4_prefix: 32, ipv6_prefix: 128}
tracking:
  capacity_v4: 1048576
  capacity_v6: 1048576
metrics:
  listen: "127.0.0.1:$PORT"
log_level: warn
EOF
}

start_daemon() {
  rm -f "$SOCK"
  local t0
  t0=$(now_ns)
  nsenter --net="/run/netns/$RNS" "$RLD" --config "$TMP/ratelimit.yaml" --interface "$RDEV:native" \
    --pin-path "$PIN" --socket "$SOCK" >>"$LOG" 2>&1 &
  RLD_PID=$!
  for _ in $(seq 1 600); do
    if [ -S "$SOCK" ] && "$CTL" --socket "$SOCK" --json status >/dev/null 2>&1; then
      START_S=$(secs_since "$t0")
      return 0
    fi
    kill -0 "$RLD_PID" 2>/dev/null || { log "ratelimitd exited during start-up"; exit 1; }
    sleep 0.1
  done
  log "ratelimitd did not answer on $SOCK within 60 s"
  exit 1
}

stop_daemon() {
  kill -TERM "$RLD_PID"
  wait "$RLD_PID" || true
  RLD_PID=
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# scrape FILE: one /metrics scrape into FILE; prints curl's time_total (s).
scrape() { inrx curl -sf -o "$1" -w '%{time_total}' "http://127.0.0.1:$PORT/metrics"; }
metric() { awk -v m="$2" '$1 == m { print $2; exit }' "$1"; }
has_keys() { grep -q '^ratelimit_keys_tracked{' "$1"; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

keys_now() { "$CTL" --socket "$SOCK" --json status | jq -r '"\(.keys.v4) \(.keys.v6)"'; }

# gen FAMILY BASE DST N [PASSES]: passes over N sources (bounded).
gen() {
  local fam=$1 base=$2 dst=$3 n=$4 passes=${5:-$PASSES}
  [ "$n" -gt 0 ] || return 0
  timeout "$GEN_TIMEOUT" ip netns exec "$SNS" taskset -c "$GEN_CPU" "$BENCH" gen --ifname "$SDEV" \
    --family "$fam" --dst-mac "$RMAC" --src-ip "$base" --dst-ip "$dst" --sources "$n" \
    --packets $((n * passes)) >&2
}

# The daemon ages out top talkers silent for 60 s; during a flood from KEYS
# sources the sampled table (rl_talkers) is full. Before every CPU window one
# pass over all sources refills it, so that idle, top and scrape windows see
# the table as it is under that flood. Prints the number of talker entries.
refresh_talkers() {
  gen 4 198.18.0.0 198.18.0.2 "$K4" 1 2>/dev/null
  gen 6 2001:db8:1:: 2001:db8::2 "$K6" 1 2>/dev/null
  sleep 2
  bpftool -j map dump pinned "$PIN/$TALKERS_MAP" | jq length
}

write_config
start_daemon
log "ratelimitd pid $RLD_PID on $RDEV; creating $K4 IPv4 + $K6 IPv6 keys"
echo "keys,run,metric,value,unit"
row 0 start_empty_s "$START_S" s

t0=$(now_ns)
for attempt in 1 2 3; do
  gen 4 198.18.0.0 198.18.0.2 "$K4"
  gen 6 2001:db8:1:: 2001:db8::2 "$K6"
  read -r have4 have6 <<<"$(keys_now)"
  log "attempt $attempt: tracked IPv4 $have4 of $K4, IPv6 $have6 of $K6"
  [ "$have4" -ge "$K4" ] && [ "$have6" -ge "$K6" ] && break
done
row 0 fill_s "$(secs_since "$t0")" s
row 0 keys_v4 "$have4" keys
row 0 keys_v6 "$have6" keys
row 0 keys_total "$((have4 + have6))" keys

for run in $(seq 1 "$RUNS"); do
  if [ "$run" -gt 1 ]; then
    stop_daemon
    PORT=$((9477 + run))
    write_config
    start_daemon
    row "$run" start_s "$START_S" s
  fi
  # first scrape at KEYS keys, then wait for the background count
  w=$(scrape "$TMP/m")
  row "$run" first_scrape_wall_s "$w" s
  row "$run" first_scrape_duration_s "$(metric "$TMP/m" ratelimit_scrape_duration_seconds)" s
  if has_keys "$TMP/m"; then row "$run" first_scrape_has_keys 1 ""; else row "$run" first_scrape_has_keys 0 ""; fi
  t0=$(now_ns)
  ready=
  for _ in $(seq 1 600); do
    sleep 0.1
    scrape "$TMP/m" >/dev/null
    if has_keys "$TMP/m"; then ready=$(secs_since "$t0"); break; fi
  done
  [ -n "$ready" ] || { log "no ratelimit_keys_tracked within 60 s"; exit 1; }
  row "$run" count_ready_s "$ready" s
  log "run $run: first scrape ${w}s, key count served after ${ready}s:" \
    "$(grep '^ratelimit_keys_tracked{' "$TMP/m" | tr '\n' ' ')"

  # status latency (counts both state maps synchronously)
  : > "$TMP/st"
  for _ in 1 2 3; do
    t0=$(now_ns)
    "$CTL" --socket "$SOCK" --json status > /dev/null
    secs_since "$t0" >> "$TMP/st"
  done
  row "$run" status_wall_s "$(median < "$TMP/st")" s

  # daemon CPU: idle
  row "$run" talkers_idle "$(refresh_talkers)" entries
  c0=$(cpu_ticks "$RLD_PID"); t0=$(now_ns)
  sleep "$WINDOW"
  c1=$(cpu_ticks "$RLD_PID"); el=$(secs_since "$t0")
  row "$run" cpu_idle_pct "$(pct $((c1 - c0)) "$el")" "%"

  # daemon CPU while `ratelimitctl top` streams (live mode, default interval)
  row "$run" talkers_top "$(refresh_talkers)" entries
  "$CTL" --socket "$SOCK" --json top > /dev/null &
  TOP_PID=$!
  BG_PIDS+=("$TOP_PID")
  sleep 2
  kill -0 "$TOP_PID" || { log "ratelimitctl top exited"; exit 1; }
  c0=$(cpu_ticks "$RLD_PID"); tc0=$(cpu_ticks "$TOP_PID"); t0=$(now_ns)
  sleep "$WINDOW"
  c1=$(cpu_ticks "$RLD_PID"); tc1=$(cpu_ticks "$TOP_PID"); el=$(secs_since "$t0")
  kill "$TOP_PID"; wait "$TOP_PID" 2>/dev/null || true
  BG_PIDS=()
  row "$run" cpu_top_pct "$(pct $((c1 - c0)) "$el")" "%"
  row "$run" top_client_cpu_pct "$(pct $((tc1 - tc0)) "$el")" "%"

  # daemon CPU while scraped every second (Prometheus-style), and the scrape times
  row "$run" talkers_scrape "$(refresh_talkers)" entries
  : > "$TMP/sw"; : > "$TMP/sd"
  c0=$(cpu_ticks "$RLD_PID"); t0=$(now_ns)
  for _ in $(seq 1 "$WINDOW"); do
    s0=$(now_ns)
    scrape "$TMP/m" >> "$TMP/sw"; echo >> "$TMP/sw"
    metric "$TMP/m" ratelimit_scrape_duration_seconds >> "$TMP/sd"
    left=$(awk -v a="$s0" -v b="$(now_ns)" 'BEGIN { l = 1 - (b - a) / 1e9; printf "%.3f\n", (l > 0 ? l : 0) }')
    sleep "$left"
  done
  c1=$(cpu_ticks "$RLD_PID"); el=$(secs_since "$t0")
  row "$run" cpu_scrape1s_pct "$(pct $((c1 - c0)) "$el")" "%"
  row "$run" steady_scrape_wall_s "$(median < "$TMP/sw")" s
  row "$run" steady_scrape_duration_s "$(median < "$TMP/sd")" s
  row "$run" steady_scrape_wall_max_s "$(sort -g "$TMP/sw" | tail -1)" s

  row "$run" rss_kb "$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$RLD_PID/status")" KiB
  row "$run" hwm_kb "$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$RLD_PID/status")" KiB
  log "run $run done"
done
read -r have4 have6 <<<"$(keys_now)"
row 0 keys_total_end "$((have4 + have6))" keys

# BENCH_DAEMON_DIAG=1: where the daemon's time goes (stderr only, not in the
# table): syscall summary (strace -c -f) over BENCH_DAEMON_WINDOW seconds with a
# full talker table, idle and while `ratelimitctl top` streams. strace slows
# the daemon down; these windows are not used for any CPU number.
if [ "${BENCH_DAEMON_DIAG:-0}" = 1 ] && command -v strace >/dev/null; then
  for what in idle top; do
    log "diag: talkers $(refresh_talkers); strace -c -f over ${WINDOW}s, $what"
    if [ "$what" = top ]; then
      "$CTL" --socket "$SOCK" --json top > /dev/null &
      TOP_PID=$!
      BG_PIDS+=("$TOP_PID")
      sleep 1
    fi
    timeout -s INT "$WINDOW" strace -c -f -p "$RLD_PID" -o "$TMP/strace.$what" 2>/dev/null || true
    if [ "$what" = top ]; then kill "$TOP_PID"; wait "$TOP_PID" 2>/dev/null || true; BG_PIDS=(); fi
    head -n 12 "$TMP/strace.$what" >&2
  done
fi
