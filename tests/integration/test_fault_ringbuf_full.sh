#!/usr/bin/env bash
# Fault: the event ring buffer fills up. The daemon (the only consumer) is
# stopped with SIGSTOP while 8000 distinct sources each exceed a 1/s limit
# (8000 LIMIT_START events against a 256 KiB ring that holds ~5400): events
# that do not fit are dropped and counted (event_lost), every packet is still
# judged exactly (pass = 8000, rate = 8000), and after SIGCONT the daemon
# serves, streams new events and keeps counting.
RL_TEST_NAME=fault-ringbuf
source "$(dirname "$0")/daemon_lib.sh"

make_netns
CFG="$WORK/ratelimit.yaml"
cat >"$CFG" <<YAML
version: 1
defaults:
  action: allow
rules:
  - name: flood
    sources: [198.19.0.0/16]
    algorithm: token_bucket
    rate: 1/s
    burst: 1
  - name: lab
    sources: [$ADDR_S/32]
    rate: 2/s
    burst: 2
    on_exceed: block
    block_for: 10m
tracking:
  capacity_v4: 32768
events:
  rate: 1000000
  burst: 1000000
YAML
start_daemon "$CFG"
N=8000
MAC_D=$(ip -n "$NS_D" -j link show "$IF_D" | jq -r '.[0].address')
g() { rlr stats | jq ".global.$1"; }
rule() { rlr stats | jq ".rules[] | select(.name==\"$1\") | .reasons.$2.packets"; }

# a blocked key first: it must stay blocked throughout
r=$(pings $ADDR_S 20)
[ "$r" -le 10 ] || fail "lab rule: $r/20 replies"
lost0=$(g event_lost) sent0=$(g event_sent)

kill -STOP "$DPID"
EXTRA_CLEANUP+=("kill -CONT $DPID 2>/dev/null")
sent=$(ip netns exec "$NS_S" python3 "$(dirname "$0")/flood_sources.py" "$IF_S" "$MAC_D" "$ADDR_D" 198.19.0.1 $N 2)
[ "$sent" -eq $((2 * N)) ] || fail "sent $sent frames"
# while the consumer is stopped: the blocked source is still dropped
r=$(pings $ADDR_S 5)
[ "$r" -eq 0 ] || fail "blocked source got $r/5 replies while the ring was full"
kill -CONT "$DPID"
sleep 0.5

lost=$(( $(g event_lost) - lost0 ))
evs=$(( $(g event_sent) - sent0 ))
pass=$(rule flood pass) drop=$(rule flood rate)
echo "flood: $sent frames, pass $pass, rate $drop; events sent $evs, lost $lost, suppressed $(g event_suppressed)"
[ "$pass" -eq $N ] || fail "pass $pass, want $N (fast path affected by the full ring?)"
[ "$drop" -eq $N ] || fail "rate drops $drop, want $N"
[ "$lost" -gt 0 ] || fail "no event counted as lost with a stopped consumer"
[ $((evs + lost)) -eq $N ] || fail "events sent $evs + lost $lost != $N limit starts"
ok "ring full: $lost of $N events dropped and counted, every packet judged (pass $pass, rate $drop)"

# the daemon works again: status, a stream of new events, blocked key still blocked
kill -0 "$DPID" || fail "daemon died"
rl events.subscribe --stream 1 >"$WORK/ev" &
SUB=$!
sleep 0.5
ip netns exec "$NS_S" python3 "$(dirname "$0")/flood_sources.py" "$IF_S" "$MAC_D" "$ADDR_D" 198.19.100.1 3 2 >/dev/null
wait $SUB || fail "events stream after the overflow: $(cat "$WORK/ev")"
sed -n 2p "$WORK/ev" | jq -e '.data.type == "limit_start" and (.data.addr | startswith("198.19.100."))' >/dev/null ||
    fail "no new event streamed: $(cat "$WORK/ev")"
[ "$(rlr keys.show "{\"ip\":\"$ADDR_S\"}" | jq '.keys[0].blocked_until_in_s')" != null ] || fail "block entry lost"
[ "$(pings $ADDR_S 5)" -eq 0 ] || fail "blocked source passes after the overflow"
ok "after SIGCONT: new events stream, block still enforced"
stop_daemon
echo PASS
