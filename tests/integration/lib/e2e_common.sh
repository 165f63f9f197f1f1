# shellcheck shell=bash
# Shared by tests/integration/test_e2e_*.sh: the lab (scripts/lab/lab.sh), the
# real ratelimitd started in the receiver namespace with a YAML config, paced
# traffic (rl_sender / rl_receiver) and the checks (e2e_replay.py, pinned_stats.py).
#
#   e2e_init BUILD_DIR SOURCE_DIR      # skip (77) without root; fail without binaries
#   lab_up ...                         # from lab.sh
#   e2e_write_config FILE <<EOF ...    # common header (pins, socket, metrics off) + body
#   e2e_start_daemon CONFIG            # waits for the control socket and the XDP attach
#   e2e_traffic OUTDIR FLOW...         # receiver + sender, one phase
#   e2e_fail MESSAGE                   # prints and exits 1
# Everything started is tracked and torn down by the EXIT trap set in e2e_init.

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_PY=/usr/bin/python3
E2E_PORT=9000
E2E_DAEMON_PID=
# the daemon would add an SSH client of the test runner to management.allow
# (management.protect_ssh); tests must not depend on how they are started
unset SSH_CONNECTION

e2e_log() { echo "[$(date +%T.%3N)] $*"; }
e2e_fail() {
    echo "FAIL: $*" >&2
    [ -n "${E2E_DAEMON_LOG:-}" ] && [ -s "$E2E_DAEMON_LOG" ] && { echo "--- daemon log (last 40 lines)" >&2; tail -n 40 "$E2E_DAEMON_LOG" >&2; }
    exit 1
}
e2e_skip() { echo "SKIP: $*"; exit 77; }

e2e_cleanup() {
    local rc=$?
    lab_down
    [ -n "${E2E_RUN_DIR:-}" ] && rm -rf -- "$E2E_RUN_DIR"
    if [ -n "${E2E_WORK:-}" ]; then
        if [ "$rc" -eq 0 ] && [ -z "${E2E_KEEP:-}" ]; then rm -rf -- "$E2E_WORK"; else echo "e2e: artifacts kept in $E2E_WORK"; fi
    fi
    exit "$rc"
}

# e2e_init BUILD_DIR SOURCE_DIR
e2e_init() {
    E2E_BUILD=$(cd "${1:?build dir}" && pwd)
    E2E_SRC=$(cd "${2:?source dir}" && pwd)
    [ "$(id -u)" -eq 0 ] || e2e_skip "needs root (network namespaces, XDP)"
    # shellcheck source=../../../scripts/lab/lab.sh
    . "$E2E_SRC/scripts/lab/lab.sh"
    RLD=$E2E_BUILD/controller/ratelimitd
    SENDER=$E2E_BUILD/tests/tools/rl_sender
    RECEIVER=$E2E_BUILD/tests/tools/rl_receiver
    [ -x "$SENDER" ] && [ -x "$RECEIVER" ] || e2e_fail "lab tools not built ($SENDER, $RECEIVER)"
    [ -x "$RLD" ] || e2e_fail "missing feature: the daemon binary $RLD is not built (controller/ratelimitd.cpp absent?)"
    command -v bpftool >/dev/null || e2e_fail "bpftool not installed (scripts/setup.sh installs it)"
    [ -x "$E2E_PY" ] || e2e_fail "$E2E_PY missing"
    E2E_WORK=$(mktemp -d /tmp/rle2e-$$.XXXX)
    E2E_RUN_DIR=/run/rltest-$$-$RANDOM   # control socket
    mkdir -p "$E2E_RUN_DIR"
    E2E_SOCK=$E2E_RUN_DIR/ctl.sock
    E2E_DAEMON_LOG=$E2E_WORK/daemon.log
    trap e2e_cleanup EXIT
    trap 'exit 130' INT TERM
}

# Clock probes (see xdp_clock.py): one packet each from fresh keys of rule
# "probe", which e2e_write_config appends to every config's rules list.
E2E_PROBES=()
for ((_i = 1; _i <= 24; _i++)); do E2E_PROBES+=("198.18.7.$_i"); done
E2E_CLOCK=after

