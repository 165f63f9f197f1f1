#!/usr/bin/env bash
# Metrics end to end with a real Prometheus: ratelimitd in a test namespace
# serves /metrics on the namespace's loopback; `promtool check metrics` is clean;
# a Prometheus (own TSDB in a temp dir, 1 s scrape, our alert rules loaded)
# scrapes it; a bounded ping flood above the limit goes through the lab; the
# PromQL answers must match what was sent and what arrived:
#   - raw counters (exact): passed + dropped == echo requests sent (IcmpOutEchos
#     in the sender's namespace), passed == echo requests that reached the
#     daemon namespace's ICMP stack (IcmpInEchos there). Ping's own reply count
#     is only printed: under load ping may not drain its socket in time;
#   - increase() over a window W that covers the whole flood, with flat samples
#     before and after it: increase() extrapolates the sampled delta to the
#     window edges, by at most ~1.1 scrape intervals at each end, so
#     exact <= increase <= exact * W / (W - 2.2 * scrape interval);
# then every dashboard panel query (variables substituted) must parse and return
# data, and replacing the program behind the daemon's back must show up as
# ratelimit_program_attached == 0 and a pending RatelimitProgramDetached alert.
# Args: <build dir> <source dir>. Exit 77 = skipped (reason printed).
RL_TEST_NAME=metrics
source "$(dirname "$0")/daemon_lib.sh"

PROMETHEUS=/usr/bin/prometheus
PROMTOOL=$(command -v promtool || true)
[ -x "$PROMETHEUS" ] || skip "prometheus not installed (Debian package prometheus; scripts/setup.sh)"
[ -n "$PROMTOOL" ] || skip "promtool not installed (Debian package prometheus)"
command -v curl >/dev/null || skip "curl missing"

SENT=600          # echo requests, 2 ms apart: bounded flood (~1.2 s)
RATE=50           # limit of rule "lab", packets/s
BURST=20
SCRAPE_S=1        # Prometheus scrape interval, seconds

