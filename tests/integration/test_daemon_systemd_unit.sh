#!/usr/bin/env bash
# deploy/systemd/ratelimitd.service: `systemd-analyze verify` prints nothing on
# stderr (it exits 0 even for unknown keys), and the offline security
# exposure stays in the "OK" band.
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
RLD="$BUILD/controller/ratelimitd"
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze missing"; exit 77; }
[ -x "$RLD" ] || { echo "SKIP: $RLD is not built"; exit 77; }
WORK=$(mktemp -d "/tmp/rltest-$$-XXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# verify checks that ExecStart exists: point it at the built binary
sed "s|/usr/sbin/ratelimitd|$(realpath "$RLD")|" "$SRC/deploy/systemd/ratelimitd.service" >"$WORK/ratelimitd.service"
rc=0
systemd-analyze verify "$WORK/ratelimitd.service" >"$WORK/out" 2>"$WORK/err" || rc=$?
[ $rc -eq 0 ] || fail "verify exit $rc: $(cat "$WORK/err")"
[ ! -s "$WORK/err" ] || fail "verify stderr: $(cat "$WORK/err")"
echo "ok: systemd-analyze verify: exit 0, empty stderr"

grep -q '^Type=notify$' "$WORK/ratelimitd.service" || fail "not Type=notify"
score=$(systemd-analyze security --offline=yes "$WORK/ratelimitd.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
[ -n "$score" ] || fail "no security score"
awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "exposure $score above 3.0"
echo "ok: systemd-analyze security --offline=yes: exposure $score"
echo PASS
