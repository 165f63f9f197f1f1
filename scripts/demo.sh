#!/usr/bin/env bash
# The ratelimit demo (`sudo make demo`): a throw-away lab (two network
# namespaces joined by a veth, scripts/lab/lab.sh), ratelimitd with its BUILT-IN
# default configuration (no config file: every source address limited to
# 1000 packets/s with a burst of 2000) attached to the receiving veth, and five
# senders at different rates. Sources over the limit pass everything until their
# burst of 2000 is spent (the flood in 0.1 s, 1500/s after 4 s), then 1000/s. A table refreshes every second with, per source,
# what was offered, what passed and what XDP dropped, plus the daemon's own
# counters. Everything is torn down at the end, on Ctrl-C and on errors.
#
#   sudo make demo                       # 30 s
#   sudo DEMO_SECONDS=10 bash scripts/demo.sh build
#
# Environment: DEMO_SECONDS (default 30), DEMO_STATE (file; if set, the PIDs,
# namespaces and pin directory the demo created are written there, for the test
# that checks nothing is left behind).
# Nothing touches the root namespace's interfaces; the flood is bounded by
# DEMO_SECONDS; pins go to a directory of this run, not /sys/fs/bpf/ratelimit.
set -u -o pipefail

BUILD=$(cd "${1:-build}" && pwd) || exit 1
SRC=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_TOTAL=${DEMO_SECONDS:-30}
PY=/usr/bin/python3
RLD=$BUILD/controller/ratelimitd
RLCTL=$BUILD/controller/ratelimitctl
SENDER=$BUILD/tests/tools/rl_sender
RECEIVER=$BUILD/tests/tools/rl_receiver
PORT=9000

die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root: sudo make demo"
[[ "$SECONDS_TOTAL" =~ ^[0-9]+$ ]] && [ "$SECONDS_TOTAL" -ge 1 ] && [ "$SECONDS_TOTAL" -le 600 ] ||
    die "DEMO_SECONDS must be 1..600"
for b in "$RLD" "$SENDER" "$RECEIVER"; do [ -x "$b" ] || die "$b not built (run make)"; done
[ -x "$PY" ] || die "$PY missing"

# source:rate (packets/s). Built-in default: 1000/s, burst 2000 per source.
SOURCES=(198.18.10.1 198.18.10.2 198.18.10.3 198.18.10.4 198.18.10.5)
RATES=(500 950 1500 3000 20000)
LABELS=("under" "just under" "over" "3x over" "flood")

. "$SRC/scripts/lab/lab.sh"
WORK=$(mktemp -d /tmp/rldemo-$$.XXXX)
RUN_DIR=/run/rldemo-$$
SOCK=$RUN_DIR/ctl.sock
DAEMON_PID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$DAEMON_PID" ] && lab_stop_pid "$DAEMON_PID" 5
    lab_down
    rm -rf -- "$RUN_DIR" "$WORK"
    echo "demo: cleaned up (namespaces, pins, processes)"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

if [ -e /etc/ratelimit/ratelimit.yaml ]; then
    echo "demo: note: /etc/ratelimit/ratelimit.yaml exists and ratelimitd reads it instead of its built-in defaults"
fi

lab_up rldemo "${SOURCES[@]}" || die "lab_up failed"
mkdir -p "$RUN_DIR"
if [ -n "${DEMO_STATE:-}" ]; then
    printf 'netns %s\nnetns %s\npin %s\n' "$LAB_TX_NS" "$LAB_RX_NS" "$LAB_PIN_DIR" >"$DEMO_STATE"
fi
note_pid() { [ -n "${DEMO_STATE:-}" ] && echo "pid $1 $2" >>"$DEMO_STATE"; return 0; }

echo "demo: starting ratelimitd (built-in default configuration) on $LAB_RX_NS/$LAB_RX_IF"
lab_rx_bg "$RLD" --interface "$LAB_RX_IF:native" --pin-path "$LAB_PIN_DIR" --socket "$SOCK" \
    >"$WORK/daemon.log" 2>&1
DAEMON_PID=$LAB_BG_PID
note_pid "$DAEMON_PID" ratelimitd
ctl() { "$PY" "$SRC/tests/integration/lib/rlctl.py" "$SOCK" "$@"; }
for ((i = 0; i < 150; i++)); do
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/daemon.log"; die "ratelimitd exited"; }
    [ -S "$SOCK" ] && ctl status >/dev/null 2>&1 && break
    sleep 0.1
done
ctl status >/dev/null 2>&1 || { cat "$WORK/daemon.log"; die "ratelimitd does not answer on $SOCK"; }
lab_rx ip link show "$LAB_RX_IF" | grep -o 'prog/xdp.*' | sed 's/^/demo: /'

lab_rx_bg "$RECEIVER" --port "$PORT" --out "$WORK" --max-seconds $((SECONDS_TOTAL + 30)) \
    --stats "$WORK/recv.stats" --stats-ms 250 >"$WORK/receiver.log" 2>&1
RECV_PID=$LAB_BG_PID
note_pid "$RECV_PID" rl_receiver
for ((i = 0; i < 50; i++)); do [ -e "$WORK/receiver.ready" ] && break; sleep 0.1; done

