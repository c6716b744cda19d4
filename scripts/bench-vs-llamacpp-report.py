#!/usr/bin/env python3
"""Render the raw runs of scripts/bench-vs-llamacpp.sh as one Markdown table (stdout) and one JSON file.

    scripts/bench-vs-llamacpp-report.py RAW_DIR [--json OUT.json]

RAW_DIR holds meta.json and, per round r: r{r}-ling-engine.json (`ling-serve bench --json`), r{r}-llama-engine.json
(`llama-bench -o json`), r{r}-ling-long{N}.json, r{r}-llama-long{N}-{pp,tg}.json, r{r}-{ling,llama}-serve-c{C}.json
(`ling-bench --save-result`) and r{r}-{ling,llama}-wrk.txt. A figure missing from a round (a part not run) is left
out of that round. Ratios are LingServe's speed over llama.cpp's (> 1: LingServe faster; for latencies the inverse),
taken within each round, then summarised as median [min-max] over the rounds.
"""
import argparse
import json
import os
import re
import statistics
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def llama_ts(entries, n_prompt, n_gen, n_depth=0):
    """avg_ts of the llama-bench entry with these sizes (None if absent)."""
    for e in entries or []:
        if e.get("n_prompt") == n_prompt and e.get("n_gen") == n_gen and e.get("n_depth", 0) == n_depth:
            return e["avg_ts"]
    return None


