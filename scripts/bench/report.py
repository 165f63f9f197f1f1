#!/usr/bin/python3
"""Turns the raw bench outputs into results.csv and results.md and prints the tables.

usage: report.py OUT_DIR
  reads  OUT_DIR/cost.csv (rl_bench cost), OUT_DIR/mem.csv (rl_bench mem, optional),
         OUT_DIR/e2e.csv (scripts/bench/e2e.sh, optional), OUT_DIR/daemon.csv
         (scripts/bench/daemon.sh, optional), OUT_DIR/meta.txt (optional)
  writes OUT_DIR/results.csv (long form: section,...,metric,value,unit) and results.md

Net cost = program ns/packet minus XDP_DROP's ns/packet for the same family and
number of sources (both run behind the same driver, so the driver cancels).
Ratio = net cost / net cost of gcra_min (the minimal per-source GCRA program).
For the shipped program's warm rows both baselines are paired: measured in the
same rounds, each run of the program right after a run of XDP_DROP and of
gcra_min (columns paired_drop_ns, paired_gm_ns), so slow drifts of a shared
machine cancel in the ratio.
"""
import csv
import os
import statistics
import sys

COST_FIELDS = ["family", "program", "meter", "scenario", "sources", "phase", "ns_per_pkt", "runs",
               "ns_min", "ns_max", "repeat", "drop_frac", "inserts_per_pkt", "verified_insns",
               "xlated_insns", "jited_bytes", "paired_drop_ns", "paired_gm_ns"]


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in csv.DictReader(line for line in f if not line.startswith("breakdown,"))]


def check_cost_rows(rows):
    """Raises ValueError unless every row is well formed (used by the smoke test)."""
    if not rows:
        raise ValueError("no cost rows")
    for r in rows:
        if list(r.keys()) != COST_FIELDS or None in r.values():
            raise ValueError(f"bad columns: {r}")
        if r["family"] not in ("4", "6") or r["phase"] not in ("warm", "cold"):
            raise ValueError(f"bad family/phase: {r}")
        for k in ("sources", "ns_per_pkt", "runs", "ns_min", "ns_max", "repeat", "verified_insns"):
            if not r[k].isdigit():
                raise ValueError(f"{k} not a number: {r}")
        for k in ("paired_drop_ns", "paired_gm_ns"):
            if r[k] and not r[k].isdigit():
                raise ValueError(f"{k} not a number: {r}")
        if r["program"] == "ratelimit" and r["phase"] == "warm" and not (r["paired_drop_ns"] and r["paired_gm_ns"]):
            raise ValueError(f"warm ratelimit row without paired baselines: {r}")
        if int(r["ns_per_pkt"]) <= 0 or not int(r["ns_min"]) <= int(r["ns_per_pkt"]) <= int(r["ns_max"]):
            raise ValueError(f"inconsistent times: {r}")
        if r["program"] == "ratelimit" and not 0.0 <= float(r["drop_frac"]) <= 1.0:
            raise ValueError(f"bad drop_frac: {r}")


def cost_table(rows):
    base = {(r["family"], r["sources"]): int(r["ns_per_pkt"])
            for r in rows if r["program"] == "xdp_drop" and r["phase"] == "warm"}
    gmin = {}
    for r in rows:
        if r["program"] == "gcra_min":
            b = base.get((r["family"], r["sources"]))
            if b is not None:
                gmin[(r["family"], r["sources"], r["phase"])] = int(r["ns_per_pkt"]) - b
    out = []
    for r in rows:
        b = base.get((r["family"], r["sources"]))
        g = gmin.get((r["family"], r["sources"], r["phase"]))
        if r.get("paired_drop_ns") and r.get("paired_gm_ns"):
            b = int(r["paired_drop_ns"])
            g = int(r["paired_gm_ns"]) - b
        ns = int(r["ns_per_pkt"])
        net = ns - b if b is not None else None
        ratio = (net / g) if (net is not None and g and g > 0 and r["program"] != "xdp_drop") else None
        out.append(dict(r, net_ns=net, ratio=ratio))
    return out


