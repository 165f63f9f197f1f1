#!/usr/bin/env bash
# End-to-end accuracy: the real ratelimitd, started with a YAML config in the
# receiving namespace of the lab, against paced traffic from eight sources
# (under, over, bursty, flooding) on three algorithms. The recorded send times
# are replayed through exact reference meters (tests/integration/lib/e2e_replay.py)
# at the XDP program's clock, measured in the same run (xdp_clock.py, probe keys).
#
# Asserts, per source: |arrived - admitted by the exact meter| <= 1 packet, and
# which packets arrived matches: walking the packets in send order, the running
# counts never part by more than 2 (a mismatch is a token displaced to a
# neighbouring packet by clock jitter, never drift); per rule: the daemon's counters (pinned rl_stats, and the control socket's
# `stats`) grew by exactly the packets sent, and `pass` by exactly the packets
# that arrived; the receiver saw no socket drops.
#
# Usage: test_e2e_accuracy.sh BUILD_DIR SOURCE_DIR
set -u -o pipefail
. "$(dirname "$0")/lib/e2e_common.sh"
e2e_init "${1:-build}" "${2:-.}"

# rule -> sources (each source is its own key: the rules key per /32)
TB_SRC=(198.18.1.1 198.18.1.2 198.18.1.3)
GC_SRC=(198.18.2.1 198.18.2.2)
SW_SRC=(198.18.3.1 198.18.3.2)
FL_SRC=(198.18.9.1)
lab_up rle2e "${TB_SRC[@]}" "${GC_SRC[@]}" "${SW_SRC[@]}" "${FL_SRC[@]}" "${E2E_PROBES[@]}" || e2e_fail "lab_up"

CFG=$E2E_WORK/ratelimit.yaml
e2e_write_config "$CFG" <<'EOF'
defaults:
  action: allow
rules:
  - name: tb
    sources: [198.18.1.0/24]
    algorithm: token_bucket
    rate: 1000/s
    burst: 50
  - name: gc
    sources: [198.18.2.0/24]
    algorithm: gcra
    rate: 500/s
    burst: 10
  - name: sw
    sources: [198.18.3.0/24]
    algorithm: sliding_window
    limit: 200
    window: 100ms
  - name: flood
    sources: [198.18.9.0/24]
    algorithm: token_bucket
    rate: 5000/s
    burst: 100
EOF
# the same limits for the exact meters (COUNT:PERIOD_NS:BURST, LIMIT:WINDOW_NS)
TB=tb:1000:1000000000:50
GC=gcra:500:1000000000:10
SW=sw:200:100000000
FL=tb:5000:1000000000:100

e2e_start_daemon "$CFG"
e2e_stats >"$E2E_WORK/stats.before.json" || e2e_fail "cannot read pinned rl_stats under $LAB_PIN_DIR"

# 2 s of traffic, all flows at once. SRC:PPS:COUNT[:START_MS]
OUT=$E2E_WORK/run
e2e_log "sending"
e2e_traffic "$OUT" \
    198.18.1.1:700:1400 \
    198.18.1.2:1700:3400 \
    198.18.1.3:20000:120:0 198.18.1.3:300:600:10 198.18.1.3:20000:80:1500 \
    198.18.2.1:900:1800 \
    198.18.2.2:400:800 \
    198.18.3.1:3000:6000 \
    198.18.3.2:1500:3000 \
    198.18.9.1:30000:60000 \
    $(e2e_probe_flows 2000)
grep -v "^198\.18\.7\." "$OUT/receiver.summary"
e2e_calibrate "$OUT"

fail=0
e2e_log "replay through the exact meters (ours = arrived at the receiver)"
"$E2E_PY" "$E2E_LIB_DIR/e2e_replay.py" --clock "$E2E_CLOCK" --dir "$OUT" --json "$E2E_WORK/accuracy.json" \
    198.18.1.1=$TB 198.18.1.2=$TB 198.18.1.3=$TB \
    198.18.2.1=$GC 198.18.2.2=$GC \
    198.18.3.1=$SW 198.18.3.2=$SW \
    198.18.9.1=$FL || fail=1

e2e_log "daemon counters (pinned rl_stats) vs traffic"
e2e_check_counters "$E2E_WORK/stats.before.json" "$OUT" \
    "tb=$(IFS=,; echo "${TB_SRC[*]}")" "gc=$(IFS=,; echo "${GC_SRC[*]}")" \
    "sw=$(IFS=,; echo "${SW_SRC[*]}")" "flood=$(IFS=,; echo "${FL_SRC[*]}")" || fail=1

e2e_log "daemon counters via the control socket (stats) vs pinned maps"
e2e_ctl stats >"$E2E_WORK/ctl.stats.json" || { cat "$E2E_WORK/ctl.stats.json"; e2e_fail "control socket 'stats' failed"; }
e2e_stats >"$E2E_WORK/stats.after.json"
"$E2E_PY" - "$E2E_WORK/ctl.stats.json" "$E2E_WORK/stats.after.json" <<'EOF' || fail=1
import json, sys
ctl = json.load(open(sys.argv[1]))["result"]
pinned = json.load(open(sys.argv[2]))
bad = 0
for name in ("tb", "gc", "sw", "flood"):
    rule = next((r for r in ctl.get("rules", []) if r.get("name") == name), None)
    if rule is None:
        print("FAIL: control socket stats has no rule %r" % name); bad = 1; continue
    got = {k: v.get("packets", 0) for k, v in rule.get("reasons", {}).items() if v.get("packets", 0)}
    want = {k: v for k, v in pinned.get(name, {}).items() if k != "id" and v}
    print("%-6s socket %s pinned %s %s" % (name, got, want, "ok" if got == want else "FAIL"))
    bad |= got != want
sys.exit(bad)
EOF

e2e_stop_daemon TERM
[ "$fail" -eq 0 ] || e2e_fail "accuracy assertions failed (tables above)"
e2e_log "PASS"
