#!/usr/bin/env bash
# Fault: bpffs not mounted. Inside a fresh mount namespace (private
# propagation, so nothing reaches the host) /sys/fs/bpf is unmounted; the
# daemon must mount it itself and run (pins created, program attached,
# enforcing), and a pin path outside any bpffs must be refused clearly.
RL_TEST_NAME=fault-nobpffs
source "$(dirname "$0")/daemon_lib.sh"
command -v unshare >/dev/null || skip "unshare missing"
command -v mountpoint >/dev/null || skip "mountpoint missing"

make_netns
CFG="$WORK/ratelimit.yaml"
cat >"$CFG" <<YAML
version: 1
defaults:
  action: allow
rules:
  - name: lab
    sources: [$ADDR_S/32]
    rate: 5/s
    burst: 5
YAML

# in_fresh_mntns CMD...: runs CMD in a new private mount namespace where
# /sys/fs/bpf is not mounted. Every step execs, so when started with `&` the
# job's PID ($!) is the daemon's own PID (kill by PID works).
in_fresh_mntns() {
    exec unshare --mount --propagation private -- bash -c '
        while mountpoint -q /sys/fs/bpf; do umount /sys/fs/bpf || exit 90; done
        [ "$(stat -f -c %T /sys/fs/bpf)" != bpf_fs ] || exit 91
        exec "$@"' in_fresh_mntns "$@"
}

# 1. the pin path is under /sys/fs/bpf: the daemon mounts bpffs
rm -f "$SOCK"
in_fresh_mntns nsenter --net="/run/netns/$NS_D" "$RLD" --config "$CFG" --interface "$IF_D" \
    --pin-path "$PIN" --socket "$SOCK" >>"$LOG" 2>&1 &
DPID=$!
for _ in $(seq 1 50); do   # the exec chain unshare -> bash -> nsenter -> ratelimitd keeps the PID
    [ "$(readlink "/proc/$DPID/exe" 2>/dev/null)" = "$(readlink -f "$RLD")" ] && break
    sleep 0.1
done
[ "$(readlink "/proc/$DPID/exe" 2>/dev/null)" = "$(readlink -f "$RLD")" ] || fail "PID $DPID is not the daemon"
for _ in $(seq 1 100); do
    [ -S "$SOCK" ] && rl status >/dev/null 2>&1 && break
    kill -0 "$DPID" 2>/dev/null || fail "daemon exited without bpffs: $(cat "$LOG")"
    sleep 0.1
done
grep -q "mounted bpffs at /sys/fs/bpf" "$LOG" || fail "daemon did not say it mounted bpffs"
[ ! -e "$PIN" ] || fail "pins leaked into the host's bpffs: $PIN"
# the daemon's own view: pins on a bpffs in its mount namespace
nsenter --mount="/proc/$DPID/ns/mnt" stat -f -c %T /sys/fs/bpf | grep -q bpf_fs || fail "no bpffs in the daemon's namespace"
ls_out=$(nsenter --mount="/proc/$DPID/ns/mnt" ls "$PIN" 2>&1) || true
grep -qx rl_state4 <<<"$ls_out" || fail "rl_state4 not pinned in the daemon's bpffs: $ls_out"
prog=$(rlr status | jq -r .prog_id)
[ "$(attached_id)" = "$prog" ] || fail "not attached"
pings $ADDR_S2 3 >/dev/null   # resolve the neighbour first (another, unlimited source)
r=$(pings $ADDR_S 50)
{ [ "$r" -ge 5 ] && [ "$r" -le 25 ]; } || fail "5/s burst 5 not enforced: $r/50"
ok "bpffs missing: daemon mounted it (own mount namespace), pinned its maps, enforces ($r/50 replies)"
stop_daemon

# 2. a pin path on no bpffs at all: refused, naming the path
rc=0
(in_fresh_mntns nsenter --net="/run/netns/$NS_D" "$RLD" --config "$CFG" --interface "$IF_D" \
    --pin-path "$WORK/notbpf" --socket "$SOCK") >"$WORK/notbpf.log" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "pin path on tmpfs/ext4: exit $rc: $(cat "$WORK/notbpf.log")"
grep -q "$WORK/notbpf is not on a bpffs" "$WORK/notbpf.log" || fail "unclear refusal: $(cat "$WORK/notbpf.log")"
ok "pin path outside bpffs refused: $(grep -m1 -o 'error: .*' "$WORK/notbpf.log")"
echo PASS
