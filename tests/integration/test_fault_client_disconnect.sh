#!/usr/bin/env bash
# Fault: control clients that vanish mid-stream. While one well-behaved
# client holds a stats stream, 30 others subscribe (events, stats, top) and
# then disappear in different ways: SIGKILL at random moments, close right
# after the request, half-close, reset (SO_LINGER 0), never read. The daemon
# stays up, the well-behaved stream keeps delivering, other requests are
# served, and enforcement and counters carry on (a blocked key stays blocked).
RL_TEST_NAME=fault-clients
source "$(dirname "$0")/daemon_lib.sh"

make_netns
write_block_config
start_daemon "$CFG"
r=$(pings $ADDR_S2 20)
[ "$r" -le 10 ] || fail "lab rule: $r/20 replies"
blocked0=$(rlr status | jq .counters.blocked.packets)

# the well-behaved client: a stats stream every 100 ms, one line per data message
python3 - "$SOCK" >"$WORK/good" 2>&1 <<'PY' &
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'{"v":1,"id":1,"cmd":"stats.subscribe","args":{"interval_ms":100}}\n')
f = s.makefile("rb")
for line in f:
    m = json.loads(line)
    print("data" if m.get("stream") and "data" in m else "reply", flush=True)
print("closed", flush=True)
PY
GOOD=$!
EXTRA_CLEANUP+=("kill -9 $GOOD 2>/dev/null")

# one bad client: subscribe, then vanish in manner $2
bad_client() {
    exec python3 - "$SOCK" "$1" "$2" <<'PY'
import socket, struct, sys, time
path, cmd, how = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
s.sendall(('{"v":1,"id":9,"cmd":"%s","args":{"interval_ms":100}}\n' % cmd).encode())
if how == "close":
    s.close()
elif how == "halfclose":
    s.shutdown(socket.SHUT_WR)
    time.sleep(0.3)
    s.close()
elif how == "reset":
    s.recv(10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
elif how == "noread":
    time.sleep(30)   # never reads: killed by the test (or dropped by the daemon)
else:  # "read": read a little, then wait to be killed
    s.recv(100)
    time.sleep(30)
PY
}
cmds=(events.subscribe stats.subscribe top.subscribe)
hows=(close halfclose reset noread read)
pids=()
for i in $(seq 0 29); do
    bad_client "${cmds[$((i % 3))]}" "${hows[$((i % 5))]}" >/dev/null 2>&1 &
    pids+=($!)
    EXTRA_CLEANUP+=("kill -9 $! 2>/dev/null")
    sleep 0.0$((RANDOM % 10))
    # kill an earlier one at a random moment
    if [ $i -ge 3 ]; then kill -9 "${pids[$((RANDOM % i))]}" 2>/dev/null || true; fi
done
for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done 2>/dev/null

kill -0 "$DPID" || fail "daemon died while clients vanished"
before=$(grep -c '^data' "$WORK/good")
sleep 1
after=$(grep -c '^data' "$WORK/good")
! grep -q closed "$WORK/good" || fail "the well-behaved stream was closed"
[ "$after" -gt "$before" ] || fail "the well-behaved stream stalled ($before -> $after data lines)"
ok "30 clients vanished (kill -9, close, half-close, reset, never reading); the good stream goes on ($after lines)"

st=$(rlr status) || fail "status after the churn"
[ "$(jq -r .pid <<<"$st")" = "$DPID" ] || fail "status from another process?"
[ "$(pings $ADDR_S2 5)" -eq 0 ] || fail "blocked source passes after the churn"
blocked=$(rlr status | jq .counters.blocked.packets)
[ "$blocked" -ge $((blocked0 + 5)) ] || fail "blocked counter did not continue: $blocked0 -> $blocked"
conns=$(ls -l "/proc/$DPID/fd" | grep -c socket)
ok "daemon serves, block enforced, counters continue ($blocked0 -> $blocked); $conns sockets open in the daemon"
kill -9 "$GOOD"
wait "$GOOD" 2>/dev/null || [ $? -eq 137 ] || fail "good client ended on its own"
stop_daemon
echo PASS
