#!/usr/bin/env bash
# Fault: ratelimitd killed with SIGKILL while it applies a reload (a rule set
# large enough that a reload writes thousands of map entries). Each time: the
# program stays attached and keeps enforcing (a blocked source stays blocked,
# an allowed one passes), counters keep counting; a restart adopts the
# pinned state (same keys, block entry, rule ids, counters not reset) and
# applies the file as it is now.
RL_TEST_NAME=fault-killreload
source "$(dirname "$0")/daemon_lib.sh"

make_netns
CFG="$WORK/ratelimit.yaml"
# write_cfg RATE: a jail rule for ADDR_S2 plus 150 filler rules of 24 /32s each
# (3600 LPM entries), all rates changed together so a reload rewrites them.
write_cfg() {
    {
        jail_lab_yaml
        for r in $(seq 1 150); do
            printf '  - name: f%d\n    rate: %s\n    sources: [' "$r" "$1"
            for h in $(seq 1 24); do printf '10.%d.%d.%d/32%s' $((r / 200)) $((r % 200)) "$h" "$([ "$h" -lt 24 ] && echo ', ')"; done
            printf ']\n'
        done
    } >"$CFG"
}
write_cfg 100/s
start_daemon "$CFG"
prog=$(rlr status | jq -r .prog_id)
[ "$(attached_id)" = "$prog" ] || fail "not attached"
jail_id=$(rlr rules.list | jq -r '.rules[] | select(.name=="jail") | .id')

# put ADDR_S2 in the penalty box
r=$(pings $ADDR_S2 20)
[ "$r" -le 10 ] || fail "jail rule: $r/20 replies"
[ "$(rlr keys.show "{\"ip\":\"$ADDR_S2\"}" | jq '.keys[0].blocked_until_in_s')" != null ] || fail "no block entry"
blocked_before=$(rlr status | jq '.counters.blocked.packets + .counters.rate.packets')
ok "$ADDR_S2 blocked; $blocked_before drops so far"

# how long one reload of this set takes here (for the record): SIGHUP -> "reloaded" in the log
write_cfg 99/s
mark=$(wc -l <"$LOG")
t0=$(date +%s%N)
kill -HUP "$DPID"
until tail -n +"$((mark + 1))" "$LOG" | grep -q "reloaded "; do sleep 0.005; done
t1=$(date +%s%N)
reload_ms=$(( (t1 - t0) / 1000000 ))
ok "one reload of this rule set: ~$reload_ms ms"

# SIGHUP starts the reload at once; SIGKILL follows after a delay spread over
# (and past) the reload's duration. The log tells whether it had completed.
rate=100 completed=0 interrupted=0
for frac in 0 10 30 60 150; do
    rate=$((rate + 1))
    write_cfg "$rate/s"
    gen_before=$(rlr status | jq .generation)
    mark=$(wc -l <"$LOG")
    kill -HUP "$DPID"
    delay=$(awk -v ms="$reload_ms" -v f="$frac" 'BEGIN { printf "%.3f", ms * f / 100 / 1000 }')
    sleep "$delay"
    kill -9 "$DPID"
    wait "$DPID" 2>/dev/null || true
    DPID=""
    if tail -n +"$((mark + 1))" "$LOG" | grep -q "reloaded "; then
        when="after the reload completed"; completed=$((completed + 1))
    else
        when="during the reload"; interrupted=$((interrupted + 1))
    fi
    [ "$(attached_id)" = "$prog" ] || fail "kill at ${delay}s: program $prog no longer attached ($(attached_id))"
    r=$(pings $ADDR_S2 5)
    [ "$r" -eq 0 ] || fail "kill at ${delay}s: blocked source got $r/5 replies while the daemon was down"
    pings $ADDR_S 3 >/dev/null   # neighbour resolution first (loaded machines)
    r=$(pings $ADDR_S 10)
    [ "$r" -eq 10 ] || fail "kill at ${delay}s: allowed source got $r/10 replies while the daemon was down"

    start_daemon "$CFG"
    st=$(rlr status)
    prog=$(jq -r .prog_id <<<"$st")
    [ "$(attached_id)" = "$prog" ] || fail "restart after kill at ${delay}s: attached $(attached_id), status $prog"
    [ "$(jq .state_reused <<<"$st")" = true ] || fail "restart after kill at ${delay}s: state not reused"
    [ "$(jq .generation <<<"$st")" -gt "$gen_before" ] || fail "generation went backwards: $gen_before -> $(jq .generation <<<"$st")"
    ks=$(rlr keys.show "{\"ip\":\"$ADDR_S2\"}")
    [ "$(jq '.keys[0].blocked_until_in_s' <<<"$ks")" != null ] || fail "block entry lost after kill at ${delay}s: $ks"
    [ "$(rlr rules.list | jq -r '.rules[] | select(.name=="jail") | .id')" = "$jail_id" ] || fail "rule ids changed"
    got=$(rlr rules.list | jq -r '.rules[] | select(.name=="f150") | .tiers[0].packets')
    [ "$got" = "$rate/s" ] || fail "restart did not apply the file: f150 at $got, file says $rate/s"
    drops=$(jq '.counters.blocked.packets + .counters.rate.packets' <<<"$st")
    [ "$drops" -ge "$blocked_before" ] || fail "drop counters reset: $blocked_before -> $drops"
    [ "$drops" -gt "$blocked_before" ] || fail "drops while the daemon was down were not counted"
    blocked_before=$drops
    ok "killed ${delay}s after SIGHUP ($when): still attached and enforcing; restart adopted state (prog $prog, $drops drops)"
done
ok "kills: $interrupted during a reload, $completed after it completed"
stop_daemon
echo PASS
