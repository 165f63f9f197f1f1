#!/usr/bin/env bash
# Runs scripts/demo.sh non-interactively, twice:
#   1. to completion with DEMO_SECONDS=4: exit 0, the live table was printed, the
#      flooding source saw drops and the source under the limit none;
#   2. interrupted with SIGINT (Ctrl-C) while the table is refreshing: exit 130.
# After each: none of the namespaces, pins or processes the demo reported
# creating (DEMO_STATE) exist any more.
#
# Usage: test_demo.sh BUILD_DIR SOURCE_DIR
set -u -o pipefail
BUILD=$(cd "${1:-build}" && pwd)
SRC=$(cd "${2:-.}" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x "$BUILD/controller/ratelimitd" ] || { echo "FAIL: missing feature: $BUILD/controller/ratelimitd not built"; exit 1; }
WORK=$(mktemp -d /tmp/rldemotest-$$.XXXX)
DEMO_PID=
cleanup() {
    local rc=$?
    [ -n "$DEMO_PID" ] && kill -TERM "$DEMO_PID" 2>/dev/null && wait "$DEMO_PID" 2>/dev/null
    if [ "$rc" -eq 0 ]; then rm -rf -- "$WORK"; else echo "artifacts kept in $WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
fail=0

# leftovers STATE_FILE: prints what the demo created and is still there
leftovers() {
    local kind name extra
    while read -r kind name extra; do
        case $kind in
        netns) ip netns list | awk '{print $1}' | grep -qxF "$name" && echo "netns $name still exists" ;;
        pin) [ -e "$name" ] && echo "pin directory $name still exists" ;;
        pid) kill -0 "$name" 2>/dev/null && echo "process $name ($extra) still running" ;;
        esac
    done <"$1"
    return 0
}

# --- 1. complete run -------------------------------------------------------
echo "== demo, DEMO_SECONDS=4"
DEMO_SECONDS=4 DEMO_STATE=$WORK/state1 bash "$SRC/scripts/demo.sh" "$BUILD" >"$WORK/demo1.log" 2>&1
rc=$?
cat "$WORK/demo1.log"
[ "$rc" -eq 0 ] || { echo "FAIL: demo exited with $rc"; fail=1; }
[ -s "$WORK/state1" ] || { echo "FAIL: demo wrote no DEMO_STATE"; exit 1; }
grep -q '^ratelimit demo  t=' "$WORK/demo1.log" || { echo "FAIL: no live table printed"; fail=1; }
# last table: "198.18.10.5  flood  20000/s | pass/s drop/s | sent passed dropped drop%"
last_dropped() { grep "^$1 " "$WORK/demo1.log" | tail -n1 | awk -F'|' '{print $3}' | awk '{print $3}'; }
flood_drop=$(last_dropped 198.18.10.5)
under_drop=$(last_dropped 198.18.10.1)
echo "flood source dropped: ${flood_drop:-?}; under-limit source dropped: ${under_drop:-?}"
[ -n "$flood_drop" ] && [ "$flood_drop" -gt 0 ] || { echo "FAIL: the flooding source saw no drops"; fail=1; }
[ "${under_drop:-x}" = 0 ] || { echo "FAIL: the source under the limit saw drops"; fail=1; }
left=$(leftovers "$WORK/state1")
[ -z "$left" ] || { echo "FAIL: left behind after a complete run:"; echo "$left"; fail=1; }

# --- 2. Ctrl-C ------------------------------------------------------------------
echo "== demo interrupted with SIGINT"
set -m   # job control: the background demo does not start with SIGINT ignored
DEMO_SECONDS=60 DEMO_STATE=$WORK/state2 bash "$SRC/scripts/demo.sh" "$BUILD" >"$WORK/demo2.log" 2>&1 &
DEMO_PID=$!
set +m
for ((i = 0; i < 300; i++)); do
    grep -q '^ratelimit demo  t=' "$WORK/demo2.log" 2>/dev/null && break
    kill -0 "$DEMO_PID" 2>/dev/null || break
    sleep 0.1
done
grep -q '^ratelimit demo  t=' "$WORK/demo2.log" || { cat "$WORK/demo2.log"; echo "FAIL: demo never showed its table"; exit 1; }
kill -INT "$DEMO_PID"
wait "$DEMO_PID"
rc=$?
DEMO_PID=
tail -n 5 "$WORK/demo2.log"
[ "$rc" -eq 130 ] || { echo "FAIL: interrupted demo exited with $rc, want 130"; fail=1; }
left=$(leftovers "$WORK/state2")
[ -z "$left" ] || { echo "FAIL: left behind after Ctrl-C:"; echo "$left"; fail=1; }

[ "$fail" -eq 0 ] && echo "PASS"
exit "$fail"