def wrk_rps(path):
    try:
        text = open(path).read()
    except OSError:
        return None
    m = re.search(r"Requests/sec:\s*([0-9.]+)", text)
    return float(m.group(1)) if m else None


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(s, digits):
    if s is None:
        return "–"
    m = f"{s['median']:.{digits}f}"
    return m if s["n"] == 1 else f"{m} [{s['min']:.{digits}f}-{s['max']:.{digits}f}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    raw = args.raw
    meta = load(os.path.join(raw, "meta.json")) or {}
    rounds = range(1, int(meta.get("rounds", 1)) + 1)
    p = lambda name: os.path.join(raw, name)  # noqa: E731

    # rows: (label, unit, digits, higher_is_better, [ling per round], [llama per round])
    rows = []
    notes = []
    per_round = {r: {} for r in rounds}
    probes = []
    for r in rounds:
        le, ll = load(p(f"r{r}-ling-engine.json")), load(p(f"r{r}-llama-engine.json"))
        d = per_round[r]
        if le:
            d["ling_pp512"] = le["prefill_tokens_per_second"]
            d["ling_tg"] = le["decode_tokens_per_second"]
            d["ling_step_ms"] = le["decode_ms_per_step"]
            d["bytes_per_token"] = le["decode_bytes_per_token"]
            d["bandwidth"] = le.get("memory_bandwidth_bytes_per_second")
            d["sgemm"] = le.get("sgemm_flops_per_second")
            d["ling_tg_fraction"] = le.get("decode_fraction_of_bandwidth")
            probes.append((r, d["bandwidth"], d["sgemm"], le.get("isa"), le.get("threads")))
        if ll:
            d["llama_pp512"] = llama_ts(ll, 512, 0)
            d["llama_tg"] = llama_ts(ll, 0, 64)
            if d.get("llama_tg") and d.get("bandwidth") and d.get("bytes_per_token"):
                d["llama_tg_fraction"] = d["llama_tg"] * d["bytes_per_token"] / d["bandwidth"]
        for n in meta.get("long_contexts", []):
            lo = load(p(f"r{r}-ling-long{n}.json"))
            if lo:
                d[f"ling_pp{n}"] = lo["prefill_tokens_per_second"]
                d[f"ling_tg_d{n}"] = lo["decode_tokens_per_second"]
            d[f"llama_pp{n}"] = llama_ts(load(p(f"r{r}-llama-long{n}-pp.json")), n, 0)
            d[f"llama_tg_d{n}"] = llama_ts(load(p(f"r{r}-llama-long{n}-tg.json")), 0, 64, n)
        for side in ("ling", "llama"):
            for c in meta.get("levels", []):
                s = load(p(f"r{r}-{side}-serve-c{c}.json"))
                if not s:
                    continue
                d[f"{side}_serve_c{c}"] = s["output_throughput"]
                d[f"{side}_serve_c{c}_tpot"] = s["median_tpot_ms"]
                expected = max(4, c) * int(meta.get("output_len", 0))
                if s.get("failed"):
                    notes.append(f"round {r}, {side} server, {c} streams: {s['failed']} failed requests")
                if expected and s.get("total_output_tokens") != expected:
                    notes.append(f"round {r}, {side} server, {c} streams: {s.get('total_output_tokens')} output "
                                 f"tokens counted, {expected} asked for")
            d[f"{side}_health"] = wrk_rps(p(f"r{r}-{side}-wrk.txt"))
        if d.get("ling_serve_c1_tpot") and d.get("ling_step_ms"):
            d["ling_server_tax"] = d["ling_serve_c1_tpot"] - d["ling_step_ms"]
        if d.get("llama_serve_c1_tpot") and d.get("llama_tg"):
            d["llama_server_tax"] = d["llama_serve_c1_tpot"] - 1000 / d["llama_tg"]

    def row(label, unit, digits, key, higher=True, ratio=True):
        ling = [per_round[r].get(f"ling_{key}") for r in rounds]
        llama = [per_round[r].get(f"llama_{key}") for r in rounds]
        if all(v is None for v in ling + llama):
            return
        ratios = []
        if ratio:
            for a, b in zip(ling, llama):
                if a and b:
                    ratios.append(a / b if higher else b / a)
        rows.append({"figure": label, "unit": unit, "digits": digits, "key": key, "higher_is_better": higher,
                     "lingserve": summary(ling), "llama_cpp": summary(llama),
                     "ratio": summary(ratios) if ratio else None,
                     "lingserve_per_round": ling, "llama_cpp_per_round": llama, "ratio_per_round": ratios})

    row("prefill pp512, engine", "tok/s", 1, "pp512")
    row("decode tg64, one stream, engine", "tok/s", 2, "tg")
    row("engine decode / read-bandwidth probe", "fraction", 2, "tg_fraction", ratio=False)
    for n in meta.get("long_contexts", []):
        row(f"prefill of a {n}-token prompt, engine", "tok/s", 1, f"pp{n}")
        row(f"decode after a {n}-token context, engine", "tok/s", 2, f"tg_d{n}")
    for c in meta.get("levels", []):
        row(f"server, {c} stream{'s' if c > 1 else ''}: output tokens/s", "tok/s", 1, f"serve_c{c}")
        if c == 1:
            row("server, 1 stream: median TPOT", "ms", 1, "serve_c1_tpot", higher=False)
            row("server, 1 stream: TPOT minus the engine's decode step", "ms", 1, "server_tax", ratio=False)
    row("`wrk -t2 -c64` on /health", "req/s", 0, "health")

    out = []
    out.append(f"**{meta.get('cpu_model', '?')}**, {meta.get('logical_cpus', '?')} logical CPUs, "
               f"{meta.get('mem_total_gib', '?')} GiB; flags: "
               + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in meta.get("flags", {}).items())
               + f"; load average {meta.get('load_average_start', '?')} at the start, "
               f"{meta.get('load_average_end', '?')} at the end.")
    out.append("")
    out.append(f"LingServe {meta.get('lingserve_commit', '?')} against llama.cpp ({meta.get('llama_cpp', '?')}), "
               f"{len(rounds)} alternated round{'s' if len(rounds) > 1 else ''}, {meta.get('threads')} threads each, "
               f"`{os.path.basename(meta.get('model', '?'))}` (LingServe) / "
               f"`{os.path.basename(meta.get('llama_model', '?'))}` (llama.cpp); "
               f"ling-serve flags `{meta.get('engine_flags') or 'default'}`"
               + (f", serve `{meta['serve_flags']}`" if meta.get("serve_flags") else "")
               + (f"; llama-bench `{meta['llama_bench_flags']}`" if meta.get("llama_bench_flags") else "")
               + (f"; llama-server `{meta['llama_server_flags']}`" if meta.get("llama_server_flags") else "")
               + f"; {meta.get('run_seconds', 0) // 60} min of runs.")
    out.append("")
    if probes:
        out.append("Probes (`ling-serve bench`, after its run in each round): " + "; ".join(
            f"round {r}: read bandwidth {bw / 1e9:.1f} GB/s, sgemm {sg / 1e9:.1f} GFLOP/s ({isa}, {t} threads)"
            if bw and sg else f"round {r}: not measured" for r, bw, sg, isa, t in probes) + ".")
        out.append("")
    out.append("| figure | LingServe | llama.cpp | LingServe / llama.cpp |")
    out.append("|---|---:|---:|---:|")
    for rw in rows:
        unit = "" if rw["unit"] == "fraction" else f" {rw['unit']}"
        ratio = fmt(rw["ratio"], 2) + "x" if rw["ratio"] else "–"
        out.append(f"| {rw['figure']} | {fmt(rw['lingserve'], rw['digits'])}{unit} | "
                   f"{fmt(rw['llama_cpp'], rw['digits'])}{unit} | {ratio} |")
    out.append("")
    out.append(
        "Medians [ranges] over the rounds; each ratio is taken within its round (> 1: LingServe faster, for TPOT "
        "llama.cpp's over LingServe's). Engine: `ling-serve bench` (512-token prefill, then 64 tokens decoded one at "
        "a time, so its decode runs at depth 512-576) against `llama-bench -fa 1` pp512 and tg64 (depth 0-63); long "
        "context: `ling-serve bench --prompt-tokens N --decode-tokens 64` against `llama-bench -p N -n 0` and "
        "`-p 0 -n 64 -d N`. The bandwidth fraction is the bytes one decoded token reads (weights and KV, as "
        "`ling-serve bench` counts them; the same weights for both) times tokens/s over the round's read-bandwidth "
        "probe. Servers: `ling-bench` on " + str(meta.get("endpoint")) + ", max(4, C) requests at concurrency C, "
        f"{meta.get('prompt_len')} random prompt tokens, {meta.get('output_len')} output tokens with ignore_eos "
        "(counted from usage.completion_tokens), output tokens/s over the whole run (prefill included); llama-server "
        f"with `-np {meta.get('llama_server_slots')} -c {meta.get('llama_server_ctx')} --no-webui`. One server at a "
        "time.")
    for n in notes:
        out.append("")
        out.append(f"**Note:** {n}")
    print("\n".join(out))

    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"meta": meta, "probes": [{"round": r, "read_bandwidth_bytes_per_second": bw,
                                                  "sgemm_flops_per_second": sg, "isa": isa, "threads": t}
                                                 for r, bw, sg, isa, t in probes],
                       "rows": rows, "per_round": per_round, "notes": notes}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