make_netns
in_d() { nsenter --net="/run/netns/$NS_D" "$@"; }
free_port() { in_d python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MPORT=$(free_port)
PPORT=$(free_port)
while [ "$PPORT" = "$MPORT" ]; do PPORT=$(free_port); done

CFG="$WORK/ratelimit.yaml"
cat >"$CFG" <<YAML
version: 1
defaults:
  action: allow
rules:
  - name: lab
    sources: [198.18.0.0/30]
    rate: $RATE/s
    burst: $BURST
metrics:
  listen: 127.0.0.1:$MPORT
YAML
start_daemon "$CFG"
scrape() { in_d curl -sf "http://127.0.0.1:$MPORT/metrics"; }

# --- the exposition itself. Key counts are taken in the background (never on
# the scrape path): the first scrape starts the count, a later one shows it.
body=$(scrape) || fail "GET /metrics on 127.0.0.1:$MPORT failed"
for _ in $(seq 50); do
    grep -q '^ratelimit_keys_tracked{' <<<"$body" && break
    sleep 0.1
    body=$(scrape) || fail "GET /metrics on 127.0.0.1:$MPORT failed"
done
lint=$(printf '%s\n' "$body" | "$PROMTOOL" check metrics 2>&1) || fail "promtool check metrics: $lint"
[ -z "$lint" ] || fail "promtool check metrics reported: $lint"
for m in ratelimit_packets_total ratelimit_bytes_total ratelimit_keys_tracked ratelimit_keys_capacity \
    ratelimit_key_inserts_total ratelimit_key_insert_failures_total ratelimit_key_evictions_total \
    ratelimit_keys_blocked ratelimit_events_total ratelimit_program_attached ratelimit_config_generation \
    ratelimit_config_reloads_total ratelimit_config_last_reload_timestamp_seconds ratelimit_build_info \
    ratelimit_scrape_duration_seconds ratelimit_known_filter_built ratelimit_known_filter_fill_ratio; do
    grep -q "^$m[{ ]" <<<"$body" || fail "metric $m missing from the scrape"
done
# the daemon builds the known-key filter within a second of starting
for _ in $(seq 1 30); do
    grep -q '^ratelimit_known_filter_built 1' <<<"$body" && break
    sleep 0.1
    body=$(scrape) || fail "GET /metrics on 127.0.0.1:$MPORT failed"
done
grep -q '^ratelimit_known_filter_built 1' <<<"$body" || fail "known-key filter not built: $(grep known_filter <<<"$body")"
grep -q "^ratelimit_program_attached{interface=\"$IF_D\",mode=\"[a-z]*\"} 1" <<<"$body" ||
    fail "program not reported attached: $(grep program_attached <<<"$body")"
if grep -E '^ratelimit_[^ ]*\{[^}]*"198\.18\.' <<<"$body"; then fail "an IP address appears as a label value"; fi
ok "promtool check metrics clean ($(grep -c '^ratelimit_' <<<"$body") ratelimit_ samples)"

# --- a real Prometheus in the daemon's namespace (its loopback is the daemon's)
mkdir -p "$WORK/prom"
cp "$SRC/deploy/prometheus/ratelimit.rules.yml" "$WORK/prom/"
cat >"$WORK/prom/prometheus.yml" <<YAML
global:
  scrape_interval: ${SCRAPE_S}s
  evaluation_interval: ${SCRAPE_S}s
rule_files: [ratelimit.rules.yml]
scrape_configs:
  - job_name: ratelimit
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
YAML
# nsenter directly, not through the in_d function: a backgrounded function
# runs in a subshell, and $! would be that subshell rather than Prometheus
nsenter --net="/run/netns/$NS_D" "$PROMETHEUS" --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/tsdb" \
    --web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
EXTRA_CLEANUP+=("kill $PROM_PID 2>/dev/null; wait $PROM_PID 2>/dev/null")

# q EXPR [TIME]: instant query; prints the JSON response (fails on a non-success status).
q() {
    local args=(--data-urlencode "query=$1")
    [ $# -lt 2 ] || args+=(--data-urlencode "time=$2")
    local out
    out=$(in_d curl -s "${args[@]}" "http://127.0.0.1:$PPORT/api/v1/query") || return 1
    [ "$(jq -r .status <<<"$out" 2>/dev/null)" = success ] || { echo "$out"; return 1; }
    echo "$out"
}
# qv EXPR [TIME]: the single value of a scalar-like instant query, or "" if empty.
qv() {
    local o
    o=$(q "$@") || return 0
    jq -r '.data.result[0].value[1] // ""' <<<"$o"
}
# wait_for DESC SECONDS CMD...: polls CMD every 0.5 s until it succeeds.
wait_for() {
    local desc=$1 secs=$2
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@"; do
        [ $SECONDS -lt $deadline ] || fail "timed out after ${secs}s waiting for $desc"
        kill -0 "$PROM_PID" 2>/dev/null || { cat "$WORK/prometheus.log"; fail "prometheus exited"; }
        sleep 0.5
    done
}
prom_equals() { [ "$(qv "$1")" = "$2" ]; }

wait_for "first scrape" 60 prom_equals 'up{job="ratelimit"}' 1
ok "prometheus on 127.0.0.1:$PPORT scrapes the daemon"

LAB='rule="lab"'
# Exact counter values as the daemon serves them now (the pinned state is fresh,
# but read the baseline instead of assuming zero).
counter() { # counter SELECTOR [FAMILY]: sum of the samples of FAMILY whose labels contain SELECTOR
    scrape | awk -v sel="$1" -v fam="${2:-ratelimit_packets_total}" 'index($0, fam "{") == 1 && index($0, sel) { s += $2 } END { printf "%d\n", s }'
}
base_pass=$(counter "$LAB,reason=\"pass\"")
base_drop=$(counter "$LAB,reason=\"rate\"")
base_pass_b=$(counter "$LAB,reason=\"pass\"" ratelimit_bytes_total)
base_drop_b=$(counter "$LAB,reason=\"rate\"" ratelimit_bytes_total)
wait_for "baseline in prometheus" 30 prom_equals "sum(ratelimit_packets_total{$LAB})" "$((base_pass + base_drop))"
t_start=$(date +%s)
sleep 4   # flat samples before the flood inside the increase() window

# --- known traffic: SENT echo requests 2 ms apart from 198.18.0.1 (rule lab)
# icmp NS FIELD: a counter from the namespace's /proc/net/snmp "Icmp:" lines.
icmp() {
    nsenter --net="/run/netns/$1" awk -v f="$2" '/^Icmp:/ { if (!h) { split($0, k); h = 1 } else { split($0, v); for (i in k) if (k[i] == f) print v[i] } }' /proc/net/snmp
}
out0=$(icmp "$NS_S" OutEchos)
in0=$(icmp "$NS_D" InEchos)
received=$(pings $ADDR_S $SENT)
sleep 2
sent=$(($(icmp "$NS_S" OutEchos) - out0))
arrived=$(($(icmp "$NS_D" InEchos) - in0))
[ "$sent" = "$SENT" ] || fail "ping sent $sent echo requests, expected $SENT"
want_pass=$((base_pass + arrived))
want_drop=$((base_drop + SENT - arrived))
[ "$arrived" -gt 0 ] && [ "$arrived" -lt "$SENT" ] || fail "flood should be partly limited: $arrived/$SENT arrived"
got_pass=$(counter "$LAB,reason=\"pass\"")
got_drop=$(counter "$LAB,reason=\"rate\"")
[ "$got_pass" = "$want_pass" ] && [ "$got_drop" = "$want_drop" ] ||
    fail "daemon counters pass=$got_pass drop=$got_drop, expected pass=$want_pass drop=$want_drop ($arrived/$SENT echo requests reached the stack)"
# bytes: IP length of a default ping echo request = 20 + 8 + 56 = 84
pb=$(($(counter "$LAB,reason=\"pass\"" ratelimit_bytes_total) - base_pass_b))
db=$(($(counter "$LAB,reason=\"rate\"" ratelimit_bytes_total) - base_drop_b))
[ "$pb" = $((arrived * 84)) ] && [ "$db" = $(((SENT - arrived) * 84)) ] ||
    fail "bytes pass=$pb drop=$db, expected $((arrived * 84)) and $(((SENT - arrived) * 84))"
ok "sent $SENT, $arrived reached the stack behind XDP ($received replies seen by ping): daemon counts pass=$((got_pass - base_pass)) drop=$((got_drop - base_drop)) packets, $pb/$db bytes"

# Raw counters through Prometheus: exact.
wait_for "final counters in prometheus" 30 prom_equals \
    "sum(ratelimit_packets_total{$LAB,verdict=\"drop\"})" "$want_drop"
p=$(qv "sum(ratelimit_packets_total{$LAB,verdict=\"pass\"})")
[ "$p" = "$want_pass" ] || fail "prometheus pass counter $p, expected $want_pass"
ok "PromQL raw counters: pass=$p drop=$want_drop (exact)"

# increase() over a window from before the flood to now (flat at both ends).
sleep 4
t_end=$(date +%s)
win=$((t_end - t_start))
max_factor=$(awk -v w=$win -v s=$SCRAPE_S 'BEGIN { printf "%.4f", w / (w - 2.2 * s) }')
check_increase() { # check_increase VERDICT EXACT
    local v
    v=$(qv "sum(increase(ratelimit_packets_total{$LAB,verdict=\"$1\"}[${win}s]))" "$t_end")
    [ -n "$v" ] || fail "increase($1) over ${win}s is empty"
    awk -v got="$v" -v want="$2" -v f="$max_factor" 'BEGIN { exit !(got >= want - 1e-9 && got <= want * f + 1e-9) }' ||
        fail "increase($1)[${win}s] = $v, expected between $2 and $2 * $max_factor"
    echo "$v"
}
ip_=$(check_increase pass "$arrived")
id_=$(check_increase drop "$((SENT - arrived))")
ok "PromQL increase over ${win}s: pass=$ip_ (exact $arrived), drop=$id_ (exact $((SENT - arrived))); bound [exact, exact*$max_factor]"
r=$(qv "sum(rate(ratelimit_packets_total{$LAB}[${win}s]))" "$t_end")
ok "PromQL rate over ${win}s: $r packets/s (= $SENT sent / ${win}s window, extrapolated)"
# The limiter passed about burst + rate * duration: sanity of what passed, not a timing assertion.
[ "$arrived" -ge "$BURST" ] || fail "fewer than the burst ($BURST) passed: $arrived"

# --- every dashboard panel query against this Prometheus
n=0
while IFS= read -r expr; do
    e=${expr//\$__rate_interval/1m}
    e=${e//\$__range/5m}
    e=${e//\$__interval/1s}
    e=${e//\$instance/.*}
    e=${e//\$rule/.*}
    [[ "$e" != *'$'* ]] || fail "unsubstituted variable in panel query: $e"
    out=$(q "$e") || fail "panel query rejected by Prometheus: $e: $out"
    [ "$(jq '.data.result | length' <<<"$out")" -gt 0 ] || fail "panel query returned no data: $e"
    n=$((n + 1))
done < <(jq -r '.. | objects | select(has("expr")) | .expr' "$SRC/deploy/grafana/ratelimit.json")
[ "$n" -gt 0 ] || fail "no panel queries found in the dashboard"
ok "all $n dashboard queries parse and return data"

# --- replaced behind the daemon's back by another XDP program: metric 0, alert
# pending (for: 1m). (A plain `xdp off` is undone by the daemon, which
# re-attaches a configured interface within a second; another program it
# leaves alone.)
ip -force -n "$NS_D" link set dev "$IF_D" xdp obj "$BUILD/bpf/xdp_drop.bpf.o" sec xdp 2>/dev/null ||
    ip -force -n "$NS_D" link set dev "$IF_D" xdpgeneric obj "$BUILD/bpf/xdp_drop.bpf.o" sec xdp ||
    fail "could not replace the program on $IF_D"
wait_for "ratelimit_program_attached == 0" 30 prom_equals "ratelimit_program_attached{interface=\"$IF_D\"}" 0
alert_pending() {
    in_d curl -s "http://127.0.0.1:$PPORT/api/v1/alerts" |
        jq -e --arg i "$IF_D" '.data.alerts[] | select(.labels.alertname=="RatelimitProgramDetached" and .labels.interface==$i and (.state=="pending" or .state=="firing"))' >/dev/null
}
wait_for "RatelimitProgramDetached pending" 30 alert_pending
ok "external replacement seen: ratelimit_program_attached=0, RatelimitProgramDetached pending"

errs=$(scrape | awk '/^ratelimit_scrape_errors_total /{print $2}')
[ "$errs" = 0 ] || fail "ratelimit_scrape_errors_total = $errs"
scrape_s=$(scrape | awk '/^ratelimit_scrape_duration_seconds /{print $2}')
stop_daemon   # SIGTERM with the metrics server running: clean exit required
echo "PASS (last scrape took ${scrape_s}s)"
