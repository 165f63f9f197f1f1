#!/usr/bin/env bash
# End-to-end crash safety: kill -9 the real ratelimitd and check that
#   - the XDP program stays attached and keeps enforcing while the daemon is
#     down (traffic from a limited source still follows its token bucket);
#   - a key put in the penalty box (on_exceed: block, block_for: 1h) before the
#     kill is still blocked while the daemon is down and after it restarted;
#   - a bucket drained before the kill is still (nearly) empty after the
#     restart: it refilled only by rate x elapsed time, not back to its burst;
#   - the restarted daemon adopts the pinned state (same counters, same rules).
# Every source's packets over the three phases (up, down, restarted) are
# replayed as ONE timeline through an exact meter: the meter must behave as if
# the daemon had never died. Counters are read from the pinned maps, so they
# are checked while the daemon is down too.
#
# Usage: test_e2e_kill9.sh BUILD_DIR SOURCE_DIR
set -u -o pipefail
. "$(dirname "$0")/lib/e2e_common.sh"
e2e_init "${1:-build}" "${2:-.}"

LIM=198.18.1.1    # rule lim:   token bucket 1000/s burst 50
BLK=198.18.4.1    # rule blk:   token bucket 100/s burst 10, on_exceed block for 1h
DRN=198.18.5.1    # rule drain: token bucket 5/s burst 100 (refills slowly)
lab_up rlk9 $LIM $BLK $DRN "${E2E_PROBES[@]}" || e2e_fail "lab_up"
CFG=$E2E_WORK/ratelimit.yaml
e2e_write_config "$CFG" <<'EOF'
defaults:
  action: allow
rules:
  - name: lim
    sources: [198.18.1.0/24]
    rate: 1000/s
    burst: 50
  - name: blk
    sources: [198.18.4.0/24]
    rate: 100/s
    burst: 10
    on_exceed: block
    block_for: 1h
  - name: drain
    sources: [198.18.5.0/24]
    rate: 5/s
    burst: 100
EOF
SPECS=("$LIM=tb:1000:1000000000:50" "$BLK=tbblock:100:1000000000:10:3600000000000" "$DRN=tb:5:1000000000:100")
fail=0
CLOCKS=()

phase() {  # NAME FLOW...
    local name=$1
    shift
    e2e_stats >"$E2E_WORK/$name.before.json" || e2e_fail "cannot read pinned rl_stats under $LAB_PIN_DIR"
    e2e_traffic "$E2E_WORK/$name" "$@" $(e2e_probe_flows 1000)
    e2e_calibrate "$E2E_WORK/$name"
    CLOCKS+=(--clock "$E2E_CLOCK")
    e2e_check_counters "$E2E_WORK/$name.before.json" "$E2E_WORK/$name" "lim=$LIM" "blk=$BLK" "drain=$DRN" || fail=1
}

e2e_start_daemon "$CFG"
prog_before=$(e2e_xdp_prog_id)
e2e_log "phase A (daemon up): trip the block, drain the bucket, limit"
phase A "$BLK:1000:100" "$DRN:10000:200" "$LIM:1700:1700"

e2e_log "kill -9 ratelimitd (pid $E2E_DAEMON_PID)"
e2e_stop_daemon KILL
prog_down=$(e2e_xdp_prog_id)
[ -n "$prog_down" ] || e2e_fail "no XDP program attached after kill -9: enforcement stopped with the daemon"
[ "$prog_down" = "$prog_before" ] || { echo "FAIL: attached program changed without a daemon ($prog_before -> $prog_down)"; fail=1; }
ls "$LAB_PIN_DIR" >/dev/null 2>&1 || e2e_fail "pinned state $LAB_PIN_DIR gone after kill -9"
"$E2E_PY" "$E2E_LIB_DIR/pinned_stats.py" "$LAB_PIN_DIR" blocks | tee "$E2E_WORK/blocks.down.json"
grep -q "\"$BLK\"" "$E2E_WORK/blocks.down.json" || { echo "FAIL: no penalty-box entry for $BLK in the pinned rl_block4"; fail=1; }

e2e_log "phase B (daemon down): enforcement must go on"
phase B "$LIM:1700:3400" "$BLK:50:20" "$DRN:10000:50"

e2e_log "restart ratelimitd with the same config"
e2e_start_daemon "$CFG"
# rl_known is not pinned: the restarted daemon builds it from the pinned keys
# (lim, blk and drain at least); until then the fast path does not use it
known=
for _ in $(seq 1 50); do
    known=$(awk '/^=== ratelimitd/ { n = "" } /known-key filter built from/ { for (i = 1; i < NF; i++) if ($i == "from") n = $(i + 1) } END { print n }' "$E2E_DAEMON_LOG")
    [ -n "$known" ] && break
    sleep 0.1
done
echo "restarted daemon: known-key filter built from ${known:-?} pinned keys (want >= 3)"
[ -n "$known" ] && [ "$known" -ge 3 ] || { echo "FAIL: the restarted daemon did not build its known-key filter from the pinned keys"; fail=1; }
e2e_log "phase C (restarted): still blocked, bucket not refilled beyond elapsed time"
phase C "$BLK:50:20" "$DRN:10000:200" "$LIM:1700:1700"

e2e_log "one timeline A+B+C through the exact meters"
"$E2E_PY" "$E2E_LIB_DIR/e2e_replay.py" "${CLOCKS[@]}" --dir "$E2E_WORK/A" --dir "$E2E_WORK/B" --dir "$E2E_WORK/C" \
    "${SPECS[@]}" || fail=1

# the same facts spelled out, so a failure says which promise broke
blk_after=$(( $(e2e_count_arrived "$E2E_WORK/B" $BLK) + $(e2e_count_arrived "$E2E_WORK/C" $BLK) ))
echo "blocked key $BLK: $blk_after of 40 packets arrived while down + after restart (want 0)"
[ "$blk_after" -eq 0 ] || { echo "FAIL: blocked key got through after kill -9/restart"; fail=1; }
drn_c=$(e2e_count_arrived "$E2E_WORK/C" $DRN)
a_end=$(tail -n1 "$E2E_WORK/A/$DRN.send" | cut -d' ' -f3)
c_start=$(head -n1 "$E2E_WORK/C/$DRN.send" | cut -d' ' -f3)
b_arr=$(e2e_count_arrived "$E2E_WORK/B" $DRN)
refill=$(( (c_start - a_end) * 5 / 1000000000 + 1 ))
echo "drained key $DRN: $b_arr arrived while down + $drn_c after restart; refill since the drain allows <= $refill; a refilled bucket would pass 100"
[ $((b_arr + drn_c)) -le "$refill" ] || { echo "FAIL: bucket refilled beyond elapsed time across kill -9/restart"; fail=1; }

e2e_stop_daemon TERM
[ "$fail" -eq 0 ] || e2e_fail "kill -9 assertions failed (tables above)"
e2e_log "PASS"
