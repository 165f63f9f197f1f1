#!/usr/bin/python3
"""Measures when, relative to the sender's stamps, the XDP program reads its
clock, using the real program's own state: a probe source sends exactly ONE
packet into a token-bucket rule; its key starts with a full bucket (TAT in the
past), so after that packet TAT = now + T exactly (bpf/lib/vtime.h), and
now = bpf_ktime_get_ns() of that packet = (TAT_q - T_q) >> RL_TIME_SHIFT.

    xdp_clock.py PIN_DIR OUTDIR RULE_ID T_NS SRC...

Prints one JSON object: {"offset_ns": median(xdp - t_before), "n", "min", "p10", "max",
"after_t1": how many probes ran XDP after sendto() returned, "samples": [...]}.
The replay uses clock offset:<offset_ns>: t_before + offset, clamped to [t_before, t_after].
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pinned_stats  # noqa: E402

RL_TIME_SHIFT = 6  # include/ratelimit/abi.h


def main(argv):
    if len(argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    pin, out, rule_id, t_ns, srcs = argv[1], argv[2], int(argv[3]), int(argv[4]), argv[5:]
    tat = {e["addr"]: e["w0"] for e in pinned_stats.state(pin) if e["rule_id"] == rule_id and e["tier"] == 0}
    samples = []
    for s in srcs:
        try:
            rows = [l.split() for l in open("%s/%s.send" % (out, s))]
        except FileNotFoundError:
            continue
        if len(rows) != 1 or s not in tat:
            continue
        t0, t1 = int(rows[0][1]), int(rows[0][2])
        xdp = (tat[s] - (t_ns << RL_TIME_SHIFT)) >> RL_TIME_SHIFT
        samples.append({"src": s, "xdp_minus_t0": xdp - t0, "t1_minus_t0": t1 - t0})
    if not samples:
        print(json.dumps({"error": "no probe found in rl_state4"}))
        return 1
    d = sorted(x["xdp_minus_t0"] for x in samples)
    n = len(d)
    res = {"offset_ns": d[n // 2], "n": n, "min": d[0], "p10": d[n // 10], "p90": d[(n * 9) // 10],
           "max": d[-1], "after_t1": sum(1 for x in samples if x["xdp_minus_t0"] > x["t1_minus_t0"]),
           "before_t0": sum(1 for x in samples if x["xdp_minus_t0"] < 0), "samples": samples}
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
