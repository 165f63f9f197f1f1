#!/usr/bin/env bash
# End-to-end bench: sender and receiver namespaces joined by one veth pair
# (IPv4 198.18.0.0/15; IPv6 in the documentation prefix 2001:db8::/32, because
# 1,000,000 distinct IPv4 sources do not fit in the /15). The sender is
# in-kernel: rl_bench gen test-runs a tiny XDP program with BPF_F_TEST_XDP_LIVE_FRAMES that rewrites the source of every
# frame and XDP_TXes it out of the sender veth (bounded: BENCH_E2E_PACKETS
# frames per run, and `timeout`). The receiver veth uses threaded NAPI, its
# thread pinned to one CPU, the generator to another, so the receiver's work is
# exactly that thread's CPU time (/proc/PID/schedstat).
#
# Receiver modes, same per-source limit everywhere (BENCH_E2E_RATE/s, burst BENCH_E2E_BURST):
#   none       no filter (GRO on so that veth runs NAPI)
#   nft        nftables meter on ip saddr, prerouting priority raw
#   hashlimit  iptables/ip6tables -t raw -m hashlimit --hashlimit-mode srcip (Debian's
#              iptables 1.8.9, nf_tables backend running the xt_hashlimit match)
#   xdp_drop   bare XDP_DROP
#   ratelimitd the shipped XDP program loaded by the daemon (build/controller/ratelimitd) from a
#              YAML config: default rule, token bucket per /32 and /128
#   ratelimitd_admit  the same, plus admission control on the default rule (the defence
#              against spoofed floods, README): new sources get state at BENCH_E2E_ADMIT/s,
#              the others share an `unknown` allowance of BENCH_E2E_UNKNOWN/s (defaults
#              10000 and 1000). A different rule (new sources beyond the admit rate share
#              one allowance): reported beside, never instead of, ratelimitd.
#   ratelimit  the same program and rule loaded directly by rl_bench via the skeleton
#              (the default instead of ratelimitd when the daemon is not built)
#
# usage: e2e.sh BUILD_DIR > e2e.csv   (root)
# Knobs: BENCH_E2E_PACKETS=5000000 BENCH_E2E_RUNS=7 BENCH_E2E_FAMILIES="4 6"
#        BENCH_E2E_SOURCES4=256,131072 (at most the /15) BENCH_E2E_SOURCES6=256,1000000
#        BENCH_E2E_MODES="none nft hashlimit xdp_drop ratelimitd ratelimitd_admit" BENCH_E2E_RATE=1 BENCH_E2E_BURST=1
#        BENCH_E2E_ADMIT=10000 BENCH_E2E_UNKNOWN=1000 (ratelimitd_admit)
#        BENCH_GEN_CPU=0 BENCH_RX_CPU=1 BENCH_RX_FIFO=0 (1: receiver NAPI thread SCHED_FIFO, so
#        that other load on its CPU does not starve it; bounded by the run length)
# The default limit is low (1/s, burst 1) on purpose: with a spoofed flood every source
# sends few packets, and only a low per-source limit makes this a drop test.
set -euo pipefail

O=${1:-build}
BENCH=$(cd "$O/tests/bench" && pwd)/rl_bench
PACKETS=${BENCH_E2E_PACKETS:-5000000}
RUNS=${BENCH_E2E_RUNS:-7}
FAMILIES=${BENCH_E2E_FAMILIES:-4 6}
SOURCES4=${BENCH_E2E_SOURCES4:-256,131072}
SOURCES6=${BENCH_E2E_SOURCES6:-256,1000000}
RLD=$(cd "$O" && pwd)/controller/ratelimitd
if [ -x "$RLD" ]; then RL_MODES="ratelimitd ratelimitd_admit"; else RL_MODES=ratelimit; fi
MODES=${BENCH_E2E_MODES:-none nft hashlimit xdp_drop $RL_MODES}
RATE=${BENCH_E2E_RATE:-1}
BURST=${BENCH_E2E_BURST:-1}
GEN_CPU=${BENCH_GEN_CPU:-0}
RX_CPU=${BENCH_RX_CPU:-1}
# Bound on one generator run, whatever the machine does.
GEN_TIMEOUT=${BENCH_E2E_TIMEOUT:-60}

SNS=rlbench-$$-snd
RNS=rlbench-$$-rcv
SDEV=rs$$
RDEV=rr$$
TMP=$(mktemp -d)
RLD_PID=
cleanup() {
  if [ -n "$RLD_PID" ]; then kill "$RLD_PID" 2>/dev/null || true; wait "$RLD_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
  ip netns del "$SNS" 2>/dev/null || true
  ip netns del "$RNS" 2>/dev/null || true
}
trap cleanup EXIT

