#!/usr/bin/env bash
# ratelimitctl against the real ratelimitd: every command, in text and --json
# mode, asserting on what the daemon reports after real traffic.
#
# Topology: namespaces S (sender) and D (daemon) joined by a veth in
# 198.18.0.0/29; the daemon runs in D via `nsenter --net` (keeps the host's
# /sys/fs/bpf, so its pin dir /sys/fs/bpf/rltest-$$-cli is removed by path),
# with its own control socket in a temp dir. The CLI runs in the root netns
# (a pathname Unix socket is reachable from any network namespace).
# Traffic: bounded pings (at most 1000 at 2 ms spacing) from S to D.
# Args: BUILD_DIR SOURCE_DIR. Exit 77 = skipped (reason printed).
# RL_TEST_VERBOSE=1 prints every command with its output.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
RLD="$BUILD/controller/ratelimitd"
CTL="$BUILD/controller/ratelimitctl"

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (netns, XDP, bpffs)"
[ -x "$CTL" ] || skip "$CTL is not built"
[ -x "$RLD" ] || skip "$RLD is not built"
for tool in jq nsenter ping perl script; do
    command -v "$tool" >/dev/null || skip "$tool missing (scripts/setup.sh installs it)"
done

TAG="rc$$"
NS_S="${TAG}s"
NS_D="${TAG}d"
IF_S="${TAG}a"
IF_D="${TAG}b"
IF_X="${TAG}x"       # extra veth in D for attach/detach
IF_Y="${TAG}y"
ADDR_S=198.18.0.1
ADDR_D=198.18.0.2
PIN="/sys/fs/bpf/rltest-$$-cli"
WORK=$(mktemp -d "/tmp/rltest-$$-cli-XXXX")
SOCK="$WORK/ctl.sock"
LOG="$WORK/daemon.log"
DPID=""
BG_PIDS=()

