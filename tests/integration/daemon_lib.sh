# Shared setup for tests/integration/test_daemon_*.sh (sourced, not a test).
# Each test gets its own namespaces (sender S, daemon D) joined by a veth in
# 198.18.0.0/29, its own bpffs pin dir and socket, and cleans up on exit.
# The daemon runs in D's network namespace via nsenter --net (unlike
# `ip netns exec`, this keeps the host's /sys/fs/bpf, so pinned state
# survives daemon restarts and is cleaned up by path).
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
RLD="$BUILD/controller/ratelimitd"
CLIENT="$SRC/tests/integration/rl_sock.py"
# the daemon would add an SSH client of the test runner to management.allow
# (management.protect_ssh); tests must not depend on how they are started
unset SSH_CONNECTION

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (netns, XDP, bpffs)"
[ -x "$RLD" ] || skip "$RLD is not built"
command -v jq >/dev/null || skip "jq missing (scripts/setup.sh installs it)"
command -v nsenter >/dev/null || skip "nsenter missing"

TAG="rd$$${RL_TEST_SUFFIX:-}"
NS_S="${TAG}s"
NS_D="${TAG}d"
IF_S="${TAG}a"
IF_D="${TAG}b"
ADDR_S=198.18.0.1
ADDR_S2=198.18.0.3
ADDR_D=198.18.0.2
PIN="/sys/fs/bpf/rltest-$$-${RL_TEST_NAME:-daemon}"
WORK=$(mktemp -d "/tmp/rltest-$$-XXXX")
chmod 755 "$WORK"
SOCK="$WORK/ctl.sock"
LOG="$WORK/daemon.log"
DPID=""
EXTRA_CLEANUP=()

cleanup() {
    local rc=$?
    if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then kill -9 "$DPID" 2>/dev/null || true; fi
    for c in "${EXTRA_CLEANUP[@]}"; do eval "$c" || true; done
    ip netns del "$NS_S" 2>/dev/null || true
    ip netns del "$NS_D" 2>/dev/null || true
    if [ -d "$PIN" ]; then rm -rf "$PIN" || true; fi
    if [ $rc -ne 0 ] && [ -f "$LOG" ]; then echo "--- daemon log"; tail -n 40 "$LOG"; fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

make_netns() {
    ip netns add "$NS_S"
    ip netns add "$NS_D"
    ip link add "$IF_S" netns "$NS_S" type veth peer name "$IF_D" netns "$NS_D"
    ip -n "$NS_S" link set lo up
    ip -n "$NS_D" link set lo up
    ip -n "$NS_S" addr add "$ADDR_S/29" dev "$IF_S"
    ip -n "$NS_S" addr add "$ADDR_S2/29" dev "$IF_S"
    ip -n "$NS_D" addr add "$ADDR_D/29" dev "$IF_D"
    ip -n "$NS_S" link set "$IF_S" up
    ip -n "$NS_D" link set "$IF_D" up
}

# start_daemon CONFIG [extra args...]: runs ratelimitd in NS_D, waits for the socket.
# The lab rule of the fault tests: source $ADDR_S2 limited to 2/s, burst 2,
# and blocked for 10 minutes once it exceeds; everything else allowed.
# Writes $CFG.
write_block_config() {
    CFG="$WORK/ratelimit.yaml"
    cat >"$CFG" <<YAML
version: 1
defaults:
  action: allow
rules:
  - name: lab
    sources: [$ADDR_S2/32]
    rate: 2/s
    burst: 2
    on_exceed: block
    block_for: 10m
YAML
}

# jail_lab_yaml: a config whose default allows, a "jail" rule that blocks
# ADDR_S2 for 10m past 2/s burst 2, and a "lab" rule of 1000/s for ADDR_S (the
# fault tests that put a source in the penalty box and keep one passing).
jail_lab_yaml() {
    cat <<YAML
version: 1
defaults:
  action: allow
rules:
  - name: jail
    sources: [$ADDR_S2/32]
    rate: 2/s
    burst: 2
    on_exceed: block
    block_for: 10m
  - name: lab
    sources: [$ADDR_S/32]
    rate: 1000/s
YAML
}

start_daemon() {
    local cfg=$1
    shift
    rm -f "$SOCK"
    nsenter --net="/run/netns/$NS_D" "$RLD" --config "$cfg" --interface "$IF_D" --pin-path "$PIN" \
        --socket "$SOCK" "$@" >>"$LOG" 2>&1 &
    DPID=$!
    for _ in $(seq 1 100); do
        if [ -S "$SOCK" ] && python3 "$CLIENT" "$SOCK" status >/dev/null 2>&1; then return 0; fi
        kill -0 "$DPID" 2>/dev/null || fail "daemon exited during start-up"
        sleep 0.1
    done
    fail "daemon did not open $SOCK within 10 s"
}

stop_daemon() {
    [ -n "$DPID" ] || return 0
    kill -TERM "$DPID"
    wait "$DPID" || fail "daemon exited with $? on SIGTERM"
    DPID=""
}

# rl CMD [ARGS_JSON] [--stream N]: one request; prints the response line(s).
rl() { python3 "$CLIENT" "$SOCK" "$@"; }
# rlr CMD [ARGS_JSON]: the result object of a successful request.
rlr() {
    local out
    out=$(rl "$@") || fail "request $1 failed: $out"
    jq -c .result <<<"$out"
}

# attached_id: XDP program id on IF_D, or "none".
attached_id() { ip -n "$NS_D" -j link show "$IF_D" | jq -r '.[0].xdp.prog.id // "none"'; }

# pings FROM COUNT: echo requests at 2 ms spacing (bounded), prints replies received.
# (ping exits 1 when some replies are missing: expected here; 2 is an error)
pings() {
    local from=$1 count=$2 out rc=0
    out=$(ip netns exec "$NS_S" ping -I "$from" -c "$count" -i 0.002 -W 1 -q "$ADDR_D" 2>&1) || rc=$?
    [ $rc -le 1 ] || fail "ping failed ($rc): $out"
    sed -n 's/.* \([0-9]\+\) received.*/\1/p' <<<"$out"
}
