#!/usr/bin/env bash
# Fault: the interface disappears and comes back (veth deleted and re-created
# under the same name, as a container restart or a driver reload would do).
# The daemon must keep running, report the interface as not attached while it
# is gone, re-attach its program when it reappears and log it; the penalty box
# and counters survive (a blocked key is still blocked, counters continue).
RL_TEST_NAME=fault-iface
source "$(dirname "$0")/daemon_lib.sh"

make_netns
write_block_config
start_daemon "$CFG"
prog=$(rlr status | jq -r .prog_id)
r=$(pings $ADDR_S2 20)
[ "$r" -le 10 ] || fail "lab rule: $r/20 replies"
blocked0=$(rlr status | jq .counters.blocked.packets)

for round in 1 2; do
    ip -n "$NS_D" link del "$IF_D"
    sleep 1.5
    kill -0 "$DPID" || fail "round $round: daemon died when $IF_D vanished"
    [ "$(rlr status | jq '.interfaces[0].attached')" = false ] || fail "round $round: status still says attached"
    mark=$(wc -l <"$LOG")
    # re-create it under the same names and addresses
    ip link add "$IF_S" netns "$NS_S" type veth peer name "$IF_D" netns "$NS_D"
    ip -n "$NS_S" addr add "$ADDR_S/29" dev "$IF_S"
    ip -n "$NS_S" addr add "$ADDR_S2/29" dev "$IF_S"
    ip -n "$NS_D" addr add "$ADDR_D/29" dev "$IF_D"
    ip -n "$NS_S" link set "$IF_S" up
    ip -n "$NS_D" link set "$IF_D" up
    for _ in $(seq 1 100); do
        [ "$(attached_id)" = "$prog" ] && break
        sleep 0.1
    done
    [ "$(attached_id)" = "$prog" ] || fail "round $round: program $prog not re-attached within 10 s ($(attached_id))"
    tail -n +"$((mark + 1))" "$LOG" | grep -q "$IF_D.*re-attached" || fail "round $round: re-attach not logged"
    st=$(rlr status)
    [ "$(jq '.interfaces[0].attached' <<<"$st")" = true ] || fail "round $round: status not attached: $st"
    [ "$(pings $ADDR_S2 5)" -eq 0 ] || fail "round $round: blocked source passes after re-attach"
    pings $ADDR_S 3 >/dev/null   # neighbour resolution first (a new interface)
    r=$(pings $ADDR_S 10)
    [ "$r" -eq 10 ] || fail "round $round: allowed source got $r/10"
    blocked=$(rlr status | jq .counters.blocked.packets)
    [ "$blocked" -ge $((blocked0 + 5)) ] || fail "round $round: counters did not continue ($blocked0 -> $blocked)"
    blocked0=$blocked
    ok "round $round: $IF_D deleted and re-created: re-attached prog $prog, logged; still blocked ($blocked drops)"
done
stop_daemon
echo PASS
