#!/usr/bin/env bash
# Smoke test of the program-cost benchmark: tiny N, one run; asserts only that
# it produces well-formed rows for every program, family and source count
# (never a timing). Args: BUILD_DIR SOURCE_DIR.
set -euo pipefail
BUILD=$1
SRC=$2
BENCH=$BUILD/tests/bench/rl_bench
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (BPF_PROG_TEST_RUN, netns)"; exit 77; }
[ -x "$BENCH" ] || { echo "FAIL: $BENCH not built"; exit 1; }

NS=rltest-$$-bench
OUT=$(mktemp -d)
cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -rf "$OUT"; }
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link add rlb0 type veth peer name rlb1
ip -n "$NS" link set rlb0 up
ip -n "$NS" link set rlb1 up
ip netns exec "$NS" "$BENCH" cost --ifname rlb0 --sources 1,7 --runs 1 --min-repeat 1000 \
  > "$OUT/cost.csv"

/usr/bin/python3 - "$OUT/cost.csv" "$SRC/scripts/bench" <<'PY'
import csv, sys
sys.path.insert(0, sys.argv[2])
import report
rows = list(csv.DictReader(open(sys.argv[1])))
report.check_cost_rows(rows)
seen = {(r["family"], r["program"], r["meter"], r["scenario"], r["sources"], r["phase"]) for r in rows}
want = set()
for fam in ("4", "6"):
    for n in ("1", "7"):
        want.add((fam, "xdp_drop", "-", "-", n, "warm"))
        want.add((fam, "gcra_min", "gcra", "-", n, "warm"))
        for m in ("token_bucket", "gcra", "sliding_window", "fixed_window"):
            for sc in ("default", "2tier"):
                want.add((fam, "ratelimit", m, sc, n, "warm"))
            want.add((fam, "ratelimit", m, "default", "7", "cold"))
    want.add((fam, "gcra_min", "gcra", "-", "7", "cold"))
missing = want - seen
if missing:
    sys.exit(f"FAIL: missing rows {sorted(missing)}")
if len(rows) != len(seen):
    sys.exit(f"FAIL: duplicate rows ({len(rows)} rows, {len(seen)} distinct)")
# cold rows: every packet is a new key
for r in rows:
    if r["phase"] == "cold" and r["program"] == "ratelimit" and float(r["inserts_per_pkt"]) != 1.0:
        sys.exit(f"FAIL: cold run did not insert one key per packet: {r}")
print(f"ok: {len(rows)} well-formed rows")
PY
# The two-tier baseline (RL_BENCH_GM_2TIER=1): rl_bench itself fails if its
# warm-up pass left the aggregate tier's table empty; its rows say 2tier.
RL_BENCH_GM_2TIER=1 ip netns exec "$NS" "$BENCH" cost --ifname rlb0 --sources 1,7 --runs 1 \
  --min-repeat 1000 --only-2tier --meters gcra --no-cold > "$OUT/cost2.csv"
/usr/bin/python3 - "$OUT/cost2.csv" <<'PY'
import csv, sys
gm = {(r["family"], r["scenario"]) for r in csv.DictReader(open(sys.argv[1])) if r["program"] == "gcra_min"}
if gm != {("4", "2tier"), ("6", "2tier")}:
    sys.exit(f"FAIL: two-tier baseline rows {sorted(gm)}")
print("ok: two-tier baseline rows")
PY
# The per-function split (scripts/bench/profile.sh, perf): a section per
# program, each with function rows and the remainder outside the program.
BENCH_OUT="$OUT" PROFILE_SOURCES=7 PROFILE_RUNS=4 PROFILE_FAMILY=6 \
  bash "$SRC/scripts/bench/profile.sh" "$BUILD" > "$OUT/profile.txt" 2>/dev/null
/usr/bin/python3 - "$OUT/profile.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
sections = re.split(r"^== ", text, flags=re.M)[1:]
names = [s.split(":")[0] for s in sections]
if names[:2] != ["ratelimit", "gcra_min"]:
    sys.exit(f"FAIL: profile sections {names}\n{text}")
for s, frame in zip(sections, ("rl_xdp", "gcra_min")):
    rows = re.findall(r"^ *(-?[0-9]+\.[0-9]) +(.+)$", s, flags=re.M)
    if len(rows) < 3 or not rows[-1][1].startswith("outside the program"):
        sys.exit(f"FAIL: profile section without function rows:\n{s}")
    if not any(name == frame and float(ns) > 0 for ns, name in rows):
        sys.exit(f"FAIL: the program's own code ({frame}) is missing from its split:\n{s}")
print(f"ok: profile split of {', '.join(names)}")
PY
# Daemon part (scripts/bench/daemon.sh) with a tiny key count and window: rows
# well formed and every key tracked; no timing is asserted.
if [ -x "$BUILD/controller/ratelimitd" ] && [ -x "$BUILD/controller/ratelimitctl" ]; then
  BENCH_DAEMON_KEYS=300 BENCH_DAEMON_RUNS=2 BENCH_DAEMON_WINDOW=1 \
    bash "$SRC/scripts/bench/daemon.sh" "$BUILD" > "$OUT/daemon.csv"
  /usr/bin/python3 - "$OUT/daemon.csv" "$SRC/scripts/bench" <<'PY'
import csv, sys
sys.path.insert(0, sys.argv[2])
import report
rows = list(csv.DictReader(open(sys.argv[1])))
report.check_daemon_rows(rows, runs=2)
total = {r["metric"]: int(r["value"]) for r in rows if r["run"] == "0" and r["metric"].startswith("keys_")}
if total["keys_total"] != 300 or total["keys_v4"] != 300 or total["keys_v6"] != 0:
    sys.exit(f"FAIL: daemon bench tracked {total}, want 300 IPv4 keys")
print(f"ok: {len(rows)} well-formed daemon rows, {total['keys_total']} keys tracked")
PY
else
  echo "note: ratelimitd/ratelimitctl not built, daemon part not checked"
fi

/usr/bin/python3 "$SRC/scripts/bench/report.py" "$OUT" > /dev/null
grep -q "## Daemon at scale" "$OUT/results.md" || [ ! -f "$OUT/daemon.csv" ] || { echo "FAIL: no daemon section"; exit 1; }
for f in results.csv results.md; do
  [ -s "$OUT/$f" ] || { echo "FAIL: report did not write $f"; exit 1; }
done
echo "PASS: bench smoke"
