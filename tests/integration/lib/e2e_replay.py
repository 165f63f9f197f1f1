#!/usr/bin/python3
"""Replays recorded send times through exact reference meters and compares
them with what the receiver saw (what ratelimit's XDP program let through).

    e2e_replay.py --dir DIR [--dir DIR2 ...] [--clock before|after] [--count-tolerance 1]
                  [--max-mismatch-frac 0.02] [--json OUT]
                  SRC=SPEC ...

DIR holds <SRC>.send ("seq t_before_ns t_after_ns", rl_sender) and <SRC>.recv
(one arrived seq per line, rl_receiver) and receiver.summary. With several
--dir (phases of one test, e.g. before and after a daemon restart), a source's
packets from all of them form one timeline through one meter: the meter must
behave as if nothing had happened in between.

SPEC, one independent meter per source (the rules key per /32):
    tb:COUNT:PERIOD_NS:BURST     token bucket, COUNT tokens per PERIOD_NS, depth BURST,
                                 starts full, one token per packet
    gcra:COUNT:PERIOD_NS:BURST   GCRA (ITU-T I.371 virtual scheduling), T = PERIOD_NS/COUNT,
                                 tau = (BURST-1)*T
    sw:LIMIT:WINDOW_NS           sliding window (previous window weighted by overlap)
    fw:LIMIT:WINDOW_NS           fixed window
    tbblock:COUNT:PERIOD_NS:BURST:BLOCK_NS
                                 token bucket whose first non-conforming packet puts the
                                 source in a penalty box: everything is dropped (and nothing
                                 charged) for BLOCK_NS from that packet
    all                          no limit: every packet must arrive
    none                         blocked: no packet may arrive

The meters here are written from the textbook definitions, not from bpf/lib:
all arithmetic is on Python integers (exact, unbounded), times in ns scaled so
that no division is ever needed.

Clock: each packet has two CLOCK_MONOTONIC stamps, before and after sendto().
The XDP program's bpf_ktime_get_ns() falls between them, near the end: on veth
the program runs in the NAPI poll that the softirq at the end of the transmit
path executes, so "after" (the default) is the closer estimate; the gap between
the stamps is ~5-15 us, mostly the sender's UDP/IP transmit path before XDP.
The report also shows what the meter admits with the other stamp.

Per source it asserts:
  1. |arrived - admitted_by_exact_meter| <= --count-tolerance;
  2. packets that arrived but the meter rejects, plus packets the meter admits
     that did not arrive, are at most --max-mismatch-frac of packets sent (the
     XDP program stamps arrival a few microseconds after the sender's stamp, so
     a packet right at a conformance boundary may go either way);
  3. the receiver saw no duplicates and no socket drops (else "did not arrive"
     would not mean "dropped by XDP").
Exit status 0 if every assertion holds, 1 otherwise. Prints one table line per source.
"""
import argparse
import json
import sys


class TokenBucket:
    """Classic token bucket: tokens accrue at COUNT/PERIOD per ns up to BURST;
    a packet conforms if at least one whole token is present, and takes it.
    Tokens are kept multiplied by PERIOD_NS so that accrual is dt * COUNT."""

    def __init__(self, count, period_ns, burst):
        self.count, self.period, self.cap = count, period_ns, burst * period_ns
        self.tokens = None
        self.last = None

    def offer(self, t):
        if self.tokens is None:
            self.tokens, self.last = self.cap, t  # a new key starts with a full bucket
        if t > self.last:
            self.tokens = min(self.cap, self.tokens + (t - self.last) * self.count)
            self.last = t
        if self.tokens >= self.period:
            self.tokens -= self.period
            return True
        return False


class Gcra:
    """I.371 virtual scheduling algorithm. Times are multiplied by COUNT so that
    T = PERIOD_NS/COUNT becomes the integer PERIOD_NS."""

    def __init__(self, count, period_ns, burst):
        self.count = count
        self.T = period_ns
        self.tau = (burst - 1) * period_ns
        self.tat = None

    def offer(self, t):
        ta = t * self.count
        if self.tat is None:
            self.tat = ta  # first cell: TAT = ta(1)
        if self.tat > ta + self.tau:
            return False  # non-conforming; TAT unchanged
        self.tat = max(ta, self.tat) + self.T
        return True


class Window:
    """Fixed or sliding window counter. The first packet opens a window at its
    arrival; later windows follow back to back, or a new one opens at the packet
    if a whole window passed with nothing. Sliding: the previous window's count
    weighs by the fraction of it still inside the last W ns:
        prev * (W - e) / W + cur + 1 <= limit   (e = time since window start)."""

    def __init__(self, limit, window_ns, sliding):
        self.limit, self.W, self.sliding = limit, window_ns, sliding
        self.start = None
        self.cur = self.prev = 0

    def offer(self, t):
        if self.start is None:
            self.start = t
        e = t - self.start if t > self.start else 0
        if e >= 2 * self.W:
            self.start, self.cur, self.prev = t, 0, 0
        elif e >= self.W:
            self.start, self.prev, self.cur = self.start + self.W, self.cur, 0
        e = t - self.start if t > self.start else 0
        if self.cur + 1 > self.limit:
            return False
        if self.sliding and self.prev * (self.W - min(e, self.W)) + (self.cur + 1) * self.W > self.limit * self.W:
            return False
        self.cur += 1
        return True