# e2e_probe_flows SPAN_MS: flows for the probes, spread over SPAN_MS (one packet each).
e2e_probe_flows() {
    local span=${1:-2000} i
    for i in "${!E2E_PROBES[@]}"; do
        echo "${E2E_PROBES[$i]}:1000:1:$((span * i / ${#E2E_PROBES[@]}))"
    done
}

# e2e_calibrate OUTDIR: measures XDP time - sender's t_before on the probes of
# that phase; sets E2E_CLOCK=offset:<median ns> for e2e_replay.py.
e2e_calibrate() {
    local id res
    id=$("$E2E_PY" -c "import sys; sys.path.insert(0, '$E2E_LIB_DIR'); import pinned_stats as p
n = {v: k for k, v in p.rule_names('$LAB_PIN_DIR').items()}; print(n.get('probe', ''))")
    [ -n "$id" ] || e2e_fail "rule 'probe' not found in the pinned rl_rulemeta (rule names)"
    res=$("$E2E_PY" "$E2E_LIB_DIR/xdp_clock.py" "$LAB_PIN_DIR" "$1" "$id" 1000000 "${E2E_PROBES[@]}") ||
        e2e_fail "clock calibration failed: $res"
    echo "$res" >"$1/xdp_clock.json"
    E2E_CLOCK=offset:$("$E2E_PY" -c 'import json,sys; print(json.loads(sys.argv[1])["offset_ns"])' "$res")
    "$E2E_PY" -c 'import json,sys; r=json.loads(sys.argv[1]); print("XDP clock vs sender: %d probes, xdp - t_before: min %d p10 %d median %d p90 %d max %d ns; %d after sendto returned, %d before it started" % (r["n"], r["min"], r["p10"], r["offset_ns"], r["p90"], r["max"], r["after_t1"], r["before_t0"]))' "$res"
}

# e2e_write_config FILE: the common header, then stdin (rules etc.; must end
# inside the rules: list), then the clock-probe rule.
e2e_write_config() {
    {
        cat <<EOF
version: 1
interfaces:
  - name: $LAB_RX_IF
    mode: native
pin_path: $LAB_PIN_DIR
control:
  socket: $E2E_SOCK
metrics:
  listen: "off"
log_level: debug
EOF
        cat
        cat <<EOF
  - name: probe
    sources: [198.18.7.0/24]
    algorithm: token_bucket
    rate: 1000/s
    burst: 50
EOF
    } >"$1"
}

e2e_ctl() { "$E2E_PY" "$E2E_LIB_DIR/rlctl.py" "$E2E_SOCK" "$@"; }

# Prints the id of the XDP program attached to the lab's receiving veth (empty if none).
e2e_xdp_prog_id() {
    lab_rx ip -j link show "$LAB_RX_IF" | "$E2E_PY" -c '
import json, sys
l = json.load(sys.stdin)[0]
x = l.get("xdp") or {}
p = x.get("prog") or {}
if p.get("id"): print(p["id"])
else:
    for a in x.get("attached", []):
        if a.get("prog", {}).get("id"): print(a["prog"]["id"]); break
'
}

# e2e_start_daemon CONFIG: starts ratelimitd in the receiver namespace (append
# to the log), waits until its control socket answers and the program is attached.
e2e_start_daemon() {
    local cfg=$1 i
    echo "=== ratelimitd --config $cfg ($(date +%T))" >>"$E2E_DAEMON_LOG"
    lab_rx_bg "$RLD" --config "$cfg" >>"$E2E_DAEMON_LOG" 2>&1
    E2E_DAEMON_PID=$LAB_BG_PID
    for ((i = 0; i < 150; i++)); do
        kill -0 "$E2E_DAEMON_PID" 2>/dev/null || { wait "$E2E_DAEMON_PID"; e2e_fail "ratelimitd exited during start-up (status $?)"; }
        if [ -S "$E2E_SOCK" ] && e2e_ctl status >/dev/null 2>&1 && [ -n "$(e2e_xdp_prog_id)" ]; then
            e2e_log "ratelimitd pid $E2E_DAEMON_PID up, XDP prog $(e2e_xdp_prog_id) on $LAB_RX_NS/$LAB_RX_IF," \
                "mode $(e2e_ctl status | "$E2E_PY" -c 'import json,sys; print(",".join(i.get("mode","?") for i in json.load(sys.stdin)["result"].get("interfaces",[])))')"
            return 0
        fi
        sleep 0.1
    done
    [ -S "$E2E_SOCK" ] || e2e_fail "ratelimitd did not create its control socket $E2E_SOCK within 15 s"
    e2e_ctl status >/dev/null 2>&1 || e2e_fail "ratelimitd does not answer 'status' on $E2E_SOCK"
    e2e_fail "ratelimitd did not attach an XDP program to $LAB_RX_IF within 15 s"
}

# e2e_stop_daemon [SIGNAL]: TERM (default, expects exit 0) or KILL.
e2e_stop_daemon() {
    local sig=${1:-TERM} rc
    [ -n "$E2E_DAEMON_PID" ] || return 0
    kill -"$sig" "$E2E_DAEMON_PID"
    { wait "$E2E_DAEMON_PID"; } 2>/dev/null   # no "Killed" job notice
    rc=$?
    E2E_DAEMON_PID=
    if [ "$sig" = TERM ] && [ "$rc" -ne 0 ]; then e2e_fail "ratelimitd exited with status $rc on SIGTERM"; fi
    return 0
}

# e2e_traffic OUTDIR FLOW...: one phase of traffic. FLOW = SRC:PPS:COUNT[:START_MS].
e2e_traffic() {
    local out=$1 i rpid rc
    shift
    mkdir -p "$out"
    lab_rx_bg "$RECEIVER" --port "$E2E_PORT" --out "$out" --max-seconds 120 >"$out/receiver.log" 2>&1
    rpid=$LAB_BG_PID
    for ((i = 0; i < 50; i++)); do [ -e "$out/receiver.ready" ] && break; sleep 0.1; done
    [ -e "$out/receiver.ready" ] || e2e_fail "receiver did not start"
    local args=()
    for f in "$@"; do args+=(--flow "$f"); done
    lab_tx "$SENDER" --dst "$LAB_RX_IP" --port "$E2E_PORT" --out "$out" --max-seconds 60 "${args[@]}" \
        >"$out/sender.log" 2>&1
    rc=$?
    grep -v "^rl_sender: 198\.18\.7\." "$out/sender.log"   # probes: see e2e_calibrate
    [ "$rc" -eq 0 ] || e2e_fail "sender failed (status $rc)"
    grep -q ' errors [1-9]' "$out/sender.log" && e2e_fail "sendto errors (see above)"
    sleep 0.3   # let the last packets reach the socket
    kill -TERM "$rpid"
    wait "$rpid" || e2e_fail "receiver failed"
}

# e2e_stats: per-rule counters from the pinned rl_stats map (JSON).
e2e_stats() { "$E2E_PY" "$E2E_LIB_DIR/pinned_stats.py" "$LAB_PIN_DIR" stats; }

# e2e_count_sent OUTDIR SRC...: packets sent by these sources in this phase.
e2e_count_sent() {
    local out=$1 n=0 s
    shift
    for s in "$@"; do
        [ -f "$out/$s.send" ] && n=$((n + $(wc -l <"$out/$s.send")))
    done
    echo "$n"
}

# e2e_count_arrived OUTDIR SRC...: packets of these sources that reached the receiver.
e2e_count_arrived() {
    local out=$1 n=0 s
    shift
    for s in "$@"; do
        [ -f "$out/$s.recv" ] && n=$((n + $(wc -l <"$out/$s.recv")))
    done
    echo "$n"
}

# e2e_check_counters BEFORE_JSON OUTDIR RULE=SRC,SRC... ...: the pinned counters
# of each rule grew by the packets its sources sent in OUTDIR; pass by those that arrived.
e2e_check_counters() {
    local before=$1 out=$2 spec rule srcs args=()
    shift 2
    for spec in "$@"; do
        rule=${spec%%=*}
        IFS=, read -r -a srcs <<<"${spec#*=}"
        args+=("$rule:$(e2e_count_sent "$out" "${srcs[@]}"):$(e2e_count_arrived "$out" "${srcs[@]}")")
    done
    "$E2E_PY" "$E2E_LIB_DIR/pinned_stats.py" "$LAB_PIN_DIR" check "$before" "${args[@]}"
}
