#!/usr/bin/env python3
"""Per-packet cost split of the cost bench, from `perf record -g` of its CPU.

usage: perfsplit.py PERF_DATA COST_CSV [TOP]

The cost bench's paired rounds run XDP_DROP, gcra_min and the shipped program
for `repeat` packets each, in turn. The samples whose stack holds a program's
JIT frame come in runs of that program: the shipped program's last `runs` runs
(its warm-up pass, if sampled, comes before them), each with its gcra_min run
right before it. Their samples, times the sampling period, over their packets,
give ns per packet per function; kernel helpers are named with their caller.
Samples without a program frame (the driver's tail call, the test-run loop) are
not split: "outside the program" is the measured ns/packet (COST_CSV) minus
what the program's frames account for. (Whole-window percentages would compare
the programs by how many of their runs the window happened to catch.)
"""
import csv
import collections
import statistics
import subprocess
import sys

PROGS = (("rl_xdp", "ratelimit"), ("gcra_min", "gcra_min"))
HELPERS = ("lookup_nulls_elem_raw", "read_tsc", "ktime_get_mono_fast_ns", "__htab_map_lookup_elem",
           "htab_map_hash", "memcmp", "trie_lookup_elem", "bpf_lru_pop_free")


def short(sym):
    """bpf_prog_<tag>_name -> name"""
    if sym.startswith("bpf_prog_") and len(sym) > 26 and sym[25] == "_":
        return sym[26:]
    return sym


def samples(data):
    """(period ns, frames leaf first) per sample"""
    out = subprocess.run(["perf", "script", "-i", data, "-F", "period,ip,sym"], check=True,
                         capture_output=True, text=True).stdout
    for block in out.split("\n\n"):
        lines = block.strip().splitlines()
        if len(lines) < 2:
            continue
        frames = [ln.split()[1] for ln in lines[1:] if len(ln.split()) > 1]
        yield int(lines[0].split()[0]), frames


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    data, cost_csv = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    rows = {}
    for r in csv.DictReader(open(cost_csv)):
        if r["phase"] != "warm":
            continue
        if r["program"] in rows:
            sys.exit("perfsplit: more than one warm row of " + r["program"] + " (profile one case)")
        rows[r["program"]] = r
    if not rows:
        sys.exit("perfsplit: no warm rows in " + cost_csv)

    runs = []  # [program, [(period, frames)...]]; samples without a program frame are skipped
    for period, frames in samples(data):
        prog = next((name for key, name in PROGS if any(key in f for f in frames)), None)
        if prog is None:
            continue
        if runs and runs[-1][0] == prog:
            runs[-1][1].append((period, frames))
        else:
            runs.append([prog, [(period, frames)]])

    # the paired rounds: XDP_DROP, gcra_min, the shipped program, each for
    # `repeat` packets; the shipped program's last `runs` runs are they (its
    # warm-up pass, one packet per source, comes before them if it was
    # sampled), each with its gcra_min run right before it. (gcra_min's own
    # rows ran back to back earlier: no program frame in between splits them.)
    if "ratelimit" not in rows or "gcra_min" not in rows:
        sys.exit("perfsplit: want the warm rows of ratelimit and gcra_min in " + cost_csv)
    n_runs = int(rows["ratelimit"]["runs"])
    idx = [i for i, r in enumerate(runs) if r[0] == "ratelimit"][-n_runs:]
    paired = {"ratelimit": [runs[i][1] for i in idx],
              "gcra_min": [runs[i - 1][1] for i in idx if i > 0 and runs[i - 1][0] == "gcra_min"]}

    print(f"{'ns/pkt':>8}  function (helpers: <- caller)")
    for prog in ("ratelimit", "gcra_min"):
        mine = paired[prog]
        if not mine:
            sys.exit(f"perfsplit: no sampled run of {prog}")
        # far from the median: a run cut short by the sampling window, or
        # gcra_min's first paired run merged with its own rows' runs (when
        # the warm-up pass between them was too short to be sampled)
        median = statistics.median(len(r) for r in mine)
        kept = [r for r in mine if abs(len(r) - median) <= 0.2 * median]
        if not kept:
            sys.exit(f"perfsplit: no two runs of {prog} alike in length (more runs?)")
        packets = len(kept) * int(rows[prog]["repeat"])
        count = collections.Counter()
        for run in kept:
            for period, frames in run:
                leaf = short(frames[0])
                if leaf in HELPERS and len(frames) > 1:
                    leaf += " <- " + short(frames[1])
                count[leaf] += period
        measured = int(rows[prog]["ns_per_pkt"])
        print(f"== {prog}: {measured} ns/pkt measured; {len(kept)} runs of ~{median:.0f} samples")
        for name, ns in count.most_common(top):
            print(f"{ns / packets:8.1f}  {name}")
        rest = sum(ns for _, ns in count.most_common()[top:]) / packets
        if rest:
            print(f"{rest:8.1f}  (the program's other functions)")
        inside = sum(count.values()) / packets
        print(f"{measured - inside:8.1f}  outside the program (driver, test-run loop), by difference")


if __name__ == "__main__":
    main()
