#!/usr/bin/python3
"""Reads ratelimit's counters and penalty box straight from the maps the daemon
pinned (bpftool), so that tests can check them while the daemon is down.

    pinned_stats.py PIN_DIR stats     {"<rule name or id>": {"id": N, "<reason>": packets, ...}, ...}
    pinned_stats.py PIN_DIR blocks    [{"addr": "198.18.4.1", "rule_id": N, "until_ns": N}, ...]

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


def main(argv):
    if len(argv) != 3 or argv[2] not in ("stats", "blocks"):
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(stats(argv[1]) if argv[2] == "stats" else blocks(argv[1]), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
