#!/usr/bin/env bash
# sd_notify protocol, observed on a NOTIFY_SOCKET this test binds:
# READY=1 only after the program is attached, RELOADING=1 + MONOTONIC_USEC
# then READY=1 around reloads (SIGHUP and the reload command), WATCHDOG=1
# when WATCHDOG_USEC is set, STOPPING=1 on SIGTERM.
RL_TEST_NAME=notify
source "$(dirname "$0")/daemon_lib.sh"

make_netns
CFG="$WORK/ratelimit.yaml"
printf 'version: 1\nrules:\n  - name: lab\n    sources: [198.18.0.0/29]\n    rate: 100/s\n' >"$CFG"

NOTIFY="$WORK/notify.sock"
python3 - "$NOTIFY" "$WORK/notes" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg.replace("\n", "|") + "\n")
PY
LISTENER=$!
EXTRA_CLEANUP+=("kill $LISTENER")
for _ in $(seq 1 50); do [ -S "$NOTIFY" ] && break; sleep 0.1; done
[ -S "$NOTIFY" ] || fail "notify listener did not start"

wait_note() { # wait_note REGEX [min count]
    local n=${2:-1}
    for _ in $(seq 1 100); do
        [ "$(grep -Ec "$1" "$WORK/notes" 2>/dev/null)" -ge "$n" ] && return 0
        sleep 0.1
    done
    fail "no notification matching '$1' (x$n): $(cat "$WORK/notes" 2>/dev/null)"
}

NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=400000 start_daemon "$CFG"
wait_note '(^|\|)READY=1'
[ "$(attached_id)" != none ] || fail "READY=1 sent but nothing attached"
first=$(grep -En 'READY=1' "$WORK/notes" | head -1 | cut -d: -f1)
! head -n "$first" "$WORK/notes" | grep -q RELOADING || fail "RELOADING before READY"
grep -q 'STATUS=' "$WORK/notes" || fail "no STATUS= line"
echo "ok: READY=1 after attach; $(grep -o 'STATUS=[^|]*' "$WORK/notes" | tail -1)"

wait_note '^WATCHDOG=1' 3
echo "ok: WATCHDOG=1 x$(grep -c '^WATCHDOG=1' "$WORK/notes") at WATCHDOG_USEC/2"

kill -HUP "$DPID"
wait_note 'RELOADING=1\|MONOTONIC_USEC=[0-9]+'
wait_note '(^|\|)READY=1' 2
rlr reload >/dev/null
wait_note 'RELOADING=1\|MONOTONIC_USEC=[0-9]+' 2
wait_note '(^|\|)READY=1' 3
echo "ok: RELOADING=1 + MONOTONIC_USEC, then READY=1, for SIGHUP and the reload command"

stop_daemon
wait_note '^STOPPING=1'
[ "$(attached_id)" != none ] || fail "SIGTERM detached the program"
echo "ok: STOPPING=1 on SIGTERM, program left attached"
echo PASS
