#!/usr/bin/env bash
# ratelimitd end to end: attach in a test namespace, status, enforcement,
# live reload (good and bad), control-protocol errors, kill -9 + restart
# (state and attachment survive, program replaced atomically), detach.
RL_TEST_NAME=lifecycle
source "$(dirname "$0")/daemon_lib.sh"

make_netns
CFG="$WORK/ratelimit.yaml"
write_cfg() { # write_cfg RATE BURST
    cat >"$CFG" <<YAML
version: 1
defaults:
  action: allow
rules:
  - name: lab
    sources: [198.18.0.0/30]
    rate: $1
    burst: $2
  - name: jail
    sources: [$ADDR_S2/32]
    rate: 2/s
    burst: 2
    on_exceed: block
    block_for: 10m
top:
  sample: 2
YAML
}
write_cfg 5/s 5
start_daemon "$CFG"

# --- status and attachment
st=$(rlr status)
[ "$(jq -r '.interfaces[0].name' <<<"$st")" = "$IF_D" ] || fail "status interfaces: $st"
[ "$(jq -r '.interfaces[0].attached' <<<"$st")" = true ] || fail "not attached: $st"
[ "$(jq -r '.multiprog' <<<"$st")" = false ] || fail "multiprog should be false on this kernel: $st"
prog1=$(jq -r '.prog_id' <<<"$st")
[ "$(attached_id)" = "$prog1" ] || fail "ip link shows $(attached_id), status says $prog1"
grep -q "multiprog dispatcher unavailable: single-program attach" "$LOG" || fail "dispatcher fallback not logged"
ok "attached prog $prog1 to $IF_D in $(jq -r '.interfaces[0].mode' <<<"$st") mode"

# --- enforcement: 50 echo requests in ~0.1 s against 5/s burst 5
r=$(pings $ADDR_S 50)
{ [ "$r" -ge 5 ] && [ "$r" -le 25 ]; } || fail "5/s burst 5: $r of 50 replies"
drops=$(rlr status | jq '.counters.rate.packets')
[ "$drops" -ge 25 ] || fail "rate drops counted: $drops"
ok "limit 5/s: $r/50 replies, $drops rate drops counted"
[ "$(rlr rules.list | jq -r '.rules[] | select(.name=="lab") | .tiers[0].packets')" = "5/s" ] || fail "rules.list rate"

# --- reload raises the limit (reload command)
gen1=$(rlr status | jq .generation)
write_cfg 1000/s 1000
gen2=$(rlr reload | jq .generation)
[ "$gen2" -gt "$gen1" ] || fail "generation $gen1 -> $gen2"
[ "$(rlr rules.list | jq -r '.rules[] | select(.name=="lab") | .tiers[0].packets')" = "1000/s" ] || fail "reload not applied"
cap=$(rlr keys.show "{\"ip\":\"$ADDR_S\"}" | jq '.keys[0].state.capacity_packets')
[ "$cap" = "1000" ] || [ "$cap" = "1000.0" ] || fail "key capacity after reload: $cap"
sleep 1.2   # the old bucket's debt (at most 1 s) drains
r=$(pings $ADDR_S 50)
[ "$r" -eq 50 ] || fail "1000/s burst 1000: $r of 50 replies"
ok "reload to 1000/s: generation $gen1 -> $gen2, $r/50 replies"

# --- invalid reload: rejected with line:column, nothing changed
cp "$CFG" "$WORK/good.yaml"
sed -i 's|rate: 1000/s|rate: 7/parsec|' "$CFG"
line=$(grep -n parsec "$CFG" | cut -d: -f1)
out=$(rl reload) && fail "invalid reload accepted: $out"
[ "$(jq -r .error.code <<<"$out")" = EINVAL ] || fail "invalid reload error: $out"
jq -r .error.message <<<"$out" | grep -q "ratelimit.yaml:$line:" || fail "error lacks line $line: $out"
st=$(rlr status)
[ "$(jq .generation <<<"$st")" = "$gen2" ] || fail "generation changed by a failed reload"
[ "$(jq .reloads.failed <<<"$st")" = 1 ] || fail "failed reload not counted: $st"
[ "$(rlr rules.list | jq -r '.rules[] | select(.name=="lab") | .tiers[0].packets')" = "1000/s" ] || fail "old config lost"
r=$(pings $ADDR_S 50)
[ "$r" -eq 50 ] || fail "old limit not enforced after failed reload: $r/50"
kill -HUP "$DPID"   # SIGHUP path: also rejected, daemon keeps running
sleep 0.5
kill -0 "$DPID" || fail "daemon died on SIGHUP with a bad config"
[ "$(rlr status | jq .reloads.failed)" = 2 ] || fail "SIGHUP failed reload not counted"
cp "$WORK/good.yaml" "$CFG"
ok "invalid reload rejected at line $line; old config still enforced"