def e2e_ratios(groups, long_rows):
    """Issue targets from one run: drop capacity per core of ratelimit at the fewest sources
    against nft, hashlimit and XDP_DROP there, and its cost per packet (1 / pps per core)
    with the most sources against the fewest. Paired by run: e2e.sh measures every mode in
    each run, back to back, so each ratio is the median of the per-run ratios (in
    parentheses: the ratio of the per-mode medians)."""
    per_core = {k: statistics.median(float(x["rx_pps_per_core"]) for x in rs) for k, rs in groups.items()}
    per_run = {k: {x["run"]: float(x["rx_pps_per_core"]) for x in rs} for k, rs in groups.items()}

    def paired(a, b):
        ra, rb = per_run.get(a), per_run.get(b)
        if not ra or not rb:
            return None
        vals = [ra[r] / rb[r] for r in ra if r in rb and rb[r] > 0]
        return statistics.median(vals) if vals else None

    def of_medians(a, b):
        return per_core[a] / per_core[b] if per_core.get(a) and per_core.get(b) else None

    out = ["", "Ratios from this run (drop capacity per receiver core; cost per packet = 1 / that), "
           "median of the per-run ratios (in parentheses: ratio of the medians):", "",
           "| family | mode | sources | vs nft | vs hashlimit | vs XDP_DROP | cost per packet, most sources / fewest |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for fam in sorted({k[0] for k in per_core}):
        srcs = sorted({int(k[2]) for k in per_core if k[0] == fam})
        if not srcs:
            continue
        lo, hi = str(srcs[0]), str(srcs[-1])
        for mode in ("ratelimitd", "ratelimitd_admit", "ratelimit"):
            me = (fam, mode, lo)
            if not per_core.get(me):
                continue
            pairs = [(paired(me, (fam, o, lo)), of_medians(me, (fam, o, lo))) for o in ("nft", "hashlimit", "xdp_drop")]
            big = (fam, mode, hi)
            scale = (paired(me, big), of_medians(me, big)) if hi != lo else (None, None)
            cell = lambda pr, f: fmt(pr[0], f) + ("" if pr[1] is None else " (" + fmt(pr[1], f) + ")")
            pct = lambda pr: cell(tuple(None if v is None else 100 * v for v in pr), "{:.0f}%")
            out.append(f"| IPv{fam} | {mode} | {int(lo):,} | {cell(pairs[0], '{:.2f}x')} | "
                       f"{cell(pairs[1], '{:.2f}x')} | {pct(pairs[2])} | "
                       f"{cell(scale, '{:.2f}x')} ({int(hi):,} sources) |")
            key = ["e2e_ratio", fam, mode, "", "", lo, ""]
            for name, (v, vm) in (("vs_nft", pairs[0]), ("vs_hashlimit", pairs[1]), ("vs_xdp_drop", pairs[2]),
                                  ("cost_most_vs_fewest_sources", scale)):
                if v is not None:
                    long_rows.append(key + [name, f"{v:.3f}", ""])
                if vm is not None:
                    long_rows.append(key + [name + "_of_medians", f"{vm:.3f}", ""])
    return out


def fmt(v, spec="{}"):
    return "" if v is None or v == "" else spec.format(v)


# metric -> (label, unit shown, scale, target as (op, value) or None)
DAEMON_METRICS = [
    ("first_scrape_wall_s", "/metrics first scrape after start, wall (curl)", "ms", 1e3, ("<", 50)),
    ("first_scrape_duration_s", "  ratelimit_scrape_duration_seconds of it", "ms", 1e3, None),
    ("first_scrape_has_keys", "  first scrape carried ratelimit_keys_tracked (1/0)", "", 1, None),
    ("count_ready_s", "first scrape -> key count served (background count)", "s", 1, None),
    ("steady_scrape_wall_s", "/metrics scrape every 1 s, wall (curl, median)", "ms", 1e3, ("<", 50)),
    ("steady_scrape_wall_max_s", "  slowest of those scrapes", "ms", 1e3, None),
    ("steady_scrape_duration_s", "  ratelimit_scrape_duration_seconds (median)", "ms", 1e3, None),
    ("status_wall_s", "`ratelimitctl --json status`, wall", "ms", 1e3, None),
    ("talkers_idle", "top-talker table entries at the start of the CPU windows", "", 1, None),
    ("cpu_idle_pct", "daemon CPU, idle", "% core", 1, None),
    ("cpu_top_pct", "daemon CPU while `ratelimitctl top` streams", "% core", 1, ("<", 5)),
    ("top_client_cpu_pct", "  ratelimitctl top process itself", "% core", 1, None),
    ("cpu_scrape1s_pct", "daemon CPU while scraped every 1 s", "% core", 1, None),
    ("start_empty_s", "daemon start -> control socket answers, no keys yet", "s", 1, None),
    ("start_s", "daemon restart on the pinned keys -> control socket answers", "s", 1, None),
    ("rss_kb", "daemon RSS (VmRSS)", "MiB", 1 / 1024, None),
    ("hwm_kb", "daemon peak RSS (VmHWM)", "MiB", 1 / 1024, None),
]


def check_daemon_rows(rows, runs):
    """Raises ValueError unless daemon.csv has every metric for every run, as numbers (smoke test)."""
    if not rows or list(rows[0].keys()) != ["keys", "run", "metric", "value", "unit"]:
        raise ValueError(f"bad daemon.csv header: {rows[:1]}")
    seen = {(r["run"], r["metric"]) for r in rows}
    want = {("0", m) for m in ("start_empty_s", "fill_s", "keys_v4", "keys_v6", "keys_total", "keys_total_end")}
    want |= {(str(run), m[0]) for run in range(1, runs + 1) for m in DAEMON_METRICS
             if m[0] not in ("start_s", "start_empty_s")}
    want |= {(str(run), m) for run in range(1, runs + 1) for m in ("talkers_top", "talkers_scrape")}
    want |= {(str(run), "start_s") for run in range(2, runs + 1)}
    if want - seen:
        raise ValueError(f"missing daemon rows: {sorted(want - seen)}")
    for r in rows:
        try:
            v = float(r["value"])
        except (TypeError, ValueError):
            raise ValueError(f"not a number: {r}")
        if v < 0:
            raise ValueError(f"negative value: {r}")


def daemon_section(rows, long_rows):
    """Median over runs of every daemon.sh metric (run 0 = whole-bench facts)."""
    by = {}
    for r in rows:
        by.setdefault(r["metric"], []).append(r)
    keys = by.get("keys_total", [{}])[0].get("value", "")
    want = rows[0]["keys"]
    md = ["", "## Daemon at scale (scripts/bench/daemon.sh)", "",
          f"Target {int(want):,} tracked keys; tracked after the fill: {int(keys):,} "
          f"(IPv4 {int(by['keys_v4'][0]['value']):,}, IPv6 {int(by['keys_v6'][0]['value']):,}); "
          f"at the end: {int(by['keys_total_end'][0]['value']):,}. "
          "CPU = utime+stime from /proc/PID/stat over the window, % of one core. "
          "Median of runs (each run restarts the daemon on the pinned state). "
          "Every CPU window starts right after one pass over all sources, so the sampled top-talker "
          "table is as full as under that flood.", "",
          "| metric | median | min-max | runs | target | met |", "|---|---:|---:|---:|---:|---|"]
    for name, label, unit, scale, target in DAEMON_METRICS:
        rs = [r for r in by.get(name, []) if r["value"] != ""]
        if not rs:
            continue
        vals = [float(r["value"]) * scale for r in rs]
        med = statistics.median(vals)
        t = met = ""
        if target:
            t = f"{target[0]} {target[1]} {unit}"
            met = "yes" if med < target[1] else "NO"
        prec = "{:,.1f}" if unit in ("ms", "MiB") else "{:,.2f}" if unit != "" else "{:.0f}"
        md.append(f"| {label} | {prec.format(med)} {unit} | {prec.format(min(vals))}-{prec.format(max(vals))} | "
                  f"{len(vals)} | {t} | {met} |")
        long_rows.append(["daemon", "", "ratelimitd", "", "", want, "", name,
                          f"{statistics.median(float(r['value']) for r in rs):g}", rs[0]["unit"]])
    return md


def main():
    out_dir = sys.argv[1]
    cost_path = os.path.join(out_dir, "cost.csv")
    cost = cost_table(read_csv(cost_path))
    if os.path.exists(cost_path):  # absent only when run.sh ran with BENCH_COST=0
        check_cost_rows([{k: r[k] for k in COST_FIELDS} for r in cost])
    long_rows = []
    md = ["# ratelimit benchmark results", ""]
    meta = os.path.join(out_dir, "meta.txt")
    if os.path.exists(meta):
        md += ["```", open(meta).read().rstrip(), "```", ""]

    if cost:
        md += ["## Program cost (BPF_PROG_TEST_RUN, ns/packet, median of runs)", "",
               "Source address changes on every packet (driver program, tail call). "
               "net = minus XDP_DROP behind the same driver; ratio = net / net of gcra_min. "
               "Warm rows of ratelimit use paired baselines: XDP_DROP and gcra_min measured in the same rounds, "
               "each run right before the program's run, so drifts of the shared VM cancel. "
               "drop = fraction of packets the program dropped during the measured runs; "
               "ins/pkt = new keys inserted per packet.", "",
               "| family | program | meter | scenario | sources | phase | ns/pkt | min-max | net ns | ratio vs gcra_min | drop | ins/pkt |",
               "|---|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        for r in cost:
            md.append(f"| IPv{r['family']} | {r['program']} | {r['meter']} | {r['scenario']} | {int(r['sources']):,} | "
                      f"{r['phase']} | {r['ns_per_pkt']} | {r['ns_min']}-{r['ns_max']} | {fmt(r['net_ns'])} | "
                      f"{fmt(r['ratio'], '{:.2f}')} | {r['drop_frac']} | {r['inserts_per_pkt']} |")
            key = ["cost", r["family"], r["program"], r["meter"], r["scenario"], r["sources"], r["phase"]]
            long_rows.append(key + ["ns_per_pkt", r["ns_per_pkt"], "ns"])
            long_rows.append(key + ["ns_min", r["ns_min"], "ns"])
            long_rows.append(key + ["ns_max", r["ns_max"], "ns"])
            long_rows.append(key + ["net_ns", fmt(r["net_ns"]), "ns"])
            long_rows.append(key + ["ratio_vs_gcra_min", fmt(r["ratio"], "{:.3f}"), ""])
            long_rows.append(key + ["drop_frac", r["drop_frac"], ""])
            long_rows.append(key + ["inserts_per_pkt", r["inserts_per_pkt"], ""])
        insns = {}
        for r in cost:
            insns[r["program"]] = (r["verified_insns"], r["xlated_insns"], r["jited_bytes"])
        md += ["", "| program | verifier insns processed | xlated insns | JIT bytes |", "|---|---:|---:|---:|"]
        for p, (v, x, j) in insns.items():
            md.append(f"| {p} | {v} | {x} | {j} |")
            long_rows.append(["verifier", "", p, "", "", "", "", "verified_insns", v, "insns"])

    mem_path = os.path.join(out_dir, "mem.csv")
    if os.path.exists(mem_path):
        lines = open(mem_path).read().splitlines()
        maps = list(csv.DictReader(l for l in lines if not l.startswith("breakdown,")))
        md += ["", "## Kernel memory per tracked key (fdinfo memlock / max_entries)", "",
               "| map | key B | value B | max entries | keys present | memlock | B/entry | target | met |",
               "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        targets = {"rl_state4": 96, "rl_state6": 128}
        for m in maps:
            if m["map"] not in targets:
                continue
            per = float(m["bytes_per_entry"])
            t = targets[m["map"]]
            md.append(f"| {m['map']} | {m['key_size']} | {m['value_size']} | {int(m['max_entries']):,} | "
                      f"{int(m['keys_filled']):,} | {int(m['memlock_after_fill']):,} | {per:.1f} | <= {t} | "
                      f"{'yes' if per <= t else 'NO'} |")
            long_rows.append(["memory", "4" if m["map"].endswith("4") else "6", m["map"], "", "",
                              m["keys_filled"], "", "bytes_per_entry", f"{per:.1f}", "B"])
        md += ["", "Where the bytes go (LRU hash, preallocated; solved from two map geometries):", "",
               "| map | key (rounded to 8) | value | htab_elem overhead | bucket per entry | total |",
               "|---|---:|---:|---:|---:|---:|"]
        for l in lines:
            if not l.startswith("breakdown,"):
                continue
            f = dict(kv.split("=") for kv in l.split(",")[2:])
            key = (int(f["key"]) + 7) // 8 * 8
            md.append(f"| {l.split(',')[1]} | {key} | {f['value']} | {f['elem_overhead']} | "
                      f"{f['bucket_per_entry']} | {f['total_per_entry']} |")
        md += ["", "All maps of the shipped program (memlock as loaded):", "",
               "| map | key B | value B | max entries | memlock B |", "|---|---:|---:|---:|---:|"]
        for m in maps:
            md.append(f"| {m['map']} | {m['key_size']} | {m['value_size']} | {int(m['max_entries']):,} | "
                      f"{int(m['memlock_after_fill']):,} |")

    e2e = read_csv(os.path.join(out_dir, "e2e.csv"))
    if e2e:
        md += ["", "## End to end (veth between two namespaces, live-frames generator)", "",
               "rx = frames the receiver veth processed; drop = frames the receiver's filter dropped; "
               "cpu = receiver NAPI thread CPU time / wall time (threaded NAPI, pinned); "
               "pps/core = rx / receiver thread CPU seconds (drop capacity per core); "
               "rx CPU busy = whole receiver CPU busy per /proc/stat, other load included. Median of runs.", "",
               "| family | mode | sources | runs | sent pps | rx pps | drop % | receiver thread cpu % | rx CPU busy % | rx pps per receiver core |",
               "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        groups = {}
        for r in e2e:
            groups.setdefault((r["family"], r["mode"], r["sources"]), []).append(r)
        for (fam, mode, src), rs in groups.items():
            med = lambda k: statistics.median(float(x[k]) for x in rs)
            rx_pps = med("rx_pps")
            drop_pct = 100.0 * statistics.median(float(x["dropped"]) / max(1.0, float(x["rx"])) for x in rs)
            cpu = med("cpu_frac")
            per_core = med("rx_pps_per_core")
            busy = med("rx_cpu_busy_frac")
            md.append(f"| IPv{fam} | {mode} | {int(src):,} | {len(rs)} | {med('sent_pps'):,.0f} | {rx_pps:,.0f} | "
                      f"{drop_pct:.1f} | {100 * cpu:.0f} | {100 * busy:.0f} | {per_core:,.0f} |")
            key = ["e2e", fam, mode, "", "", src, ""]
            long_rows += [key + ["rx_pps", f"{rx_pps:.0f}", "pps"],
                          key + ["drop_pct", f"{drop_pct:.2f}", "%"],
                          key + ["receiver_cpu_frac", f"{cpu:.3f}", ""],
                          key + ["rx_pps_per_core", f"{per_core:.0f}", "pps"]]
        md += e2e_ratios(groups, long_rows)

    daemon = read_csv(os.path.join(out_dir, "daemon.csv"))
    if daemon:
        md += daemon_section(daemon, long_rows)

    with open(os.path.join(out_dir, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["section", "family", "program", "meter", "scenario", "sources", "phase", "metric",
                    "value", "unit"])
        w.writerows(long_rows)
    text = "\n".join(md) + "\n"
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
