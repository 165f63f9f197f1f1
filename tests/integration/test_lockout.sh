#!/usr/bin/env bash
# Lock-out safety (docs/config.md "Management allowlist"): the real ratelimitd,
# started with SSH_CONNECTION naming the lab's sender address 198.18.0.1 as an
# SSH client, and a config that denies everything (default rule deny, plus a
# deny rule over 198.18.0.0/16):
# Before the daemon starts, a TCP connection from 198.18.3.2 to port 22 of the
# receiver namespace is established and held (a stand-in sshd and client): the
# daemon must find it in /proc/net/tcp and protect that client too.
#   0. the same config with management.protect_ssh: false does not start
#      without --force-lockout (exit 1, message naming the client);
#   1. traffic from the SSH client all arrives, counted by rule "management"
#      (reason allow); traffic from 198.18.3.1 arrives not at all (rule deny-lab);
#      traffic from the TCP session's client 198.18.3.2 all arrives;
#   2. a reload to protect_ssh: false is refused (EINVAL naming the client and
#      --force): reloads.failed +1, generation unchanged, the client still passes;
#   3. `ratelimitctl reload --force` applies it: the client is now denied;
#   4. a reload back to protect_ssh: true is accepted and the client passes again.
#
# Usage: test_lockout.sh BUILD_DIR SOURCE_DIR
set -u -o pipefail
. "$(dirname "$0")/lib/e2e_common.sh"
e2e_init "${1:-build}" "${2:-.}"
CTL=$E2E_BUILD/controller/ratelimitctl
[ -x "$CTL" ] || e2e_fail "ratelimitctl not built ($CTL)"
ctl() { "$CTL" --socket "$E2E_SOCK" "$@"; }

OTHER=198.18.3.1
TCP_CLIENT=198.18.3.2
lab_up rllock "$OTHER" "$TCP_CLIENT" || e2e_fail "lab_up"
SSH_CLIENT_IP=$LAB_TX_IP
export SSH_CONNECTION="$SSH_CLIENT_IP 50022 $LAB_RX_IP 22"

CFG=$E2E_WORK/ratelimit.yaml
write_cfg() {  # FILE PROTECT_SSH
    e2e_write_config "$1" <<EOF
management:
  protect_ssh: $2
defaults:
  action: deny
rules:
  - name: deny-lab
    sources: [198.18.0.0/16]
    action: deny
EOF
}
write_cfg "$E2E_WORK/on.yaml" true
write_cfg "$E2E_WORK/off.yaml" false

fail=0
check() {  # DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then e2e_log "ok: $what"; else echo "FAIL: $what"; fail=1; fi
}

# A held TCP connection TCP_CLIENT -> LAB_RX_IP:22 (no XDP program yet, so it
# can be established); both ends sleep until lab_down kills them by PID.
lab_rx_bg "$E2E_PY" -c '
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], 22)); l.listen(1); open(sys.argv[2], "w").close()
c, _ = l.accept(); time.sleep(3600)' "$LAB_RX_IP" "$E2E_WORK/sshd.ready" >"$E2E_WORK/sshd.log" 2>&1
for ((i = 0; i < 50; i++)); do [ -e "$E2E_WORK/sshd.ready" ] && break; sleep 0.1; done
lab_tx_bg "$E2E_PY" -c '
import socket, sys, time
c = socket.socket(); c.bind((sys.argv[1], 0)); c.connect((sys.argv[2], 22)); open(sys.argv[3], "w").close()
time.sleep(3600)' "$TCP_CLIENT" "$LAB_RX_IP" "$E2E_WORK/ssh.ready" >"$E2E_WORK/ssh.log" 2>&1
for ((i = 0; i < 50; i++)); do [ -e "$E2E_WORK/ssh.ready" ] && break; sleep 0.1; done
[ -e "$E2E_WORK/ssh.ready" ] || e2e_fail "TCP session to port 22 not established: $(cat "$E2E_WORK/sshd.log" "$E2E_WORK/ssh.log")"

# 0. start-up refusal (before pins or the socket are touched; timeout only
#    guards against a daemon that wrongly starts)
timeout 20 nsenter --net="/run/netns/$LAB_RX_NS" -- "$RLD" --config "$E2E_WORK/off.yaml" >"$E2E_WORK/start_off.log" 2>&1
rc=$?
cat "$E2E_WORK/start_off.log"
check "start with protect_ssh: false refused (exit $rc, want 1)" [ "$rc" -eq 1 ]
check "start refusal names $SSH_CLIENT_IP and --force-lockout" \
    grep -q "$SSH_CLIENT_IP.*--force-lockout" "$E2E_WORK/start_off.log"

cp "$E2E_WORK/on.yaml" "$CFG"
e2e_start_daemon "$CFG"
for a in "$SSH_CLIENT_IP" "$TCP_CLIENT"; do
    grep -q "SSH client $a is never limited" "$E2E_DAEMON_LOG" || e2e_fail "daemon log does not say it protects $a"
done

