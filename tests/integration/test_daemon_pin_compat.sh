#!/usr/bin/env bash
# Pinned-state compatibility: a restart with a map size that differs from the
# pinned map is refused with a message naming the map (state is never silently
# dropped); --force-reset discards the incompatible map and starts. A pinned
# rl_cfg written by another ABI version is refused the same way.
RL_TEST_NAME=compat
source "$(dirname "$0")/daemon_lib.sh"

make_netns
CFG="$WORK/ratelimit.yaml"
write_cfg() {
    cat >"$CFG" <<YAML
version: 1
rules:
  - name: lab
    sources: [198.18.0.0/29]
    rate: 100/s
tracking:
  capacity_v4: $1
YAML
}
write_cfg 4096
start_daemon "$CFG"
pings $ADDR_S 5 >/dev/null
stop_daemon

write_cfg 8192
rc=0
nsenter --net="/run/netns/$NS_D" "$RLD" --config "$CFG" --interface "$IF_D" --pin-path "$PIN" \
    --socket "$SOCK" >"$WORK/refused.log" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "incompatible pinned map: exit $rc: $(cat "$WORK/refused.log")"
grep -q "rl_state4" "$WORK/refused.log" || fail "message does not name the map: $(cat "$WORK/refused.log")"
grep -q "max_entries 4096 (pinned) != 8192" "$WORK/refused.log" || fail "message lacks the sizes: $(cat "$WORK/refused.log")"
grep -q -- "--force-reset" "$WORK/refused.log" || fail "message lacks the way out"
echo "ok: refused: $(grep -o 'error: .*' "$WORK/refused.log")"

start_daemon "$CFG" --force-reset
[ "$(rlr status | jq '.keys.capacity_v4')" = 8192 ] || fail "capacity after --force-reset"
[ "$(attached_id)" = "$(rlr status | jq -r .prog_id)" ] || fail "not attached after --force-reset"
echo "ok: --force-reset: started with capacity_v4 8192"
stop_daemon

# an rl_cfg from another ABI version (abi_version is the first u32 of the value)
command -v bpftool >/dev/null || skip "bpftool missing for the ABI part"
bpftool map update pinned "$PIN/rl_cfg" key hex 00 00 00 00 value hex $(printf '63 00 00 00'; printf ' 00%.0s' $(seq 1 28))
rc=0
nsenter --net="/run/netns/$NS_D" "$RLD" --config "$CFG" --interface "$IF_D" --pin-path "$PIN" \
    --socket "$SOCK" >"$WORK/abi.log" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "foreign ABI version: exit $rc: $(cat "$WORK/abi.log")"
grep -q "ABI version 99" "$WORK/abi.log" || fail "message lacks the ABI version: $(cat "$WORK/abi.log")"
echo "ok: refused: $(grep -o 'error: .*' "$WORK/abi.log")"
start_daemon "$CFG" --force-reset
[ "$(rlr status | jq .state_reused)" = false ] || fail "ABI reset should start from fresh maps"
echo "ok: --force-reset after an ABI mismatch starts with fresh state"
stop_daemon
echo PASS
