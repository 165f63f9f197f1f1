#!/usr/bin/env bash
# Fault: a second ratelimitd started against a running one, three ways: same
# control socket; same pin dir (other socket); same interface (other pin dir
# and socket). Each is refused with exit 1 and a message that says what is in
# use, and the first daemon is untouched: its socket answers, its program
# stays attached, a blocked key stays blocked, its counters keep counting.
RL_TEST_NAME=fault-second
source "$(dirname "$0")/daemon_lib.sh"

make_netns
write_block_config
start_daemon "$CFG"
prog=$(rlr status | jq -r .prog_id)
r=$(pings $ADDR_S2 20)
[ "$r" -le 10 ] || fail "lab rule: $r/20 replies"

# second NAME PIN SOCKET REGEX: start a second daemon that must be refused.
second() {
    local what=$1 pin=$2 sock=$3 want=$4 rc=0
    timeout 20 nsenter --net="/run/netns/$NS_D" "$RLD" --config "$CFG" --interface "$IF_D" --pin-path "$pin" \
        --socket "$sock" >"$WORK/second.log" 2>&1 || rc=$?
    [ $rc -eq 1 ] || fail "$what: second daemon exited $rc (want 1): $(cat "$WORK/second.log")"
    grep -qiE "$want" "$WORK/second.log" || fail "$what: unclear refusal (want /$want/): $(cat "$WORK/second.log")"
    echo "ok: $what: refused: $(grep -m1 -o 'error: .*' "$WORK/second.log")"
    # the first daemon is untouched
    kill -0 "$DPID" || fail "$what: first daemon died"
    [ -S "$SOCK" ] || fail "$what: first daemon's socket removed"
    local st
    st=$(rlr status) || fail "$what: first daemon does not answer"
    [ "$(jq -r .pid <<<"$st")" = "$DPID" ] || fail "$what: socket answered by pid $(jq -r .pid <<<"$st")"
    [ "$(attached_id)" = "$prog" ] || fail "$what: program replaced ($prog -> $(attached_id))"
    local b0 b1
    b0=$(jq .counters.blocked.packets <<<"$st")
    [ "$(pings $ADDR_S2 5)" -eq 0 ] || fail "$what: blocked source passes"
    b1=$(rlr status | jq .counters.blocked.packets)
    [ "$b1" -ge $((b0 + 5)) ] || fail "$what: counters stopped ($b0 -> $b1)"
}
PIN2="/sys/fs/bpf/rltest-$$-fault-second2"
EXTRA_CLEANUP+=("rm -rf $PIN2")
second "same socket" "$PIN2" "$SOCK" "socket|already|in use|running"
[ ! -e "$PIN2" ] || fail "the refused daemon created $PIN2"
second "same pin dir" "$PIN" "$WORK/other.sock" "$PIN|pin|already|in use|running"
[ ! -e "$WORK/other.sock" ] || fail "the refused daemon left a socket"
second "same interface" "$PIN2" "$WORK/other.sock" "$IF_D|interface|attached|not ours"
stop_daemon
echo PASS
