#!/usr/bin/env bash
# Least privilege. (1) Control socket: mode 0660 by default, so a local user
# who is neither root nor in the control group cannot even connect (EACCES);
# with a world-connectable socket such a user may read (status, rules.list,
# stats, acl.list, keys.show, top) and every mutating command is refused with
# EPERM and changes nothing (SO_PEERCRED). The user is created here and removed
# on exit. (2) Capabilities: the daemon (uid 0) started with only CAP_BPF,
# CAP_NET_ADMIN and CAP_PERFMON in its bounding set loads, pins, attaches,
# enforces, reloads and restarts; without any one of the three it fails at
# start with a clear error. (3) After start it keeps only what it needs at run
# time (CapEff/CapPrm/CapBnd of the running daemon) and still reloads,
# attaches and detaches.
RL_TEST_NAME=privs
source "$(dirname "$0")/daemon_lib.sh"
command -v useradd >/dev/null || skip "useradd missing"
command -v runuser >/dev/null || skip "runuser missing"
command -v setpriv >/dev/null || skip "setpriv missing"
command -v capsh >/dev/null || skip "capsh missing (libcap2-bin, scripts/setup.sh)"

USER_X="rltp$$"
useradd -r -M -N -s /usr/sbin/nologin "$USER_X"
EXTRA_CLEANUP=("userdel $USER_X" "${EXTRA_CLEANUP[@]}")

make_netns
write_block_config
as_user() { runuser -u "$USER_X" -- python3 "$CLIENT" "$SOCK" "$@"; }

# --- (1) socket permissions and peer credentials
start_daemon "$CFG"
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "socket mode $(stat -c %a "$SOCK"), want 660"
out=$(as_user status 2>&1) && fail "$USER_X connected to a 0660 root socket: $out"
grep -q "PermissionError" <<<"$out" || fail "want EACCES for $USER_X: $out"
ok "default socket 0660 $(stat -c %U:%G "$SOCK"): $USER_X cannot connect (EACCES)"
stop_daemon

start_daemon "$CFG" --socket-mode 0666
r=$(pings $ADDR_S2 20)
[ "$r" -le 10 ] || fail "lab rule: $r/20 replies"
gen=$(rlr status | jq .generation)
for req in status rules.list stats acl.list "keys.show {\"ip\":\"$ADDR_S2\"}" top; do
    # shellcheck disable=SC2086
    out=$(as_user $req) || fail "$USER_X: $req refused: $out"
done
ok "$USER_X may read: status rules.list stats acl.list keys.show top"
declare -A MUT=(
    [reload]='{}'
    [rules.add]='{"rule":{"name":"x","sources":["198.18.0.4/32"],"rate":"1/s"}}'
    [rules.delete]='{"name":"lab"}'
    [acl.add]='{"list":"allow","cidr":"198.18.0.3/32"}'
    [acl.remove]='{"list":"deny","cidr":"198.18.0.5/32"}'
    [attach]="{\"interface\":\"$IF_D\"}"
    [detach]='{"all":true}'
)
for cmd in "${!MUT[@]}"; do
    out=$(as_user "$cmd" "${MUT[$cmd]}") && fail "$USER_X: $cmd allowed: $out"
    [ "$(jq -r .error.code <<<"$out")" = EPERM ] || fail "$USER_X: $cmd: want EPERM: $out"
done
st=$(rlr status)
[ "$(jq .generation <<<"$st")" = "$gen" ] || fail "a refused command changed the generation"
[ "$(attached_id)" = "$(jq -r .prog_id <<<"$st")" ] || fail "a refused detach detached"
[ -d "$PIN" ] || fail "a refused detach all unpinned"
[ "$(pings $ADDR_S2 5)" -eq 0 ] || fail "a refused acl.add let the blocked source through"
ok "$USER_X gets EPERM for ${!MUT[*]}; nothing changed, block still enforced"
stop_daemon