# --- protocol errors: bad requests fail, the connection survives; garbage closes it
out=$(python3 "$CLIENT" "$SOCK" - --raw '{"v":1,"id":1,"cmd":"nope"}' --raw '{"v":1,"id":2,"cmd":"status"}')
[ "$(sed -n 1p <<<"$out" | jq -r .error.code)" = ENOTSUP ] || fail "unknown command: $out"
[ "$(sed -n 2p <<<"$out" | jq -r .ok)" = true ] || fail "connection did not survive a bad command: $out"
out=$(python3 "$CLIENT" "$SOCK" - --raw '{"v":1,"id":3,"cmd":"keys.show","args":{"ip":"nonsense"}}' --raw '{"v":1,"id":4,"cmd":"status"}')
[ "$(sed -n 1p <<<"$out" | jq -r .error.code)" = EINVAL ] || fail "bad argument: $out"
[ "$(sed -n 2p <<<"$out" | jq -r .id)" = 4 ] || fail "connection did not survive a bad argument: $out"
out=$(python3 "$CLIENT" "$SOCK" - --raw 'this is not json' --raw '{"v":1,"id":5,"cmd":"status"}')
[ "$(sed -n 1p <<<"$out" | jq -r .error.code)" = EPROTO ] || fail "invalid JSON: $out"
grep -q "connection closed" <<<"$out" || fail "connection not closed after invalid JSON: $out"
big=$(head -c 70000 /dev/zero | tr '\0' 'x')
out=$(python3 "$CLIENT" "$SOCK" - --raw "{\"v\":1,\"id\":6,\"cmd\":\"status\",\"args\":{\"pad\":\"$big\"}}")
[ "$(sed -n 1p <<<"$out" | jq -r .error.code)" = EPROTO ] || fail "oversized request: $(head -c 200 <<<"$out")"
grep -q "connection closed" <<<"$out" || fail "connection not closed after an oversized request"
[ "$(rlr status | jq .generation)" = "$gen2" ] || fail "bad requests changed the generation"
ok "protocol errors: ENOTSUP/EINVAL keep the connection, invalid JSON and >64 KiB close it"

# --- penalty box, then kill -9: enforcement continues, state survives a restart
r=$(pings $ADDR_S2 20)
[ "$r" -le 10 ] || fail "jail rule: $r/20 replies"
ks=$(rlr keys.show "{\"ip\":\"$ADDR_S2\"}")
blocked=$(jq '.keys[0].blocked_until_in_s' <<<"$ks")
[ "$blocked" != null ] || fail "no block entry: $ks"
ok "$ADDR_S2 blocked for ${blocked}s"

jail_id=$(rlr rules.list | jq -r '.rules[] | select(.name=="jail") | .id')
kill -9 "$DPID"
wait "$DPID" 2>/dev/null || true
DPID=""
[ "$(attached_id)" = "$prog1" ] || fail "program $prog1 not attached after kill -9 (now $(attached_id))"
r=$(pings $ADDR_S2 5)
[ "$r" -eq 0 ] || fail "blocked source got $r replies while the daemon was down"
r=$(pings $ADDR_S 20)
[ "$r" -eq 20 ] || fail "allowed source got $r/20 replies while the daemon was down"
ok "daemon killed: program $prog1 still attached, block still enforced"

# watch the attachment while the new daemon starts: it must never be absent
touch "$WORK/watch"
( while [ -f "$WORK/watch" ]; do attached_id; done >"$WORK/ids" ) &
WATCH=$!
start_daemon "$CFG"
rm -f "$WORK/watch"
wait $WATCH
st=$(rlr status)
prog2=$(jq -r .prog_id <<<"$st")
[ "$prog2" != "$prog1" ] || fail "program not replaced"
[ "$(attached_id)" = "$prog2" ] || fail "attached $(attached_id), expected $prog2"
! grep -q none "$WORK/ids" || fail "attachment gap during restart: $(sort "$WORK/ids" | uniq -c | tr '\n' ' ')"
grep -q "^$prog1$" "$WORK/ids" || fail "old program never observed during restart"
[ "$(jq .state_reused <<<"$st")" = true ] || fail "state not reused: $st"
[ "$(jq '.interfaces[0].adopted' <<<"$st")" = true ] || fail "not adopted: $st"
[ "$(jq .generation <<<"$st")" -gt "$gen2" ] || fail "generation went backwards after restart"
ks=$(rlr keys.show "{\"ip\":\"$ADDR_S2\"}")
[ "$(jq '.keys[0].present' <<<"$ks")" = true ] || fail "jail key lost: $ks"
[ "$(jq '.keys[0].blocked_until_in_s' <<<"$ks")" != null ] || fail "block entry lost: $ks"
[ "$(rlr keys.show "{\"ip\":\"$ADDR_S\"}" | jq '.keys[0].present')" = true ] || fail "lab key lost"
[ "$(rlr rules.list | jq -r '.rules[] | select(.name=="jail") | .id')" = "$jail_id" ] || fail "rule ids changed"
ok "restart: prog $prog1 -> $prog2 replaced atomically ($(sort -u "$WORK/ids" | wc -l) ids seen, no gap), keys and block kept"

# --- a second daemon on the same socket is refused; the first keeps serving
rc=0
nsenter --net="/run/netns/$NS_D" "$RLD" --config "$CFG" --interface "$IF_D" --pin-path "$PIN" \
    --socket "$SOCK" >"$WORK/second.log" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "second daemon: exit $rc: $(cat "$WORK/second.log")"
grep -q "served by another running ratelimitd" "$WORK/second.log" || fail "second daemon: $(cat "$WORK/second.log")"
[ "$(rlr status | jq -r .prog_id)" = "$(attached_id)" ] || fail "the refused daemon touched the attachment"
ok "second daemon on the same socket refused before touching anything"

# --- SIGTERM keeps enforcing; --detach-on-exit and detach all clean up
stop_daemon
[ "$(attached_id)" = "$prog2" ] || fail "SIGTERM detached the program"
start_daemon "$CFG" --detach-on-exit
stop_daemon
[ "$(attached_id)" = none ] || fail "--detach-on-exit left $(attached_id) attached"
ok "SIGTERM keeps the program; --detach-on-exit removes it"
start_daemon "$CFG"
[ "$(attached_id)" != none ] || fail "not attached"
rlr detach '{"all":true}' >/dev/null
[ "$(attached_id)" = none ] || fail "detach all left $(attached_id) attached"
[ ! -e "$PIN" ] || fail "detach all left $PIN: $(ls "$PIN")"
ok "detach all: detached and unpinned"
stop_daemon
echo PASS