cleanup() {
    local rc=$?
    for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
        kill -TERM "$DPID" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$DPID" 2>/dev/null || true
    fi
    ip netns del "$NS_S" 2>/dev/null || true
    ip netns del "$NS_D" 2>/dev/null || true
    if [ -d "$PIN" ]; then rm -rf "$PIN" || true; fi
    if [ $rc -ne 0 ] && [ -f "$LOG" ]; then echo "--- daemon log (last 40 lines)"; tail -n 40 "$LOG"; fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT

fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

# run EXPECTED_RC CMD...: runs the CLI with our socket, stdout in $OUT, stderr
# in $ERR; fails unless it exits with EXPECTED_RC.
OUT=""
ERR=""
run() {
    local want=$1 rc=0
    shift
    "$CTL" --socket "$SOCK" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    OUT=$(cat "$WORK/out")
    ERR=$(cat "$WORK/err")
    if [ -n "${RL_TEST_VERBOSE:-}" ]; then
        echo "\$ ratelimitctl $*    # exit $rc"
        [ -z "$OUT" ] || echo "$OUT"
        [ -z "$ERR" ] || echo "$ERR" | sed 's/^/(stderr) /'
    fi
    if [ "$rc" -ne "$want" ]; then
        echo "stdout: $OUT"
        echo "stderr: $ERR"
        fail "ratelimitctl $* exited $rc, expected $want"
    fi
}
contains() {  # TEXT NEEDLE WHAT
    grep -qF -- "$2" <<<"$1" || { echo "$1"; fail "$3: '$2' not found in the output above"; }
}
jqe() {  # JSON FILTER WHAT: fails unless the filter yields true
    jq -e "$2" <<<"$1" >/dev/null || { echo "$1"; fail "$3: jq '$2' is not true for the output above"; }
}

# pings COUNT: echo requests from S to D at 2 ms spacing; prints replies received.
pings() {
    local out rc=0
    out=$(ip netns exec "$NS_S" ping -I "$ADDR_S" -c "$1" -i 0.002 -W 1 -q "$ADDR_D" 2>&1) || rc=$?
    [ $rc -le 1 ] || fail "ping failed ($rc): $out"
    sed -n 's/.* \([0-9]\+\) received.*/\1/p' <<<"$out"
}

# wait_lines FILE N: waits up to 10 s for FILE to have N lines.
wait_lines() {
    for _ in $(seq 1 100); do
        [ "$(wc -l <"$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# sigint_default CMD...: runs CMD with SIGINT at its default disposition
# (background jobs of a script start with SIGINT ignored), like a terminal.
# exec: with `&` the job's pid ($!) is then the command's own pid.
sigint_default() { exec perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die "exec: $!"' -- "$@"; }

# start_stream FILE CMD...: runs a streaming command in the background with
# SIGINT at its default, stdout to FILE (stderr to FILE.err); sets STREAM_PID.
STREAM_PID=""
start_stream() {
    local file=$1
    shift
    sigint_default "$@" >"$file" 2>"$file.err" &
    STREAM_PID=$!
    BG_PIDS+=("$STREAM_PID")
}
# stop_stream FILE LINES SIGNAL WHAT: once FILE has LINES lines, sends SIGNAL
# to the stream and expects a clean exit 0.
stop_stream() {
    wait_lines "$1" "$2" || fail "$4: fewer than $2 lines within 10 s: $(cat "$1.err")"
    kill -"$3" "$STREAM_PID"
    local rc=0
    wait "$STREAM_PID" || rc=$?
    [ $rc -eq 0 ] || fail "$4 exited $rc on SIG$3 (expected a clean exit 0)"
}

# ---------------------------------------------------------------- no daemon
rc=0
"$CTL" --socket "$WORK/absent.sock" status >"$WORK/out" 2>"$WORK/err" || rc=$?
[ $rc -eq 1 ] || fail "status without a daemon exited $rc, expected 1"
contains "$(cat "$WORK/err")" "ratelimitd is not running (no socket at $WORK/absent.sock)" "no daemon"
contains "$(cat "$WORK/err")" "Start it with: systemctl start ratelimitd, or ratelimitd --config /etc/ratelimit/ratelimit.yaml" "no daemon"
rc=0
RATELIMIT_SOCKET="$WORK/env.sock" "$CTL" --json rules list >/dev/null 2>"$WORK/err" || rc=$?
[ $rc -eq 1 ] || fail "rules list without a daemon exited $rc"
contains "$(cat "$WORK/err")" "no socket at $WORK/env.sock" "RATELIMIT_SOCKET is used"
ok "no daemon: exit 1, $(head -c 80 "$WORK/err")..."

# ---------------------------------------------------------------- config check (local)
GOOD="$WORK/ratelimit.yaml"
cat >"$GOOD" <<YAML
version: 1
defaults:
  action: allow
rules:
  - name: lab
    sources: [198.18.0.0/29]
    rate: 5/s
    burst: 5
top:
  sample: 2
metrics:
  listen: "off"
YAML
BAD="$WORK/bad.yaml"
cat >"$BAD" <<YAML
version: 1
rules:
  - name: lab
    sources: [198.18.0.0/29]
    rate: 5/s
    brust: 5
YAML
run 0 config check "$GOOD"
contains "$OUT" "$GOOD: valid (1 rule" "config check good"
run 0 --json config check "$GOOD"
jqe "$OUT" '.valid == true and (.errors | length) == 0' "config check --json good"
run 1 config check "$BAD"
contains "$ERR" "$BAD:6:5:" "config check bad: file:line:col"
contains "$ERR" "brust" "config check bad: message names the key"
# the source line, then a caret under its column 5 (the 'b' of brust)
src_line=$(grep -A1 -F "$BAD:6:5:" <<<"$ERR" | sed -n 2p)
caret_line=$(grep -A2 -F "$BAD:6:5:" <<<"$ERR" | sed -n 3p)
[[ "$src_line" =~ ^( *)"brust: 5"$ ]] || { echo "$ERR"; fail "source line not shown"; }
[ "$caret_line" = "${BASH_REMATCH[1]}^" ] || { echo "$ERR"; fail "caret not under column 5"; }
run 1 --json config check "$BAD"
jqe "$OUT" '.valid == false and .errors[0].line == 6 and .errors[0].column == 5' "config check --json bad"
ok "config check: good exit 0, bad exit 1 with $BAD:6:5 + caret"

# ---------------------------------------------------------------- usage errors (exit 2, nothing sent)
run 2 rules add x --source 198.18.0.1/33 --rate 10/s
contains "$ERR" "--source" "bad CIDR names the flag"
run 2 rules add x --source 198.18.0.0/24 --rate 10/parsec
contains "$ERR" "--rate" "bad rate names the flag"
run 2 rules add x --source 198.18.0.0/24 --rate 10/s --port 80
contains "$ERR" "--port needs --protocol tcp or udp" "port without protocol"
run 2 allow add 198.18.0.300
contains "$ERR" "198.18.0.300" "bad address is named"
run 2 top --sort nonsense
contains "$ERR" "--sort" "bad --sort"
run 2 keys show not-an-ip
run 2 rules frobnicate
ok "usage errors exit 2 and name the flag/value"

# ---------------------------------------------------------------- start the daemon
ip netns add "$NS_S"
ip netns add "$NS_D"
ip link add "$IF_S" netns "$NS_S" type veth peer name "$IF_D" netns "$NS_D"
ip link add "$IF_X" netns "$NS_D" type veth peer name "$IF_Y" netns "$NS_D"
ip -n "$NS_S" link set lo up
ip -n "$NS_D" link set lo up
ip -n "$NS_S" addr add "$ADDR_S/29" dev "$IF_S"
ip -n "$NS_D" addr add "$ADDR_D/29" dev "$IF_D"
for l in "$NS_S $IF_S" "$NS_D $IF_D" "$NS_D $IF_X" "$NS_D $IF_Y"; do
    set -- $l
    ip -n "$1" link set "$2" up
done

nsenter --net="/run/netns/$NS_D" "$RLD" --config "$GOOD" --interface "$IF_D" --pin-path "$PIN" \
    --socket "$SOCK" >>"$LOG" 2>&1 &
DPID=$!
for _ in $(seq 1 100); do
    [ -S "$SOCK" ] && "$CTL" --socket "$SOCK" status >/dev/null 2>&1 && break
    kill -0 "$DPID" 2>/dev/null || fail "ratelimitd exited during start-up"
    sleep 0.1
done
"$CTL" --socket "$SOCK" status >/dev/null 2>&1 || fail "ratelimitd did not answer on $SOCK within 10 s"
ok "ratelimitd pid $DPID up on $SOCK"

# ---------------------------------------------------------------- status
run 0 status
contains "$OUT" "ratelimitd " "status"
contains "$OUT" "pid $DPID" "status pid"
contains "$OUT" "config:     $GOOD" "status config path"
grep -qE "^  $IF_D +[0-9]+ +[a-z]+ +[0-9]+ +yes$" <<<"$OUT" || { echo "$OUT"; fail "status: interface row for $IF_D"; }
run 0 --json status
jqe "$OUT" ".pid == $DPID and .abi_version == 2 and (.interfaces | map(.name) | index(\"$IF_D\")) != null" "status --json"
jqe "$OUT" '.keys.capacity_v4 > 0 and (.counters | has("pass"))' "status --json keys/counters"
ok "status (text and --json)"

# ---------------------------------------------------------------- rules list / add / delete
run 0 rules list
grep -qE "^ +[0-9]+ +lab +config +limit +198\.18\.0\.0/29 +any +- +drop +token_bucket 5/s burst 5" <<<"$OUT" ||
    { echo "$OUT"; fail "rules list: row for lab"; }
run 0 --json rules list
jqe "$OUT" '.rules[] | select(.name == "lab") | .tiers[0].packets == "5/s" and .tiers[0].burst_packets == 5' "rules list --json lab"
BEFORE_RULES=$(jq -cS .rules <<<"$OUT")

run 0 rules add web --source 198.18.0.4/30 --protocol tcp --port 80 --port 8000-8080 --rate 1000/s --burst 2000 \
    --on-exceed block --block-for 30s --ipv4-prefix 24
contains "$OUT" "added rule web (id " "rules add"
run 0 --json rules add dns --source 198.18.0.6 --protocol udp --algorithm gcra --rate 100/s --burst 20
jqe "$OUT" '(.id | type) == "number" and .generation > 0' "rules add --json"
run 0 --json rules add win --source 198.18.0.7 --algorithm sliding_window --limit 600 --window 1m
run 0 rules list
grep -qE "^ +[0-9]+ +web +runtime +limit +198\.18\.0\.4/30 +tcp +80,8000-8080 +block 30s +token_bucket 1000/s burst 2000 per /24$" <<<"$OUT" ||
    { echo "$OUT"; fail "rules list: row for web"; }
grep -qE " dns +runtime +limit +198\.18\.0\.6/32 +udp +- +drop +gcra 100/s burst 20$" <<<"$OUT" ||
    { echo "$OUT"; fail "rules list: row for dns"; }
grep -qE " win +runtime +limit +198\.18\.0\.7/32 +any +- +drop +sliding_window 600 per 1m$" <<<"$OUT" ||
    { echo "$OUT"; fail "rules list: row for win"; }
run 0 --json rules list
jqe "$OUT" '.rules[] | select(.name == "web") | .origin == "runtime" and .tiers[0].packets == "1000/s"
    and .tiers[0].burst_packets == 2000 and .tiers[0].prefix_v4 == 24 and .ports == ["80", "8000-8080"]
    and .proto == "tcp" and .on_exceed == "block" and .block_ns == 30000000000' "rules list --json web"
run 1 rules add web --source 198.18.0.4/30 --rate 10/s
contains "$ERR" "ratelimitctl: rules.add: a rule named 'web' exists" "duplicate rule is the daemon's error"
run 0 rules delete web
contains "$OUT" "deleted rule web" "rules delete"
run 0 --json rules delete dns
jqe "$OUT" '.generation > 0' "rules delete --json"
run 0 rules delete win
run 0 --json rules list
jqe "$OUT" '[.rules[].name] | (index("web") == null and index("dns") == null and index("lab") != null)' "deleted rules are gone"
run 1 rules delete web
contains "$ERR" "ratelimitctl: rules.delete: no rule named 'web'" "delete of a missing rule"
ok "rules list/add/delete (text and --json)"

# ---------------------------------------------------------------- allow / deny / acl list
run 0 allow add 198.18.0.5 --ttl 10m
contains "$OUT" "allow 198.18.0.5 added for 10m" "allow add"
run 0 --json deny add 198.18.0.6/31
jqe "$OUT" '(.name | type) == "string" and .expires_at == 0' "deny add --json"
run 0 acl list
grep -qE "^allow +198\.18\.0\.5/32 +(10m|9m5[0-9]s)$" <<<"$OUT" || { echo "$OUT"; fail "acl list: allow row"; }
grep -qE "^deny +198\.18\.0\.6/31 +never$" <<<"$OUT" || { echo "$OUT"; fail "acl list: deny row"; }
run 0 --json acl list
jqe "$OUT" '(.entries[] | select(.cidr == "198.18.0.5/32") | .list == "allow" and .expires_in_s > 590 and .expires_in_s <= 600)
    and (.entries[] | select(.cidr == "198.18.0.6/31") | .list == "deny")' "acl list --json"
run 0 allow remove 198.18.0.5
contains "$OUT" "allow 198.18.0.5 removed" "allow remove"
run 0 --json deny remove 198.18.0.6/31
run 1 deny remove 198.18.0.6/31
contains "$ERR" "ratelimitctl: acl.remove:" "removing a missing entry"
run 0 acl list
contains "$OUT" "no allow/deny entries" "acl list empty"
run 0 --json acl list
jqe "$OUT" '.entries == []' "acl list --json empty"
ok "allow/deny add/remove, acl list (text and --json)"

# ---------------------------------------------------------------- traffic: events, keys, stats, top
run 0 --json stats
STATS0="$OUT"
lab_pkts() { jq '[.rules[] | select(.name == "lab") | .reasons[] | .packets] | add' <<<"$1"; }
lab_drops() { jq '.rules[] | select(.name == "lab") | .reasons.rate.packets' <<<"$1"; }

start_stream "$WORK/events.txt" "$CTL" --socket "$SOCK" events
EV_TXT=$STREAM_PID
start_stream "$WORK/events.json" "$CTL" --socket "$SOCK" --json events
EV_JSON=$STREAM_PID
sleep 0.5
got=$(pings 60)
[ "$got" -lt 60 ] || fail "60 pings at 2 ms against 5/s burst 5 all got through"
stop_stream "$WORK/events.json" 1 TERM "events --json"
STREAM_PID=$EV_TXT
stop_stream "$WORK/events.txt" 1 INT "events"
grep -qE "LIMIT_START +$ADDR_S/32 +rule lab tier 0 +reason rate" "$WORK/events.txt" ||
    { cat "$WORK/events.txt"; fail "events: no LIMIT_START line for $ADDR_S"; }
jq -se "map(select(.type == \"limit_start\" and .addr == \"$ADDR_S\" and .rule == \"lab\")) | length > 0" \
    "$WORK/events.json" >/dev/null || { cat "$WORK/events.json"; fail "events --json: no limit_start"; }
ok "events: $(grep -m1 LIMIT_START "$WORK/events.txt"); Ctrl-C exits 0"

run 0 keys show "$ADDR_S"
contains "$OUT" "$ADDR_S matches: lab (limit)" "keys show: matching rules"
grep -qE "^lab +0 +$ADDR_S/32 +token_bucket +[0-9]+(ms|s) ago +- +[0-9]+/5 packets left" <<<"$OUT" ||
    { echo "$OUT"; fail "keys show: state row"; }
run 0 --json keys show "$ADDR_S"
jqe "$OUT" ".keys[0].rule == \"lab\" and .keys[0].prefix == \"$ADDR_S/32\" and .keys[0].state.capacity_packets == 5
    and .keys[0].last_seen_ago_s >= 0" "keys show --json"
run 0 keys show 198.18.0.3
contains "$OUT" "no state" "keys show for a silent address"
ok "keys show (text and --json)"

run 0 --json stats
STATS1="$OUT"
[ "$(lab_pkts "$STATS1")" -ge "$(( $(lab_pkts "$STATS0") + 60 ))" ] ||
    fail "stats: lab counted $(lab_pkts "$STATS0") -> $(lab_pkts "$STATS1") packets for 60 sent"
[ "$(lab_drops "$STATS1")" -gt "$(lab_drops "$STATS0")" ] || fail "stats: no rate drops counted for lab"
run 0 stats
grep -qE "^lab +[0-9.kM]+ +0 +[0-9.kM]+ +0 +0 +[0-9.]+ [KMG]?i?B$" <<<"$OUT" || { echo "$OUT"; fail "stats: lab row"; }
contains "$OUT" "key_insert" "stats: global counters"
ok "stats: lab packets $(lab_pkts "$STATS0") -> $(lab_pkts "$STATS1"), rate drops $(lab_drops "$STATS0") -> $(lab_drops "$STATS1")"

# stats --watch: JSON lines with --json, live table otherwise (not a tty: frames in sequence)
start_stream "$WORK/watch.json" "$CTL" --socket "$SOCK" --json stats --watch --interval 200ms
stop_stream "$WORK/watch.json" 3 TERM "stats --watch --json"
jq -se 'all(.[]; (.rules | length) > 0 and has("rates"))' "$WORK/watch.json" >/dev/null ||
    { cat "$WORK/watch.json"; fail "stats --watch --json lines"; }
start_stream "$WORK/watch.txt" "$CTL" --socket "$SOCK" stats --watch --interval 200ms
wait_lines "$WORK/watch.txt" 1 || fail "stats --watch: no output within 10 s"
pings 100 >/dev/null
sleep 0.5
stop_stream "$WORK/watch.txt" 1 INT "stats --watch"
contains "$(cat "$WORK/watch.txt")" "PASS/S" "stats --watch header"
grep -qE "^lab +[0-9.k]+ +[1-9][0-9.k]* " "$WORK/watch.txt" || { cat "$WORK/watch.txt"; fail "stats --watch: lab with a pass rate"; }
ok "stats --watch: $(wc -l <"$WORK/watch.json") JSON lines; text frames with rates; Ctrl-C exits 0"

# top: while a bounded flood runs, the sender is the top talker
pings 1000 >/dev/null &
FLOOD=$!
BG_PIDS+=("$FLOOD")
sleep 1
run 0 --json top --once -n 5
TOP1="$OUT"
run 0 top --once --sort packets
TOP2="$OUT"
start_stream "$WORK/top.json" "$CTL" --socket "$SOCK" --json top --interval 200ms -n 3
stop_stream "$WORK/top.json" 3 TERM "top --json"
start_stream "$WORK/top.txt" "$CTL" --socket "$SOCK" top --interval 200ms
stop_stream "$WORK/top.txt" 8 INT "top (live)"
wait "$FLOOD"
jqe "$TOP1" ".talkers[0].addr == \"$ADDR_S\" and .talkers[0].rule == \"lab\" and .talkers[0].drops_ps > 0" "top --once --json"
grep -qE "^$ADDR_S +lab +[0-9.k]+ +[0-9.k]+ +[0-9.]+% +[0-9.]+ [kM]?bit/s$" <<<"$TOP2" ||
    { echo "$TOP2"; fail "top --once: row for $ADDR_S"; }
jq -se "map(select(.talkers[0].addr == \"$ADDR_S\")) | length > 0" "$WORK/top.json" >/dev/null ||
    { cat "$WORK/top.json"; fail "top --json stream never showed $ADDR_S"; }
grep -q "^$ADDR_S " "$WORK/top.txt" || { cat "$WORK/top.txt"; fail "top live never showed $ADDR_S"; }
ok "top: --once, --json stream and live view list $ADDR_S"

# On a terminal (a pty from script(1)) the live view uses the alternate screen
# and Ctrl-C restores the terminal: cursor shown, main screen back, exit 0.
cat >"$WORK/tty-top.sh" <<SH
echo \$\$ >"$WORK/tty.pid"
exec "$CTL" --socket "$SOCK" top --interval 200ms
SH
start_stream "$WORK/tty.out" script -qfec "bash $WORK/tty-top.sh" /dev/null
for _ in $(seq 1 100); do
    [ "$(grep -c "top sources by drops" "$WORK/tty.out")" -ge 2 ] && break
    sleep 0.1
done
[ "$(grep -c "top sources by drops" "$WORK/tty.out")" -ge 2 ] || fail "top on a tty: fewer than 2 frames in 10 s"
kill -INT "$(cat "$WORK/tty.pid")"
rc=0
wait "$STREAM_PID" || rc=$?
[ $rc -eq 0 ] || { cat -v "$WORK/tty.out" | tail -5; fail "top on a tty exited $rc on SIGINT"; }
head -c 14 "$WORK/tty.out" | grep -qF $'\e[?1049h\e[?25l' || { cat -v "$WORK/tty.out" | head -3; fail "top on a tty: no alternate screen"; }
[ "$(tail -c 14 "$WORK/tty.out")" = $'\e[?25h\e[?1049l' ] || { cat -v "$WORK/tty.out" | tail -3; fail "top on a tty: terminal not restored after Ctrl-C"; }
ok "top on a tty: alternate screen, $(grep -c "top sources by drops" "$WORK/tty.out") frames, terminal restored on Ctrl-C"

# ---------------------------------------------------------------- reload
run 0 --json rules list
BEFORE_RULES=$(jq -cS .rules <<<"$OUT")
GEN0=$("$CTL" --socket "$SOCK" --json status | jq .generation)
run 1 reload --config "$BAD"
contains "$ERR" "ratelimitctl: reload:" "reload error"
contains "$ERR" "$BAD:6:5:" "reload error location"
contains "$ERR" "nothing was applied" "reload error says nothing changed"
run 0 --json rules list
[ "$(jq -cS .rules <<<"$OUT")" = "$BEFORE_RULES" ] || fail "rules changed after a failed reload"
run 1 --json reload --config "$BAD"
run 0 reload --config "$GOOD"
contains "$OUT" "reloaded $GOOD (generation " "reload"
# the configured file itself broken: errors located in it, nothing applied
cp "$GOOD" "$WORK/good.bak"
cp "$BAD" "$GOOD"
run 1 reload
contains "$ERR" "$GOOD:6:5: unknown key 'brust'" "reload of the configured file: error location"
cp "$WORK/good.bak" "$GOOD"
run 0 --json rules list
[ "$(jq -cS .rules <<<"$OUT")" = "$BEFORE_RULES" ] || fail "rules changed after a failed reload"
run 0 --json reload
jqe "$OUT" ".generation > $GEN0" "reload --json"
ok "reload: invalid config exit 1 + rules unchanged; valid reload bumps generation"

# ---------------------------------------------------------------- config check on the daemon
run 1 config check --daemon "$BAD"
contains "$ERR" "$BAD:6:5:" "config check --daemon"
run 0 --json config check --daemon "$GOOD"
jqe "$OUT" '.valid == true' "config check --daemon --json"
ok "config check --daemon"

# ---------------------------------------------------------------- attach / detach
run 0 attach "$IF_X" --mode generic
grep -qE "^attached to $IF_X \(ifindex [0-9]+, generic mode, prog [0-9]+\)$" <<<"$OUT" || { echo "$OUT"; fail "attach"; }
run 0 --json status
jqe "$OUT" "(.interfaces | map(.name) | index(\"$IF_X\")) != null" "status lists the attached interface"
run 0 detach "$IF_X"
contains "$OUT" "detached from $IF_X" "detach"
run 0 --json attach "$IF_X" --mode generic
jqe "$OUT" '.ifindex > 0 and .mode == "generic" and .prog_id > 0' "attach --json"
run 0 --json detach "$IF_X"
jqe "$OUT" '. == {}' "detach --json"
run 1 detach "$IF_X"
contains "$ERR" "ratelimitctl: detach:" "detach of a detached interface"
run 1 attach "${TAG}nope"
contains "$ERR" "ratelimitctl: attach:" "attach to a missing interface"
run 2 detach "$IF_X" --all
run 2 detach
run 0 detach --all
contains "$OUT" "detached from every interface" "detach --all"
run 0 --json status
jqe "$OUT" '[.interfaces[] | select(.attached)] | length == 0' "nothing attached after detach --all"
[ -z "$(ip -n "$NS_D" -j link show "$IF_D" | jq -r '.[0].xdp.prog.id // empty')" ] || fail "XDP still on $IF_D"
ok "attach/detach (text and --json), detach --all"

echo "PASS: ratelimitctl round trip against ratelimitd"
