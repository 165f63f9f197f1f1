#!/usr/bin/env bash
# End-to-end reload: the real ratelimitd, one token-bucket rule, traffic in
# three phases, each from a fresh source (a fresh key) so that every phase has
# an exact expected outcome:
#   1. rate 1000/s burst 50                        -> traffic follows 1000/s, 50
#   2. config rewritten to 400/s burst 20, `reload` -> accepted, generation grows,
#                                                     traffic follows 400/s, 20
#   3. config rewritten with an error, `reload`     -> rejected with EINVAL and the
#                                                     error; generation unchanged,
#                                                     daemon alive, traffic still 400/s, 20
# Each phase: |arrived - exact token bucket| <= 1 and running-count agreement (see
# e2e_replay.py); the pinned counters grew by exactly the packets sent.
#
# Usage: test_e2e_reload.sh BUILD_DIR SOURCE_DIR
set -u -o pipefail
. "$(dirname "$0")/lib/e2e_common.sh"
e2e_init "${1:-build}" "${2:-.}"

lab_up rlrld 198.18.1.1 198.18.1.2 198.18.1.3 "${E2E_PROBES[@]}" || e2e_fail "lab_up"
CFG=$E2E_WORK/ratelimit.yaml
write_rule() {  # RATE BURST [extra YAML line]
    e2e_write_config "$CFG" <<EOF
defaults:
  action: allow
rules:
  - name: r
    sources: [198.18.1.0/24]
    algorithm: token_bucket
    rate: $1
    burst: $2
${3:-}
EOF
}
generation() { e2e_ctl status | "$E2E_PY" -c 'import json,sys; print(json.load(sys.stdin)["result"]["generation"])'; }

fail=0
phase() {  # NAME SRC EXACT_SPEC
    local out=$E2E_WORK/$1
    e2e_stats >"$E2E_WORK/$1.before.json" || e2e_fail "cannot read pinned rl_stats"
    e2e_traffic "$out" "$2:1700:2550" $(e2e_probe_flows 1500)
    e2e_calibrate "$out"
    "$E2E_PY" "$E2E_LIB_DIR/e2e_replay.py" --clock "$E2E_CLOCK" --dir "$out" "$2=$3" || fail=1
    e2e_check_counters "$E2E_WORK/$1.before.json" "$out" "r=$2" || fail=1
}

write_rule 1000/s 50
e2e_start_daemon "$CFG"
g0=$(generation) || e2e_fail "status has no generation"
e2e_log "phase 1: 1000/s burst 50 (generation $g0)"
phase p1 198.18.1.1 tb:1000:1000000000:50

write_rule 400/s 20
e2e_log "reload with 400/s burst 20"
e2e_ctl reload >"$E2E_WORK/reload1.json"
rc=$?
cat "$E2E_WORK/reload1.json"
[ "$rc" -eq 0 ] || e2e_fail "valid reload refused"
g1=$(generation)
[ "$g1" -gt "$g0" ] || { echo "FAIL: generation did not grow on reload ($g0 -> $g1)"; fail=1; }
e2e_log "phase 2: 400/s burst 20 (generation $g1)"
phase p2 198.18.1.2 tb:400:1000000000:20

write_rule 400/s 20 "    colour: blue"
cp "$CFG" "$E2E_WORK/invalid.yaml"
sed -i 's|rate: 400/s|rate: lots|' "$CFG"
e2e_log "reload with an invalid config"
e2e_ctl reload >"$E2E_WORK/reload2.json"
rc=$?
cat "$E2E_WORK/reload2.json"
[ "$rc" -eq 1 ] || e2e_fail "invalid config: expected the daemon to answer ok:false (rlctl exit 1), got exit $rc"
"$E2E_PY" - "$E2E_WORK/reload2.json" <<'EOF' || fail=1
import json, sys
r = json.load(open(sys.argv[1]))
err = r.get("error", {})
msg = err.get("message", "")
ok = err.get("code") == "EINVAL" and ("lots" in msg or "rate" in msg)
print("rejection:", err.get("code"), "|", msg.replace("\n", " / ")[:300], "->", "ok" if ok else "FAIL (want EINVAL naming the bad rate)")
sys.exit(0 if ok else 1)
EOF
kill -0 "$E2E_DAEMON_PID" 2>/dev/null || e2e_fail "daemon died on an invalid reload"
g2=$(generation)
[ "$g2" = "$g1" ] || { echo "FAIL: generation changed on a rejected reload ($g1 -> $g2)"; fail=1; }
e2e_log "phase 3: still 400/s burst 20 (generation $g2)"
phase p3 198.18.1.3 tb:400:1000000000:20

e2e_stop_daemon TERM
[ "$fail" -eq 0 ] || e2e_fail "reload assertions failed (tables above)"
e2e_log "PASS"
