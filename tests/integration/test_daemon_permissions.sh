#!/usr/bin/env bash
# SO_PEERCRED checks: anyone who can connect may read; mutating commands need
# uid 0 or membership of control.group. A refused command changes nothing.
RL_TEST_NAME=perm
source "$(dirname "$0")/daemon_lib.sh"
command -v useradd >/dev/null || skip "useradd missing"
command -v runuser >/dev/null || skip "runuser missing"

GROUP="rltg$$"
USER_IN="rltu$$i"
USER_OUT="rltu$$o"
groupadd "$GROUP"
EXTRA_CLEANUP+=("groupdel $GROUP")
useradd -M -N -s /usr/sbin/nologin -G "$GROUP" "$USER_IN"
EXTRA_CLEANUP=("userdel $USER_IN" "${EXTRA_CLEANUP[@]}")
useradd -M -N -s /usr/sbin/nologin "$USER_OUT"
EXTRA_CLEANUP=("userdel $USER_OUT" "${EXTRA_CLEANUP[@]}")

make_netns
CFG="$WORK/ratelimit.yaml"
cat >"$CFG" <<YAML
version: 1
rules:
  - name: lab
    sources: [198.18.0.0/29]
    rate: 100/s
control:
  group: $GROUP
YAML
# 0666 so that a user outside the group can connect at all (read-only use)
start_daemon "$CFG" --socket-mode 0666

as() { local u=$1; shift; runuser -u "$u" -- python3 "$CLIENT" "$SOCK" "$@"; }
code() { jq -r '.error.code // "ok"' <<<"$1"; }

gen=$(rlr status | jq .generation)
for cmd in status rules.list acl.list stats; do
    out=$(as "$USER_OUT" "$cmd") || fail "$USER_OUT: $cmd refused: $out"
done
echo "ok: $USER_OUT may read (status, rules.list, acl.list, stats)"

# config.check by path: only files the peer could read itself (errors quote contents)
printf 'version: 1\nsecret: hunter2\n' >"$WORK/private.yaml"
chmod 600 "$WORK/private.yaml"
out=$(as "$USER_OUT" config.check "{\"path\":\"$WORK/private.yaml\"}") && fail "config.check of a private file: $out"
[ "$(code "$out")" = EPERM ] || fail "config.check private file: $out"
! grep -q hunter2 <<<"$out" || fail "contents leaked: $out"
chmod 644 "$WORK/private.yaml"
out=$(as "$USER_OUT" config.check "{\"path\":\"$WORK/private.yaml\"}") || fail "config.check readable file: $out"
[ "$(jq .result.valid <<<"$out")" = false ] || fail "config.check result: $out"
echo "ok: config.check by path limited to files the peer can read"

declare -A REQ=(
    [reload]='{}'
    [rules.add]='{"rule":{"name":"x","sources":["198.18.0.4/32"],"rate":"1/s"}}'
    [rules.delete]='{"name":"lab"}'
    [acl.add]='{"list":"deny","cidr":"198.18.0.5/32"}'
    [acl.remove]='{"list":"deny","cidr":"198.18.0.5/32"}'
    [attach]="{\"interface\":\"$IF_D\"}"
    [detach]="{\"interface\":\"$IF_D\"}"
)
for cmd in "${!REQ[@]}"; do
    out=$(as "$USER_OUT" "$cmd" "${REQ[$cmd]}") && fail "$USER_OUT: $cmd allowed: $out"
    [ "$(code "$out")" = EPERM ] || fail "$USER_OUT: $cmd: want EPERM: $out"
done
[ "$(rlr status | jq .generation)" = "$gen" ] || fail "a refused command changed the generation"
[ "$(attached_id)" != none ] || fail "a refused detach detached"
[ "$(rlr acl.list | jq '.entries | length')" = 0 ] || fail "a refused acl.add added"
echo "ok: $USER_OUT gets EPERM for ${!REQ[*]}; nothing changed"

out=$(as "$USER_IN" acl.add '{"list":"deny","cidr":"198.18.0.5/32"}') || fail "$USER_IN (in $GROUP): acl.add: $out"
[ "$(rlr acl.list | jq -r '.entries[0].cidr')" = 198.18.0.5/32 ] || fail "acl entry missing"
out=$(as "$USER_IN" acl.remove '{"list":"deny","cidr":"198.18.0.5/32"}') || fail "$USER_IN: acl.remove: $out"
echo "ok: $USER_IN (member of $GROUP) may change things"
stop_daemon
echo PASS