log() { echo "e2e: $*" >&2; }
rx() { ip netns exec "$RNS" "$@"; }

ip netns add "$SNS"
ip netns add "$RNS"
ip link add "$SDEV" netns "$SNS" type veth peer name "$RDEV" netns "$RNS"
ip -n "$SNS" addr add 198.18.0.1/15 dev "$SDEV"
ip -n "$RNS" addr add 198.18.0.2/15 dev "$RDEV"
ip -n "$SNS" addr add 2001:db8::1/64 dev "$SDEV" nodad
ip -n "$RNS" addr add 2001:db8::2/64 dev "$RDEV" nodad
ip -n "$SNS" link set "$SDEV" up
ip -n "$RNS" link set "$RDEV" up
ip -n "$SNS" link set lo up
ip -n "$RNS" link set lo up
rx ethtool -K "$RDEV" gro on >/dev/null
rx sh -c "echo 1 > /sys/class/net/$RDEV/threaded"
RMAC=$(rx cat "/sys/class/net/$RDEV/address")

# The receiver's NAPI thread (re-created when XDP is attached or detached).
napi_pid() {
  local p
  for p in $(pgrep "^napi/$RDEV-" || true); do echo "$p"; done | sort -n | tail -1
}

ethstat() { rx ethtool -S "$RDEV" | awk -v k="$1" '$1 == k":" { print $2 }'; }

dropped_count() {
  case $1 in
    none) echo 0 ;;
    nft) rx nft list chain "$NFT_FAMILY" rlbench pre | sed -n 's/.*counter packets \([0-9]*\).*/\1/p' ;;
    hashlimit) rx "$IPT" -t raw -L PREROUTING -v -x -n | awk '$3 == "DROP" { print $1 }' ;;
    xdp_drop|ratelimit|ratelimitd|ratelimitd_admit) ethstat rx_queue_0_xdp_drops ;;
  esac
}

setup_mode() {
  case $1 in
    none) ;;
    nft)
      rx nft -f - <<EOF
table $NFT_FAMILY rlbench {
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    meter flood size 1048576 { $NFT_FAMILY saddr limit rate over $RATE/second burst $BURST packets } counter drop
  }
}
EOF
      ;;
    hashlimit)
      rx "$IPT" -t raw -A PREROUTING -m hashlimit --hashlimit-above "$RATE/sec" \
        --hashlimit-burst "$BURST" --hashlimit-mode srcip --hashlimit-name rlbench \
        --hashlimit-htable-size 1048576 --hashlimit-htable-max 1048576 -j DROP
      ;;
    xdp_drop) rx "$BENCH" load --ifname "$RDEV" --prog drop >&2 ;;
    ratelimit) rx "$BENCH" load --ifname "$RDEV" --prog ratelimit --rate "$RATE" --burst "$BURST" >&2 ;;
    ratelimitd|ratelimitd_admit)
      admit=""
      [ "$1" = ratelimitd_admit ] && admit="  admit: {rate: ${BENCH_E2E_ADMIT:-10000}/s, burst: ${BENCH_E2E_ADMIT:-10000}}
  unknown: {rate: ${BENCH_E2E_UNKNOWN:-1000}/s}"
      cat > "$TMP/ratelimit.yaml" <<EOF
version: 1
defaults:
  action: limit
  on_exceed: drop
  algorithm: token_bucket
  rate: $RATE/s
  burst: $BURST
  key: {ipv4_prefix: 32, ipv6_prefix: 128}
$admit
metrics:
  listen: "off"
control:
  socket: $TMP/ratelimitd.sock
pin_path: /sys/fs/bpf/rltest-$$-bench
log_level: warn
EOF
      # `ip netns exec` remounts /sys: give the daemon a bpffs of its own (it
      # disappears, pins included, with that mount namespace).
      ip netns exec "$RNS" sh -c 'mount -t bpf bpf /sys/fs/bpf && exec "$0" --config "$1" --interface "$2:native"' \
        "$RLD" "$TMP/ratelimit.yaml" "$RDEV" >&2 &
      RLD_PID=$!
      for _ in $(seq 1 100); do
        ip -n "$RNS" link show "$RDEV" | grep -q ' xdp' && break
        kill -0 "$RLD_PID" 2>/dev/null || { log "ratelimitd exited"; exit 1; }
        sleep 0.1
      done
      ip -n "$RNS" link show "$RDEV" | grep -q ' xdp' || { log "ratelimitd did not attach"; exit 1; }
      log "ratelimitd pid $RLD_PID attached to $RDEV"
      ;;
  esac
}