# --- (2) capabilities at start: minimal bounding set, and each one missing
# caps_daemon CAPS [args...]: start the daemon (uid 0) with only CAPS in its bounding set.
caps_daemon() {
    local caps=$1
    shift
    rm -f "$SOCK"
    nsenter --net="/run/netns/$NS_D" setpriv --bounding-set="-all,$caps" --inh-caps=-all -- \
        "$RLD" --config "$CFG" --interface "$IF_D" --pin-path "$PIN" --socket "$SOCK" "$@" >>"$LOG" 2>&1 &
    DPID=$!
}
wait_up() {
    for _ in $(seq 1 100); do
        [ -S "$SOCK" ] && rl status >/dev/null 2>&1 && return 0
        kill -0 "$DPID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
MIN="+bpf,+net_admin,+perfmon"
start_daemon "$CFG"
rlr detach '{"all":true}' >/dev/null
stop_daemon
[ "$(attached_id)" = none ] || fail "detach all left a program"
for missing in bpf net_admin perfmon; do
    caps=$(tr ',' '\n' <<<"$MIN" | grep -v "+$missing" | paste -sd,)
    mark=$(wc -l <"$LOG")
    caps_daemon "$caps"
    if wait_up; then fail "started without CAP_${missing^^}"; fi
    rc=0
    wait "$DPID" || rc=$?
    DPID=""
    [ $rc -eq 1 ] || fail "without CAP_${missing^^}: exit $rc"
    msg=$(tail -n +"$((mark + 1))" "$LOG" | grep -m1 "error:" || true)
    [ -n "$msg" ] || fail "without CAP_${missing^^}: no error message: $(tail -n +"$((mark + 1))" "$LOG")"
    [ "$(attached_id)" = none ] || fail "without CAP_${missing^^}: something got attached"
    ok "without CAP_${missing^^} (bounding set $caps): refused at start: ${msg:0:200}"
done

# mounting a missing bpffs needs CAP_SYS_ADMIN (private mount namespace, bpffs unmounted)
for caps in "$MIN" "$MIN,+sys_admin"; do
    rm -f "$SOCK"
    mark=$(wc -l <"$LOG")
    (exec unshare --mount --propagation private -- bash -c '
        while mountpoint -q /sys/fs/bpf; do umount /sys/fs/bpf || exit 90; done
        exec "$@"' mntns nsenter --net="/run/netns/$NS_D" setpriv --bounding-set="-all,$caps" --inh-caps=-all -- \
        "$RLD" --config "$CFG" --interface "$IF_D" --pin-path "/sys/fs/bpf/rltest-$$-privmnt" --socket "$SOCK") \
        >>"$LOG" 2>&1 &
    DPID=$!
    if [ "$caps" = "$MIN" ]; then
        if wait_up; then fail "mounted bpffs without CAP_SYS_ADMIN"; fi
        rc=0
        wait "$DPID" || rc=$?
        DPID=""
        msg=$(tail -n +"$((mark + 1))" "$LOG" | grep -m1 "error:")
        grep -q "mount bpffs" <<<"$msg" || fail "no bpffs, no CAP_SYS_ADMIN: unclear failure (exit $rc): $msg"
        ok "no bpffs mounted and no CAP_SYS_ADMIN: refused: $msg"
    else
        wait_up || fail "no bpffs, with CAP_SYS_ADMIN: did not start: $(tail -n +"$((mark + 1))" "$LOG")"
        ok "no bpffs mounted, with CAP_SYS_ADMIN: mounted it and started"
        rlr detach '{"all":true}' >/dev/null
        stop_daemon
    fi
done

mark=$(wc -l <"$LOG")
caps_daemon "$MIN"
wait_up || fail "did not start with $MIN: $(tail -n +"$((mark + 1))" "$LOG")"
st=$(rlr status)
[ "$(attached_id)" = "$(jq -r .prog_id <<<"$st")" ] || fail "minimal caps: not attached"
r=$(pings $ADDR_S2 20)
[ "$r" -le 10 ] || fail "minimal caps: not enforcing ($r/20)"
rlr reload >/dev/null
ok "bounding set {CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON}: starts, attaches, enforces ($r/20), reloads"

# --- (3) what the running daemon keeps
caps_of() { grep "^$1:" "/proc/$DPID/status" | awk '{print $2}'; }
decode() { capsh --decode="$1" | sed 's/.*=//'; }
eff=$(caps_of CapEff) prm=$(caps_of CapPrm) bnd=$(caps_of CapBnd)
echo "running daemon: CapEff $(decode "$eff") | CapPrm $(decode "$prm") | CapBnd $(decode "$bnd")"
for c in cap_perfmon cap_sys_admin cap_chown cap_dac_override cap_sys_resource; do
    ! decode "$prm" | tr ',' '\n' | grep -qx "$c" || fail "running daemon still holds $c (CapPrm $(decode "$prm"))"
done
for c in cap_bpf cap_net_admin; do
    decode "$eff" | tr ',' '\n' | grep -qx "$c" || fail "running daemon lacks $c (CapEff $(decode "$eff"))"
done
ok "running daemon keeps $(decode "$eff") only"
rlr reload >/dev/null
rlr acl.add '{"list":"deny","cidr":"198.18.0.5/32"}' >/dev/null
rlr detach "{\"interface\":\"$IF_D\"}" >/dev/null
[ "$(attached_id)" = none ] || fail "detach after the drop"
rlr attach "{\"interface\":\"$IF_D\"}" >/dev/null
[ "$(attached_id)" = "$(rlr status | jq -r .prog_id)" ] || fail "attach after the drop"
[ "$(pings $ADDR_S2 5)" -eq 0 ] || fail "block not enforced after detach/attach"
ok "with the reduced set: reload, acl.add, detach, attach work; block still enforced"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null || true
DPID=""
caps_daemon "$MIN"
wait_up || fail "restart with minimal caps after kill -9 failed: $(tail -5 "$LOG")"
[ "$(rlr status | jq '.interfaces[0].adopted')" = true ] || fail "restart did not adopt"
ok "kill -9 and restart under the minimal set: adopted"
stop_daemon
echo PASS