stats() { ctl stats --json >"$1" || e2e_fail "stats --json failed"; }
# grown BEFORE AFTER RULE REASON: growth of that counter
grown() {
    "$E2E_PY" - "$@" <<'EOF'
import json, sys
def get(path, rule, reason):
    r = json.load(open(path)); r = r.get("result", r)
    for x in r["rules"]:
        if x["name"] == rule:
            return x["reasons"][reason]["packets"]
    return 0
print(get(sys.argv[2], sys.argv[3], sys.argv[4]) - get(sys.argv[1], sys.argv[3], sys.argv[4]))
EOF
}
status_field() { ctl status --json | "$E2E_PY" -c "import json, sys; r = json.load(sys.stdin); r = r.get('result', r); print($1)"; }

both() { [ "$1" -eq "$2" ] && [ "$3" -eq "$4" ]; }
# phase NAME EXPECT(pass|deny): 300 packets from the SSH client and from $OTHER
phase() {
    local out=$E2E_WORK/$1 sent_ssh sent_other arr_ssh arr_other mg dn
    stats "$E2E_WORK/$1.before.json"
    e2e_traffic "$out" "$SSH_CLIENT_IP:1000:300" "$OTHER:1000:300"
    stats "$E2E_WORK/$1.after.json"
    sent_ssh=$(e2e_count_sent "$out" "$SSH_CLIENT_IP")
    sent_other=$(e2e_count_sent "$out" "$OTHER")
    arr_ssh=$(e2e_count_arrived "$out" "$SSH_CLIENT_IP")
    arr_other=$(e2e_count_arrived "$out" "$OTHER")
    mg=$(grown "$E2E_WORK/$1.before.json" "$E2E_WORK/$1.after.json" management allow)
    dn=$(grown "$E2E_WORK/$1.before.json" "$E2E_WORK/$1.after.json" deny-lab deny)
    e2e_log "$1: SSH client sent $sent_ssh arrived $arr_ssh; $OTHER sent $sent_other arrived $arr_other;" \
        "management/allow +$mg, deny-lab/deny +$dn"
    check "$1: $OTHER sent 300, none arrived" both "$sent_other" 300 "$arr_other" 0
    if [ "$2" = pass ]; then
        check "$1: all $sent_ssh packets of the SSH client arrived" both "$sent_ssh" 300 "$arr_ssh" 300
        check "$1: management counted the client's packets (allow +$mg)" [ "$mg" -eq "$sent_ssh" ]
        check "$1: deny-lab denied exactly $OTHER's packets (+$dn)" [ "$dn" -eq "$sent_other" ]
    else
        check "$1: the unprotected SSH client is denied (arrived $arr_ssh)" both "$sent_ssh" 300 "$arr_ssh" 0
        check "$1: management counted nothing (+$mg)" [ "$mg" -eq 0 ]
        check "$1: deny-lab denied both sources (+$dn)" [ "$dn" -eq $((sent_ssh + sent_other)) ]
    fi
}

phase p1 pass
e2e_traffic "$E2E_WORK/p1tcp" "$TCP_CLIENT:1000:300"
n=$(e2e_count_arrived "$E2E_WORK/p1tcp" "$TCP_CLIENT")
check "p1: client of the TCP session to port 22 ($TCP_CLIENT, from /proc/net/tcp) passes: $n/300 arrived" [ "$n" -eq 300 ]

# 2. refused without --force
g0=$(status_field 'r["generation"]')
f0=$(status_field 'r["reloads"]["failed"]')
cp "$E2E_WORK/off.yaml" "$CFG"
ctl reload >"$E2E_WORK/reload_off.out" 2>&1
rc=$?
cat "$E2E_WORK/reload_off.out"
check "reload to protect_ssh: false refused (exit $rc)" [ "$rc" -ne 0 ]
check "refusal names $SSH_CLIENT_IP and --force" grep -q "$SSH_CLIENT_IP.*--force" "$E2E_WORK/reload_off.out"
check "failed reloads +1" [ "$(status_field 'r["reloads"]["failed"]')" -eq $((f0 + 1)) ]
check "generation unchanged ($g0)" [ "$(status_field 'r["generation"]')" -eq "$g0" ]
# the same over the protocol, raw: force must be a boolean
"$E2E_PY" "$E2E_LIB_DIR/rlctl.py" "$E2E_SOCK" reload '{"force": "yes"}' >"$E2E_WORK/reload_badforce.json" 2>&1
check "reload with a non-boolean force is EINVAL" grep -q '"EINVAL"' "$E2E_WORK/reload_badforce.json"
phase p2 pass

# 3. forced
ctl reload --force >"$E2E_WORK/reload_force.out" 2>&1
rc=$?
cat "$E2E_WORK/reload_force.out"
check "reload --force accepted (exit $rc)" [ "$rc" -eq 0 ]
check "generation grew" [ "$(status_field 'r["generation"]')" -gt "$g0" ]
grep -q "SSH client $SSH_CLIENT_IP is NOT protected" "$E2E_DAEMON_LOG" ||
    { echo "FAIL: no warning about the unprotected client in the daemon log"; fail=1; }
phase p3 deny

# 4. protection back
cp "$E2E_WORK/on.yaml" "$CFG"
ctl reload >"$E2E_WORK/reload_on.out" 2>&1
check "reload back to protect_ssh: true accepted" [ $? -eq 0 ]
phase p4 pass

kill -0 "$E2E_DAEMON_PID" 2>/dev/null || e2e_fail "daemon died"
e2e_stop_daemon TERM
[ "$fail" -eq 0 ] || e2e_fail "lock-out assertions failed (above)"
e2e_log "PASS"
