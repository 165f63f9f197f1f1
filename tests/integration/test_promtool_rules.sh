#!/usr/bin/env bash
# Alert rules and the example Prometheus config are valid, and the alerts fire
# (and stay silent) exactly as deploy/prometheus/ratelimit.rules.test.yml says.
# Args: <build dir> <source dir>. Exit 77 = skipped.
set -euo pipefail
SRC=${2:?usage: $0 <build dir> <source dir>}
PROM_DIR="$SRC/deploy/prometheus"

PROMTOOL=$(command -v promtool || true)
if [ -z "$PROMTOOL" ]; then
	echo "SKIP: promtool not installed (Debian package prometheus; scripts/setup.sh installs it)"
	exit 77
fi

cd "$PROM_DIR"
echo "== promtool check rules"
"$PROMTOOL" check rules ratelimit.rules.yml
echo "== promtool check config"
"$PROMTOOL" check config prometheus.yml
echo "== promtool test rules"
"$PROMTOOL" test rules ratelimit.rules.test.yml

# Every alert in the rules file must be exercised by the unit tests.
defined=$(grep -E '^\s*- alert:' ratelimit.rules.yml | awk '{print $3}' | sort -u)
tested=$(grep -E '^\s*alertname:' ratelimit.rules.test.yml | awk '{print $2}' | sort -u)
untested=$(comm -23 <(echo "$defined") <(echo "$tested"))
if [ -n "$untested" ]; then
	echo "FAIL: alerts without a promtool unit test: $untested"
	exit 1
fi
echo "PASS: $(echo "$defined" | wc -l) alerts checked and unit-tested"
