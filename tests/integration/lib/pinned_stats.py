#!/usr/bin/python3
"""Reads ratelimit's counters and penalty box straight from the maps the daemon
pinned (bpftool), so that tests can check them while the daemon is down.

    pinned_stats.py PIN_DIR stats     {"<rule name or id>": {"id": N, "<reason>": packets, ...}, ...}
    pinned_stats.py PIN_DIR blocks    [{"addr": "198.18.4.1", "rule_id": N, "until_ns": N}, ...]
    pinned_stats.py PIN_DIR state     [{"addr", "rule_id", "tier", "prefix", "w0", "w1", "meta"}, ...]
    pinned_stats.py PIN_DIR check BEFORE.json RULE:SENT:ARRIVED ...
        asserts, per rule, that the counters grew since BEFORE.json (an earlier
        `stats` output, or {} ) by exactly SENT packets over all reasons and by
        exactly ARRIVED packets with reason pass; exit 1 otherwise

Reason names come from RL_REASON_NAMES in include/ratelimit/abi.h (found
relative to this file), the one definition.
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys



def reason_names():
    abi = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../include/ratelimit/abi.h")
    text = open(abi).read()
    m = re.search(r"#define RL_REASON_NAMES\s*\\\s*\{(.*?)\}", text, re.S)
    if not m:
        raise SystemExit("pinned_stats: RL_REASON_NAMES not found in " + abi)
    return re.findall(r'"([a-z_]+)"', m.group(1))


REASONS = reason_names()


def dump(path):
    out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", path], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def key_int(entry):
    return int.from_bytes(bytes(int(b, 16) for b in entry["key"]), "little")


def raw_bytes(v):
    return bytes(int(b, 16) for b in v)


def rule_names(pin):
    names = {}
    try:
        for e in dump(pin + "/rl_rulemeta"):
            raw = raw_bytes(e["value"])[:48]
            name = raw.split(b"\0", 1)[0].decode(errors="replace")
            if name:
                names[key_int(e)] = name
    except (subprocess.CalledProcessError, FileNotFoundError, KeyError):
        pass
    return names


def stats(pin):
    n = len(REASONS)
    names = rule_names(pin)
    out = {}
    for e in dump(pin + "/rl_stats"):
        k = key_int(e)
        rule, reason = divmod(k, n)
        pkts = 0
        for cpu in e["values"]:
            pkts += struct.unpack_from("<Q", raw_bytes(cpu["value"]), 0)[0]
        if not pkts:
            continue
        label = names.get(rule, str(rule))
        d = out.setdefault(label, {"id": rule})
        d[REASONS[reason]] = d.get(REASONS[reason], 0) + pkts
    return out


def blocks(pin):
    res = []
    for e in dump(pin + "/rl_block4"):
        kb = raw_bytes(e["key"])
        vb = raw_bytes(e["value"])
        addr = socket.inet_ntoa(kb[0:4])
        rule_id = struct.unpack_from("<H", kb, 4)[0]
        until, since = struct.unpack_from("<QQ", vb, 0)
        res.append({"addr": addr, "rule_id": rule_id, "tier": kb[6], "prefix": kb[7],
                    "until_ns": until, "since_ns": since})
    return res


def state(pin):
    res = []
    for e in dump(pin + "/rl_state4"):
        kb, vb = raw_bytes(e["key"]), raw_bytes(e["value"])
        w0, w1, seen, meta = struct.unpack_from("<QQII", vb, 0)
        res.append({"addr": socket.inet_ntoa(kb[0:4]), "rule_id": struct.unpack_from("<H", kb, 4)[0],
                    "tier": kb[6], "prefix": kb[7], "w0": w0, "w1": w1, "meta": meta})
    return res


def check(pin, before_path, specs):
    before = json.load(open(before_path))
    now = stats(pin)
    ok = True
    print("%-10s %9s %9s %11s %9s %9s  %s" % ("rule", "sent", "arrived", "counted", "pass", "other", "verdict"))
    for spec in specs:
        rule, sent, arrived = spec.rsplit(":", 2)
        sent, arrived = int(sent), int(arrived)
        a, b = now.get(rule, {}), before.get(rule, {})
        delta = {r: a.get(r, 0) - b.get(r, 0) for r in REASONS}
        total = sum(delta.values())
        other = {r: v for r, v in delta.items() if v and r != "pass"}
        fails = []
        if total != sent:
            fails.append("counted %d != sent %d" % (total, sent))
        if delta["pass"] != arrived:
            fails.append("pass %d != arrived %d" % (delta["pass"], arrived))
        ok = ok and not fails
        print("%-10s %9d %9d %11d %9d %9s  %s" % (rule, sent, arrived, total, delta["pass"],
              ",".join("%s=%d" % kv for kv in sorted(other.items())) or "-",
              "ok" if not fails else "FAIL: " + "; ".join(fails)))
    return 0 if ok else 1


def main(argv):
    if len(argv) >= 4 and argv[2] == "check":
        return check(argv[1], argv[3], argv[4:])
    cmds = {"stats": stats, "blocks": blocks, "state": state}
    if len(argv) != 3 or argv[2] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(cmds[argv[2]](argv[1]), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