class BlockingBucket:
    """Token bucket plus penalty box (on_exceed: block)."""

    def __init__(self, count, period_ns, burst, block_ns):
        self.tb = TokenBucket(count, period_ns, burst)
        self.block_ns = block_ns
        self.until = None

    def offer(self, t):
        if self.until is not None and t < self.until:
            return False
        if self.tb.offer(t):
            return True
        self.until = t + self.block_ns
        return False


class Fixed:
    def __init__(self, verdict):
        self.verdict = verdict

    def offer(self, t):
        return self.verdict


def make_meter(spec):
    p = spec.split(":")
    kind = p[0]
    if kind == "tb" and len(p) == 4:
        return TokenBucket(int(p[1]), int(p[2]), int(p[3]))
    if kind == "gcra" and len(p) == 4:
        return Gcra(int(p[1]), int(p[2]), int(p[3]))
    if kind in ("sw", "fw") and len(p) == 3:
        return Window(int(p[1]), int(p[2]), kind == "sw")
    if kind == "tbblock" and len(p) == 5:
        return BlockingBucket(int(p[1]), int(p[2]), int(p[3]), int(p[4]))
    if kind == "all" and len(p) == 1:
        return Fixed(True)
    if kind == "none" and len(p) == 1:
        return Fixed(False)
    raise SystemExit("e2e_replay: bad meter spec %r" % spec)


def read_send(path):
    rows = []
    with open(path) as f:
        for line in f:
            seq, t0, t1 = line.split()
            rows.append((int(seq), int(t0), int(t1)))
    return rows


def read_recv(path):
    try:
        with open(path) as f:
            return [int(x) for x in f if x.strip()]
    except FileNotFoundError:
        return []  # nothing from this source arrived


def read_summary(path):
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            out[parts[0]] = [int(x) for x in parts[1:]]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, action="append")
    ap.add_argument("--clock", choices=["before", "after"], default="after")
    ap.add_argument("--count-tolerance", type=int, default=1)
    ap.add_argument("--max-mismatch-frac", type=float, default=0.02)
    ap.add_argument("--json")
    ap.add_argument("sources", nargs="+", metavar="SRC=SPEC")
    a = ap.parse_args()

    summaries = [read_summary(d + "/receiver.summary") for d in a.dir]
    ok = True
    results = []
    for d, summary in zip(a.dir, summaries):
        if summary.get("socket_drops", [0])[0] != 0:
            print("FAIL %s: receiver socket drops: %d (arrivals cannot be trusted)" % (d, summary["socket_drops"][0]))
            ok = False
    print("%-14s %-28s %7s %9s %9s %6s %9s %9s  %s" % (
        "source", "meter", "sent", "arrived", "exact", "diff", "only_xdp", "only_ref", "verdict"))
    for item in a.sources:
        src, spec = item.split("=", 1)
        # packet identity: (phase, seq); rows: (id, t_before, t_after)
        sent, arrived, dups = [], set(), 0
        for i, d in enumerate(a.dir):
            try:
                rows = read_send("%s/%s.send" % (d, src))
            except FileNotFoundError:
                continue  # this source did not send in this phase
            sent += [((i, q), t0, t1) for q, t0, t1 in rows]
            arrived |= {(i, q) for q in read_recv("%s/%s.recv" % (d, src))}
            dups += summaries[i].get(src, [0, 0])[1]
        meter = make_meter(spec)
        col = 1 if a.clock == "before" else 2
        admitted = set()
        for row in sent:
            if meter.offer(row[col]):
                admitted.add(row[0])
        # the other clock, for the report only
        meter2 = make_meter(spec)
        admitted_other = sum(1 for row in sent if meter2.offer(row[3 - col]))
        diff = len(arrived) - len(admitted)
        only_xdp = len(arrived - admitted)
        only_ref = len(admitted - arrived)
        unknown = len(arrived - {r[0] for r in sent})
        fails = []
        if abs(diff) > a.count_tolerance:
            fails.append("count differs by %d > %d" % (diff, a.count_tolerance))
        limit = max(2, int(a.max_mismatch_frac * len(sent)))
        if only_xdp + only_ref > limit:
            fails.append("%d per-packet mismatches > %d" % (only_xdp + only_ref, limit))
        if dups or unknown:
            fails.append("%d duplicates, %d unknown seqs" % (dups, unknown))
        if not sent:
            fails.append("nothing sent")
        verdict = "ok" if not fails else "FAIL: " + "; ".join(fails)
        ok = ok and not fails
        print("%-14s %-28s %7d %9d %9d %+6d %9d %9d  %s" % (
            src, spec, len(sent), len(arrived), len(admitted), diff, only_xdp, only_ref, verdict))
        results.append({"source": src, "meter": spec, "sent": len(sent), "arrived": len(arrived),
                        "exact": len(admitted), "exact_other_clock": admitted_other, "diff": diff,
                        "only_xdp": only_xdp, "only_ref": only_ref, "ok": not fails})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
