#!/usr/bin/env bash
# Structural check of deploy/grafana/ratelimit.json against a JSON Schema subset of
# Grafana's dashboard model (tests/integration/grafana_dashboard.schema.json) plus
# unique panel ids, non-overlapping grid and datasource references. Also proves the
# checker rejects broken dashboards, so a silently passing validator cannot hide.
# Args: <build dir> <source dir>. Exit 77 = skipped.
set -euo pipefail
SRC=${2:?usage: $0 <build dir> <source dir>}
PY=/usr/bin/python3   # Debian's python3-jsonschema lives there
HERE="$SRC/tests/integration"
DASH="$SRC/deploy/grafana/ratelimit.json"
SCHEMA="$HERE/grafana_dashboard.schema.json"

if ! "$PY" -c 'import jsonschema' 2>/dev/null; then
	echo "SKIP: python3-jsonschema not installed (scripts/setup.sh installs it)"
	exit 77
fi

echo "== valid dashboard"
"$PY" "$HERE/check_dashboard.py" "$DASH" "$SCHEMA"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Each mutation must be rejected: name|python expression applied to the dashboard d.
mutations=(
	'no uid|d.pop("uid")'
	'old schemaVersion|d.__setitem__("schemaVersion", 16)'
	'no datasource variable|d["templating"]["list"].pop(0)'
	'hard-coded datasource uid|[p for p in d["panels"] if p["type"] != "row"][0]["targets"][0]["datasource"].__setitem__("uid", "abc123")'
	'empty expr|[p for p in d["panels"] if p["type"] != "row"][0]["targets"][0].__setitem__("expr", "")'
	'duplicate panel id|d["panels"][2].__setitem__("id", d["panels"][1]["id"])'
	'gridPos missing w|d["panels"][1]["gridPos"].pop("w")'
	'panel past the right edge|d["panels"][1]["gridPos"].__setitem__("x", 20)'
	'panel without targets|[p for p in d["panels"] if p["type"] != "row"][0].__setitem__("targets", [])'
)
for m in "${mutations[@]}"; do
	name=${m%%|*}
	expr=${m#*|}
	"$PY" - "$DASH" "$TMP/bad.json" "$expr" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
eval(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"))
PYEOF
	if out=$("$PY" "$HERE/check_dashboard.py" "$TMP/bad.json" "$SCHEMA"); then
		echo "FAIL: checker accepted a dashboard with: $name"
		exit 1
	fi
	echo "rejected as expected ($name): $(echo "$out" | head -1 | cut -c1-160)"
done
echo "PASS"
