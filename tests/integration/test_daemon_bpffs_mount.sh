#!/usr/bin/env bash
# With no bpffs at /sys/fs/bpf the daemon mounts one and pins there. Runs in a
# private mount namespace (unshare -m) in which /sys/fs/bpf is unmounted, so
# the host's bpffs is never touched; the private bpffs dies with it.
RL_TEST_NAME=mount
source "$(dirname "$0")/daemon_lib.sh"
command -v unshare >/dev/null || skip "unshare missing"

make_netns
CFG="$WORK/ratelimit.yaml"
printf 'version: 1\nrules:\n  - name: lab\n    sources: [198.18.0.0/29]\n    rate: 100/s\n' >"$CFG"
PRIV_PIN="/sys/fs/bpf/rltest-$$-private"

cat >"$WORK/inner.sh" <<INNER
set -eu
while grep -q ' /sys/fs/bpf ' /proc/self/mounts; do umount /sys/fs/bpf; done
if grep -q ' /sys/fs/bpf ' /proc/self/mounts; then echo "still mounted"; exit 2; fi
nsenter --net=/run/netns/$NS_D "$RLD" --config "$CFG" --interface "$IF_D" --pin-path "$PRIV_PIN" \
    --socket "$SOCK" >>"$LOG" 2>&1 &
echo \$! >"$WORK/inner.pid"
for i in \$(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
python3 "$CLIENT" "$SOCK" status >"$WORK/status.json"
grep ' /sys/fs/bpf ' /proc/self/mounts >"$WORK/mounts"
ls "$PRIV_PIN" >"$WORK/pins"
kill -TERM \$(cat "$WORK/inner.pid")
wait \$(cat "$WORK/inner.pid")
INNER
unshare -m --propagation private bash "$WORK/inner.sh" || fail "inner run failed"
grep -q "mounted bpffs at /sys/fs/bpf" "$LOG" || fail "daemon did not log the mount"
grep -q "bpf" "$WORK/mounts" || fail "no bpffs at /sys/fs/bpf inside the namespace: $(cat "$WORK/mounts")"
grep -qx rl_state4 "$WORK/pins" || fail "maps not pinned in the private bpffs: $(cat "$WORK/pins")"
grep -qx prog "$WORK/pins" || fail "program not pinned: $(cat "$WORK/pins")"
[ "$(jq '.result.interfaces[0].attached' "$WORK/status.json")" = true ] || fail "not attached: $(cat "$WORK/status.json")"
[ ! -e "$PRIV_PIN" ] || fail "the private pin dir leaked into the host bpffs"
echo "ok: bpffs mounted by the daemon; $(wc -l <"$WORK/pins") objects pinned under $PRIV_PIN in the private mount"
echo PASS
