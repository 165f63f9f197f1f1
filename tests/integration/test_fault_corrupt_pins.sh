#!/usr/bin/env bash
# Fault: stale or corrupted pinned state. A pinned map replaced by one of the
# wrong value size, one of the wrong type, and a directory where a map should
# be: each restart is refused (exit 1) with a message naming the map and what
# differs, the program left attached by the previous daemon keeps enforcing
# meanwhile, and --force-reset recovers by discarding only the bad map: the
# other pinned maps (penalty box, counters) are kept.
RL_TEST_NAME=fault-pins
source "$(dirname "$0")/daemon_lib.sh"
command -v bpftool >/dev/null || skip "bpftool missing"

make_netns
CFG="$WORK/ratelimit.yaml"
{
    jail_lab_yaml
    printf 'tracking:\n  capacity_v4: 4096\n  capacity_v6: 4096\n'
} >"$CFG"
start_daemon "$CFG"
r=$(pings $ADDR_S2 20)
[ "$r" -le 10 ] || fail "jail rule: $r/20 replies"
[ "$(rlr keys.show "{\"ip\":\"$ADDR_S2\"}" | jq '.keys[0].blocked_until_in_s')" != null ] || fail "no block entry"
stop_daemon
prog=$(attached_id)
[ "$prog" != none ] || fail "SIGTERM detached"

# refused_start NAME EXPECT_REGEX: a start that must fail naming the map.
refused_start() {
    local what=$1 want=$2 rc=0
    nsenter --net="/run/netns/$NS_D" "$RLD" --config "$CFG" --interface "$IF_D" --pin-path "$PIN" \
        --socket "$SOCK" >"$WORK/refused.log" 2>&1 || rc=$?
    [ $rc -eq 1 ] || fail "$what: start exited $rc: $(cat "$WORK/refused.log")"
    grep -qE "$want" "$WORK/refused.log" || fail "$what: message lacks /$want/: $(cat "$WORK/refused.log")"
    grep -q -- "--force-reset" "$WORK/refused.log" || fail "$what: message lacks the way out: $(cat "$WORK/refused.log")"
    [ ! -S "$SOCK" ] || fail "$what: a refused daemon left a socket"
    echo "ok: $what: refused: $(grep -m1 -o 'error: .*' "$WORK/refused.log")"
}
# still_enforcing: the previous program is attached, the blocked source blocked.
still_enforcing() {
    [ "$(attached_id)" = "$prog" ] || fail "$1: program $prog no longer attached ($(attached_id))"
    local r
    r=$(pings $ADDR_S2 5)
    [ "$r" -eq 0 ] || fail "$1: blocked source got $r/5 replies"
    pings $ADDR_S 3 >/dev/null   # neighbour resolution first (loaded machines)
    r=$(pings $ADDR_S 5)
    [ "$r" -eq 5 ] || fail "$1: allowed source got $r/5 replies"
}
# recovers: --force-reset starts, keeps the penalty box and the counters.
recovers() {
    local what=$1 drops_before=$2
    start_daemon "$CFG" --force-reset
    grep -q "discarding incompatible pinned map $PIN/$3" "$LOG" || fail "$what: --force-reset did not say what it discarded"
    st=$(rlr status)
    prog=$(jq -r .prog_id <<<"$st")
    [ "$(attached_id)" = "$prog" ] || fail "$what: not attached after --force-reset"
    [ "$(jq .state_reused <<<"$st")" = true ] || fail "$what: --force-reset threw away the good maps too"
    [ "$(rlr keys.show "{\"ip\":\"$ADDR_S2\"}" | jq '.keys[0].blocked_until_in_s')" != null ] ||
        fail "$what: penalty box lost by --force-reset of $3"
    [ "$(pings $ADDR_S2 5)" -eq 0 ] || fail "$what: blocked source passes after --force-reset"
    local drops
    drops=$(jq '.counters.blocked.packets' <<<"$st")
    [ "$drops" -ge "$drops_before" ] || fail "$what: counters reset ($drops_before -> $drops)"
    stop_daemon
    echo "ok: $what: --force-reset discarded $3 only; still blocked, counters kept ($drops blocked drops)"
}

# 1. rl_state4 with the wrong value size
rm "$PIN/rl_state4"
bpftool map create "$PIN/rl_state4" type lru_hash key 8 value 16 entries 4096 name rl_state4
refused_start "rl_state4 with value size 16" "rl_state4.*value_size 16 \(pinned\) != 24"
still_enforcing "after the refused start (value size)"
recovers "value size" 0 rl_state4

# 2. rl_rules as a hash map instead of an array
size=$(bpftool -j map show pinned "$PIN/rl_rules" | jq .bytes_value)
rm "$PIN/rl_rules"
bpftool map create "$PIN/rl_rules" type hash key 4 value "$size" entries 256 name rl_rules
refused_start "rl_rules of type hash" "rl_rules.*type 1 \(pinned\) != 2"
still_enforcing "after the refused start (type)"
recovers "map type" 0 rl_rules

# 3. a directory where rl_cfg should be
rm "$PIN/rl_cfg"
mkdir "$PIN/rl_cfg"
rc=0
nsenter --net="/run/netns/$NS_D" "$RLD" --config "$CFG" --interface "$IF_D" --pin-path "$PIN" \
    --socket "$SOCK" >"$WORK/dir.log" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "directory as rl_cfg: exit $rc: $(cat "$WORK/dir.log")"
grep -q "rl_cfg" "$WORK/dir.log" || fail "directory as rl_cfg: message does not name it: $(cat "$WORK/dir.log")"
echo "ok: directory at rl_cfg: refused: $(grep -m1 -o 'error: .*' "$WORK/dir.log")"
still_enforcing "after the refused start (directory)"
rmdir "$PIN/rl_cfg"
start_daemon "$CFG"
[ "$(rlr keys.show "{\"ip\":\"$ADDR_S2\"}" | jq '.keys[0].blocked_until_in_s')" != null ] || fail "penalty box lost"
echo "ok: with the directory removed, the daemon starts and the penalty box is still there"
stop_daemon
echo PASS
