#!/usr/bin/env bash
# Soak: the real ratelimitd under bounded mixed traffic for SOAK_SECONDS
# (default 60; `make soak` runs 600) while it is reloaded every ~3 s and
# queried all the time. Checked at the end:
#   - the daemon is still alive (and exits 0 on SIGTERM);
#   - RSS stays flat: the largest of the last 3 VmRSS samples is at most the
#     largest warm-up sample + max(4 MiB, 10 %) (warm-up: the samples taken in
#     the first quarter of the run, at least the first 3, one per reload);
#   - no fd leak: /proc/PID/fd at the end <= at warm-up + 2 (sampled with no
#     control client connected);
#   - the sum over every rule and every reason (pass, rate, deny, blocked,
#     shadow_*, non_ip, malformed, ...) of the packet counters that the control
#     socket `stats` returns grew by exactly the packets the sender sent. Nothing
#     else reaches the XDP interface: IPv6 is off on the lab veths (lab.sh) and
#     the neighbour entries are made permanent on both sides (no ARP);
#   - status.reloads.ok / .failed equal the reloads this script did and the
#     invalid ones it sent; every ctl reload got the expected answer.
# Reloads alternate between two valid configs that change every limit
# (`ratelimitctl reload` and SIGHUP in turn); every 5th reload is an invalid
# config, which must be rejected.
#
# Usage: test_soak.sh BUILD_DIR SOURCE_DIR   (env SOAK_SECONDS, default 60)
set -u -o pipefail
. "$(dirname "$0")/lib/e2e_common.sh"
e2e_init "${1:-build}" "${2:-.}"

SOAK_SECONDS=${SOAK_SECONDS:-60}
[[ "$SOAK_SECONDS" =~ ^[0-9]+$ ]] && [ "$SOAK_SECONDS" -ge 20 ] || e2e_fail "SOAK_SECONDS must be an integer >= 20"
CTL=$E2E_BUILD/controller/ratelimitctl
[ -x "$CTL" ] || e2e_fail "ratelimitctl not built ($CTL)"
ctl() { "$CTL" --socket "$E2E_SOCK" "$@"; }

# source -> rule: tb gcra sw tiered(x2) mon blk deny default
SRCS=(198.18.2.1 198.18.2.2 198.18.2.3 198.18.2.4 198.18.2.5 198.18.2.8 198.18.2.9 198.18.2.10 198.18.2.11)
PPS=(300 200 150 120 120 100 100 80 150)
lab_up rlsoak "${SRCS[@]}" || e2e_fail "lab_up"

# Permanent neighbours: no ARP frame (counted as non_ip) during the run.
# (nsenter --net keeps the root namespace's /sys: ask ip, not /sys/class/net)
mac_of() { "$@" | awk '/link\/ether/ {print $2; exit}'; }
tx_mac=$(mac_of lab_tx ip link show "$LAB_TX_IF")
rx_mac=$(mac_of lab_rx ip link show "$LAB_RX_IF")
lab_tx ip neigh replace "$LAB_RX_IP" lladdr "$rx_mac" dev "$LAB_TX_IF" nud permanent || e2e_fail "neigh tx"
for a in "$LAB_TX_IP" "${SRCS[@]}"; do
    lab_rx ip neigh replace "$a" lladdr "$tx_mac" dev "$LAB_RX_IF" nud permanent || e2e_fail "neigh rx $a"
done

CFG=$E2E_WORK/ratelimit.yaml
# write_cfg FILE K: K scales every limit (1 or 2) so the two configs differ.
write_cfg() {
    local k=$2
    e2e_write_config "$1" <<EOF
defaults:
  algorithm: token_bucket
  rate: $((100 * k))/s
  burst: $((50 * k))
rules:
  - name: tb
    sources: [198.18.2.1/32]
    algorithm: token_bucket
    rate: $((150 * k))/s
    burst: $((40 * k))
  - name: gcra
    sources: [198.18.2.2/32]
    algorithm: gcra
    rate: $((80 * k))/s
    burst: $((10 * k))
  - name: sw
    sources: [198.18.2.3/32]
    algorithm: sliding_window
    limit: $((60 * k))
    window: 1s
  - name: tiered
    sources: [198.18.2.4/31]
    tiers:
      - {rate: $((100 * k))/s, key: {ipv4_prefix: 32}}
      - {rate: $((150 * k))/s, key: {ipv4_prefix: 24}}
  - name: mon
    sources: [198.18.2.8/32]
    on_exceed: monitor
    rate: $((50 * k))/s
  - name: blk
    sources: [198.18.2.9/32]
    on_exceed: block
    block_for: $((k))s
    rate: $((60 * k))/s
    burst: $((20 * k))
  - name: deny
    sources: [198.18.2.10/32]
    action: deny
EOF
}
write_cfg "$E2E_WORK/a.yaml" 1
write_cfg "$E2E_WORK/b.yaml" 2
cp "$E2E_WORK/a.yaml" "$E2E_WORK/invalid.yaml"
sed -i 's|rate: 150/s|rate: lots|' "$E2E_WORK/invalid.yaml"
cp "$E2E_WORK/a.yaml" "$CFG"