teardown_mode() {
  case $1 in
    nft) rx nft delete table "$NFT_FAMILY" rlbench ;;
    hashlimit) rx "$IPT" -t raw -F PREROUTING ;;
    xdp_drop|ratelimit) ip -n "$RNS" link set dev "$RDEV" xdp off ;;
    ratelimitd|ratelimitd_admit)
      kill "$RLD_PID"
      wait "$RLD_PID" || true
      RLD_PID=
      ip -n "$RNS" link set dev "$RDEV" xdp off 2>/dev/null || true
      ;;
  esac
}

echo "family,mode,sources,run,sent,seconds,sent_pps,rx,dropped,rx_pps,cpu_frac,rx_pps_per_core,rx_cpu_busy_frac"
for fam in $FAMILIES; do
if [ "$fam" = 4 ]; then
  NFT_FAMILY=ip IPT=iptables SOURCES=$SOURCES4 DST=198.18.0.2
else
  NFT_FAMILY=ip6 IPT=ip6tables SOURCES=$SOURCES6 DST=2001:db8::2
fi
# Interleaved: each run measures every mode in turn, each freshly set up (state,
# meters and tables empty), every source count back to back; ratios are then
# paired by run (scripts/bench/report.py), as the cost bench pairs its
# baselines: this VM's speed is bimodal over seconds, and modes measured
# minutes apart would compare its two speeds, not the modes.
for run in $(seq 1 "$RUNS"); do
for mode in $MODES; do
  setup_mode "$mode"
  sleep 0.2
  pid=$(napi_pid)
  [ -n "$pid" ] || { log "no NAPI thread for $RDEV"; exit 1; }
  taskset -pc "$RX_CPU" "$pid" >/dev/null
  [ "${BENCH_RX_FIFO:-0}" = 1 ] && chrt -f -p 50 "$pid"
  for n in ${SOURCES//,/ }; do
    if [ "$fam" = 4 ]; then
      # 256 sources: 198.19.1.0/24; more: from 198.18.0.0 (at most the /15)
      if [ "$n" -le 256 ]; then base=198.19.1.0; else base=198.18.0.0; fi
      [ "$n" -le 131072 ] || { log "at most 131072 IPv4 sources fit in 198.18.0.0/15"; exit 1; }
    else
      base=2001:db8:1::  # + counter in the low 32 bits; off-link for the receiver
    fi
    rx0=$(rx cat "/sys/class/net/$RDEV/statistics/rx_packets")
    d0=$(dropped_count "$mode")
    c0=$(cut -d' ' -f1 "/proc/$pid/schedstat")
    b0=$(awk -v c="cpu$RX_CPU" '$1 == c { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat)
    out=$(timeout "$GEN_TIMEOUT" ip netns exec "$SNS" taskset -c "$GEN_CPU" "$BENCH" gen \
      --ifname "$SDEV" --family "$fam" --dst-mac "$RMAC" --src-ip "$base" --dst-ip "$DST" \
      --sources "$n" --packets "$PACKETS")
    sleep 0.05  # let the receiver drain its ring (256 frames)
    rx1=$(rx cat "/sys/class/net/$RDEV/statistics/rx_packets")
    d1=$(dropped_count "$mode")
    c1=$(cut -d' ' -f1 "/proc/$pid/schedstat")
    b1=$(awk -v c="cpu$RX_CPU" '$1 == c { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat)
    secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out")
    /usr/bin/python3 - "$fam" "$mode" "$n" "$run" "$PACKETS" "$secs" "$rx0" "$rx1" "$d0" "$d1" "$c0" "$c1" "$b0" "$b1" <<'PY'
import sys
fam, mode, n, run, sent, secs, rx0, rx1, d0, d1, c0, c1, b0, b1 = sys.argv[1:]
secs = float(secs); rx = int(rx1) - int(rx0); dropped = int(d1) - int(d0)
cpu = (int(c1) - int(c0)) / 1e9
busy0, tot0 = map(int, b0.split()); busy1, tot1 = map(int, b1.split())
busy = (busy1 - busy0) / max(1, tot1 - tot0)  # whole RX CPU incl. other load (jiffies)
print(f"{fam},{mode},{n},{run},{sent},{secs:.6f},{int(sent)/secs:.0f},{rx},{dropped},{rx/secs:.0f},"
      f"{cpu/secs:.4f},{(rx/cpu if cpu > 0 else 0):.0f},{busy:.3f}")
PY
    log "IPv$fam $mode sources=$n run=$run: $out"
  done
  teardown_mode "$mode"
done
done
done