flows=()
for i in "${!SOURCES[@]}"; do flows+=(--flow "${SOURCES[$i]}:${RATES[$i]}:$((RATES[i] * SECONDS_TOTAL))"); done
lab_tx_bg "$SENDER" --dst "$LAB_RX_IP" --port "$PORT" --out "$WORK" --max-seconds $((SECONDS_TOTAL + 10)) \
    --stats "$WORK/send.stats" --stats-ms 250 "${flows[@]}" >"$WORK/sender.log" 2>&1
SEND_PID=$LAB_BG_PID
note_pid "$SEND_PID" rl_sender

# One table per second: from the sender's and receiver's live counts and the
# daemon's per-reason counters (control socket `stats`).
show() {  # ELAPSED_S | final
    local elapsed=$1
    ctl stats >"$WORK/ctl.json" 2>/dev/null || echo '{}' >"$WORK/ctl.json"
    "$PY" - "$WORK" "$elapsed" "$SECONDS_TOTAL" "${SOURCES[*]}" "${RATES[*]}" "${LABELS[*]// /_}" <<'EOF'
import json, os, sys
work, elapsed, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
srcs, rates, labels = sys.argv[4].split(), [int(r) for r in sys.argv[5].split()], sys.argv[6].split()
final = elapsed == "final"
def counts(name):
    d, t = {}, 0
    try:
        for line in open(os.path.join(work, name)):
            a, n = line.split()
            if a == "t":
                t = int(n)
            else:
                d[a] = int(n)
    except FileNotFoundError:
        pass
    return d, t
(sent, t_send), (recv, t_recv) = counts("send.stats"), counts("recv.stats")
# The two files are snapshots taken at different instants: bring the sender's
# counts to the receiver's instant at the offered rate (paced, so exact to ~1).
est = {}
for a, r in zip(srcs, rates):
    s = sent.get(a, 0)
    if not final and t_send and t_recv:
        s = int(round(s + r * (t_recv - t_send) / 1e9))
    est[a] = min(max(s, recv.get(a, 0)), r * total)
prev_path = os.path.join(work, "prev.json")
prev = json.load(open(prev_path)) if os.path.exists(prev_path) else {"sent": {}, "recv": {}, "t": 0}
json.dump({"sent": est, "recv": recv, "t": t_recv}, open(prev_path, "w"))
dt = (t_recv - prev["t"]) / 1e9 if prev["t"] and t_recv > prev["t"] else 0
out = []
if sys.stdout.isatty() and not final:
    out.append("\033[H\033[2J")
when = "final" if final else "t=%ds/%ds" % (min(int(elapsed), total), total)
out.append("ratelimit demo  %s  built-in default: 1000 packets/s per source, burst 2000  (Ctrl-C stops)\n" % when)
out.append("%-13s %-11s %8s | %9s %9s | %9s %9s %9s %6s\n" % (
    "source", "", "offered", "pass/s", "drop/s", "sent", "passed", "dropped", "drop%"))
for a, r, l in zip(srcs, rates, labels):
    s, v = est[a], recv.get(a, 0)
    ps, pv = prev["sent"].get(a, 0), prev["recv"].get(a, 0)
    pr = "%9.0f %9.0f" % (max(v - pv, 0) / dt, max((s - v) - (ps - pv), 0) / dt) if dt and not final else "%9s %9s" % ("-", "-")
    out.append("%-13s %-11s %6d/s | %s | %9d %9d %9d %5.1f%%\n" % (
        a, l.replace("_", " "), r, pr, s, v, s - v, 100.0 * (s - v) / s if s else 0))
try:
    res = json.load(open(os.path.join(work, "ctl.json"))).get("result", {})
    for rule in res.get("rules", []):
        reasons = {k: v.get("packets", 0) for k, v in rule.get("reasons", {}).items() if v.get("packets", 0)}
        if reasons:
            out.append("ratelimitd rule %-8s %s\n" % (rule.get("name", rule.get("id")),
                       "  ".join("%s=%d" % kv for kv in sorted(reasons.items()))))
except (ValueError, AttributeError):
    out.append("ratelimitd: stats unavailable\n")
sys.stdout.write("".join(out))
sys.stdout.flush()
EOF
}

start=$(date +%s)
while kill -0 "$SEND_PID" 2>/dev/null; do
    top_pid=
    if [ -x "$RLCTL" ]; then
        # the daemon's own per-source view (sampled top talkers), measured meanwhile
        "$RLCTL" --socket "$SOCK" top --once -n 5 --interval 900ms >"$WORK/top.txt" 2>&1 &
        top_pid=$!
    fi
    sleep 1
    [ -n "$top_pid" ] && wait "$top_pid"
    show $(($(date +%s) - start))
    [ -s "$WORK/top.txt" ] && { echo "ratelimitctl top:"; sed 's/^/  /' "$WORK/top.txt"; }
done
wait "$SEND_PID"
send_rc=$?
sleep 0.3
lab_stop_pid "$RECV_PID" 5
echo
show final
echo "demo: sender: $(tr '\n' ';' <"$WORK/sender.log")"
echo "demo: receiver: $(tr '\n' ' ' <"$WORK/receiver.summary" 2>/dev/null)"
if [ -x "$RLCTL" ]; then
    echo "demo: ratelimitctl stats:"
    "$RLCTL" --socket "$SOCK" stats 2>&1 | head -n 12
fi
[ "$send_rc" -eq 0 ] || die "sender exited with status $send_rc"
echo "demo: done"