e2e_start_daemon "$CFG"
PID=$E2E_DAEMON_PID

# sum of every packet counter over all rules and reasons, from `stats --json`
stats_sum() {
    ctl stats --json | "$E2E_PY" -c '
import json, sys
r = json.load(sys.stdin)
r = r.get("result", r)
print(sum(v["packets"] for rule in r["rules"] for v in rule["reasons"].values()))'
}
status_field() {  # status_field PYEXPR(r)
    ctl status --json | "$E2E_PY" -c "import json, sys; r = json.load(sys.stdin); r = r.get('result', r); print($1)"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
fd_count() { ls "/proc/$PID/fd" | wc -l; }

base=$(stats_sum) || e2e_fail "stats --json failed"
ok0=$(status_field 'r["reloads"]["ok"]') || e2e_fail "status --json failed"
failed0=$(status_field 'r["reloads"]["failed"]')
e2e_log "baseline: counters sum $base, reloads ok $ok0 failed $failed0, rss $(rss_kb) kB, fds $(fd_count)"

# Traffic: one rl_sender for the whole run, every flow bounded by its count.
OUT=$E2E_WORK/traffic
mkdir -p "$OUT"
: >"$E2E_WORK/events.all"
flows=()
for i in "${!SRCS[@]}"; do flows+=(--flow "${SRCS[$i]}:${PPS[$i]}:$((PPS[i] * SOAK_SECONDS))"); done
lab_tx "$SENDER" --dst "$LAB_RX_IP" --port "$E2E_PORT" --out "$OUT" --max-seconds $((SOAK_SECONDS + 60)) \
    "${flows[@]}" >"$OUT/sender.log" 2>&1 &
SENDER_PID=$!
lab_track_pid "$SENDER_PID"
e2e_log "sender pid $SENDER_PID: ${#SRCS[@]} sources, $(IFS=+; echo "$((${PPS[*]}))") pps for ${SOAK_SECONDS}s"

reloads=0 invalid=0 fail=0 iter=0 t0=$SECONDS
warm_rss=() warm_fd=() end_rss=() end_fd=()
warm_iters=$(((SOAK_SECONDS / 4 + 2) / 3))
[ "$warm_iters" -ge 3 ] || warm_iters=3
while kill -0 "$SENDER_PID" 2>/dev/null; do
    sleep 3
    iter=$((iter + 1))
    reloads=$((reloads + 1))
    if [ $((reloads % 5)) -eq 0 ]; then
        src=$E2E_WORK/invalid.yaml
        invalid=$((invalid + 1))
    elif [ $((reloads % 2)) -eq 0 ]; then src=$E2E_WORK/b.yaml
    else src=$E2E_WORK/a.yaml
    fi
    cp "$src" "$CFG"
    if [ $((reloads % 3)) -eq 0 ]; then
        kill -HUP "$PID"
        how=SIGHUP
    else
        ctl reload >"$E2E_WORK/reload.out" 2>&1
        rc=$?
        how="ctl reload (exit $rc)"
        if [ "$src" = "$E2E_WORK/invalid.yaml" ]; then
            [ "$rc" -ne 0 ] && grep -q lots "$E2E_WORK/reload.out" ||
                { echo "FAIL: invalid reload not rejected with its error: $(cat "$E2E_WORK/reload.out")"; fail=1; }
        else
            [ "$rc" -eq 0 ] || { echo "FAIL: valid reload refused: $(cat "$E2E_WORK/reload.out")"; fail=1; }
        fi
    fi
    ctl stats --json >/dev/null || { echo "FAIL: stats --json failed"; fail=1; }
    ctl status >/dev/null || { echo "FAIL: status failed"; fail=1; }
    if [ $((iter % 4)) -eq 1 ]; then
        # a short-lived events stream: ended by SIGINT from timeout after 1 s
        timeout -s INT 1 "$CTL" --socket "$E2E_SOCK" events >"$E2E_WORK/events.out" 2>&1
        rc=$?
        [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -eq 130 ] ||
            { echo "FAIL: events stream exited $rc: $(tail -3 "$E2E_WORK/events.out")"; fail=1; }
        cat "$E2E_WORK/events.out" >>"$E2E_WORK/events.all"
    fi
    kill -0 "$PID" 2>/dev/null || e2e_fail "daemon died after reload $reloads ($how)"
    sleep 0.2   # let the daemon close the connections of the clients above
    r=$(rss_kb) f=$(fd_count)
    if [ "$iter" -le "$warm_iters" ]; then warm_rss+=("$r") warm_fd+=("$f"); else end_rss+=("$r") end_fd+=("$f"); fi
    e2e_log "t+$((SECONDS - t0))s reload $reloads ($(basename "$src"), $how): rss $r kB, fds $f"
done
wait "$SENDER_PID"
src_rc=$?
cat "$OUT/sender.log"
[ "$src_rc" -eq 0 ] || e2e_fail "sender failed (status $src_rc)"
grep -q ' errors [1-9]' "$OUT/sender.log" && e2e_fail "sendto errors (see above)"
[ "${#end_rss[@]}" -ge 3 ] || e2e_fail "too few samples after warm-up (${#end_rss[@]}); SOAK_SECONDS too small?"

# Counters: exactly what was sent. Let the last packets be counted (XDP runs
# inside sendto on veth; this is only slack for a busy machine).
sent=$(e2e_count_sent "$OUT" "${SRCS[@]}")
sleep 0.5
total=$(($(stats_sum) - base))
e2e_log "packets sent $sent, counted (all rules, all reasons) $total"
[ "$total" -eq "$sent" ] || { echo "FAIL: counters grew by $total, sender sent $sent"; fail=1; }
ctl stats --json | "$E2E_PY" -c '
import json, sys
r = json.load(sys.stdin); r = r.get("result", r)
for rule in r["rules"]:
    nz = {k: v["packets"] for k, v in rule["reasons"].items() if v["packets"]}
    if nz: print("  %-8s %s" % (rule["name"], nz))'

# the limits are exceeded all the time: the streams must have shown events
nev=$(wc -l <"$E2E_WORK/events.all")
e2e_log "events streams printed $nev lines, e.g.: $(head -1 "$E2E_WORK/events.all")"
[ "$nev" -gt 0 ] || { echo "FAIL: no event in any events stream"; fail=1; }

# Reload accounting
ok1=$(status_field 'r["reloads"]["ok"]')
failed1=$(status_field 'r["reloads"]["failed"]')
e2e_log "reloads done $reloads (invalid $invalid): daemon says ok $((ok1 - ok0)) failed $((failed1 - failed0))"
[ $((ok1 - ok0)) -eq $((reloads - invalid)) ] || { echo "FAIL: reloads ok $((ok1 - ok0)), expected $((reloads - invalid))"; fail=1; }
[ $((failed1 - failed0)) -eq "$invalid" ] || { echo "FAIL: reloads failed $((failed1 - failed0)), expected $invalid"; fail=1; }

# RSS and fds
max() { local m=$1 x; for x in "$@"; do [ "$x" -gt "$m" ] && m=$x; done; echo "$m"; }
warm_max=$(max "${warm_rss[@]}")
n=${#end_rss[@]}
last_max=$(max "${end_rss[@]:$((n - 3))}")
slack=$((warm_max / 10)); [ "$slack" -ge 4096 ] || slack=4096
min() { local m=$1 x; for x in "$@"; do [ "$x" -lt "$m" ] && m=$x; done; echo "$m"; }
e2e_log "RSS kB: warm-up (${#warm_rss[@]} samples) ${warm_rss[0]}..$warm_max | after (${n} samples) min $(min "${end_rss[@]}")" \
    "max $(max "${end_rss[@]}") | last 3 ${end_rss[*]:$((n - 3))} | bound $warm_max + $slack"
[ "$last_max" -le $((warm_max + slack)) ] || { echo "FAIL: RSS grew: $warm_max -> $last_max kB (bound +$slack kB)"; fail=1; }
warm_fdmax=$(max "${warm_fd[@]}")
end_fdlast=${end_fd[$((n - 1))]}
e2e_log "fds: warm-up $(min "${warm_fd[@]}")..$warm_fdmax | after $(min "${end_fd[@]}")..$(max "${end_fd[@]}"), last $end_fdlast | bound $warm_fdmax + 2"
[ "$end_fdlast" -le $((warm_fdmax + 2)) ] || { echo "FAIL: fd leak: $warm_fdmax -> $end_fdlast"; fail=1; }

kill -0 "$PID" 2>/dev/null || e2e_fail "daemon not alive at the end"
e2e_stop_daemon TERM
[ "$fail" -eq 0 ] || e2e_fail "soak assertions failed (above)"
e2e_log "PASS"
