#!/usr/bin/env bash
# ratelimitd --check-config: exit 0 for a valid file, 1 for an invalid one,
# with every error reported as FILE:LINE:COLUMN.
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
RLD="$BUILD/controller/ratelimitd"
[ -x "$RLD" ] || { echo "SKIP: $RLD is not built"; exit 77; }
WORK=$(mktemp -d "/tmp/rltest-$$-XXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# valid: the shipped example and a minimal file
for f in "$SRC/deploy/config/ratelimit.yaml" "$WORK/min.yaml"; do
    [ "$f" = "$WORK/min.yaml" ] && printf 'version: 1\nrules:\n  - name: a\n    sources: [198.18.0.0/15]\n    rate: 10/s\n' >"$f"
    rc=0
    out=$("$RLD" --check-config "$f" 2>&1) || rc=$?
    [ $rc -eq 0 ] || fail "$f: exit $rc: $out"
    echo "ok: valid $f -> exit 0 ($out)"
done

# invalid: two independent errors; both reported with their line and column
cat >"$WORK/bad.yaml" <<'YAML'
version: 1
rules:
  - name: a
    sources: [198.18.0.0/15]
    rate: 10/fortnight
  - name: b
    sources: [198.18.0.1/15]
    rate: 10/s
YAML
rc=0
out=$("$RLD" --check-config "$WORK/bad.yaml" 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "invalid file: exit $rc (want 1): $out"
for pat in fortnight 198.18.0.1/15; do
    line=$(grep -n "$pat" "$WORK/bad.yaml" | cut -d: -f1)
    grep -Eq "bad.yaml:$line:[0-9]+: " <<<"$out" || fail "no error reported at line $line ($pat): $out"
done
n=$(grep -Ec "bad.yaml:[0-9]+:[0-9]+: " <<<"$out")
[ "$n" -ge 2 ] || fail "expected every error, got $n: $out"
echo "ok: invalid file -> exit 1 with $n located errors:"
echo "$out"

# a missing file is an error too
rc=0
"$RLD" --check-config "$WORK/absent.yaml" >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "missing file: exit $rc"
echo "ok: missing file -> exit 1"
echo PASS
