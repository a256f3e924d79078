"""Renders docs/benchmarks.md (and plots when matplotlib is installed) from bench/results/*.json.

Every number on the page comes from a result file; the page names the file, device and commit.
Each kind of result file has its renderer (chosen by its "benchmark"/"program" field or its
name): ann_sweep (bench/harness and `knnx bench`), cpu_flat_vs_faiss, cpu_ivf_bench,
gpu_flat, gpu_ivf_curve, gpu_ivf_playbook, gpu_ivf_stages, gpu_kernel_profile
(bench/gpu_profile.sh), gpu_latency, gpu_search_overhead, gpu_linalg, gpu_sweep
(bench/gpu_sweep.py), k_sweep,
gpu_ivf_pq and the compressed-index *_cpu_vs_faiss files (bench/pq_vs_faiss.py,
bench/sq_vs_faiss.py). Plots: recall vs queries/s (log scale) per file in docs/plots/*.png,
and the compressed indexes' recall vs queries/s vs bytes per vector in
docs/img/recall_qps_bytes.svg; without matplotlib the page links the plots drawn earlier, if any.
usage: python3 bench/render_benchmarks.py [--results bench/results] [--out docs/benchmarks.md]
"""
import argparse
import glob
import json
import os
import sys


def load(results):
    out = {}
    for path in sorted(glob.glob(os.path.join(results, "*.json"))):
        with open(path) as f:
            out[os.path.basename(path)] = json.load(f)
    return out


def gpu_flat_tiles_and_radix(name, d):
    """GPU flat at k 10 over the GEMM tile shape, and large k with the radix selection forced."""
    sz = d["sizes"]
    lines = [f"### GPU Flat tile shapes and forced radix selection (`{name}`)", "",
             f"Device: {d['device']}; commit `{d['commit']}`; N = {sz['n']:,}, d = {sz['d']}, "
             f"nq = {sz['nq']:,}; {d['timing']}. Command: `{d['command']}`.", "",
             "| tile rows | tile queries | k | exact ms | exact-3xtf32 ms | fast ms |",
             "|---:|---:|---:|---:|---:|---:|"]
    cells = {}
    for r in d["tile_sweep"]:
        cells.setdefault((r["tile_rows"], r["tile_queries"], r["k"]), {})[r["mode"]] = r["ms"]
    for (rows, queries, k), ms in sorted(cells.items()):
        lines.append(f"| {rows:,} | {queries:,} | {k} | " + " | ".join(
            f"{ms[m]:.1f}" if m in ms else "-" for m in ("exact", "exact-3xtf32", "fast")) + " |")
    lines += ["", "| KNNX_GPU_RADIX_MIN_K | k | exact ms | exact-3xtf32 ms | fast ms |",
              "|---:|---:|---:|---:|---:|"]
    cells = {}
    for r in d["radix_forced"]:
        cells.setdefault((r["radix_min_k"], r["k"]), {})[r["mode"]] = r["ms"]
    for (min_k, k), ms in sorted(cells.items(), key=lambda kv: (-kv[0][0], kv[0][1])):
        lines.append(f"| {min_k:,} | {k:,} | " + " | ".join(
            f"{ms[m]:.1f}" if m in ms else "-" for m in ("exact", "exact-3xtf32", "fast")) + " |")
    return lines + [""]


def gpu_flat(name, d):
    lines = [f"### GPU Flat vs PyTorch (`{name}`)", "",
             f"Device: {d.get('device_kind', d['runs'][0]['device'])}; commit `{d['commit']}`; "
             f"command `{d['command']}`. Baseline: {d['baseline']}. Times are medians.", "",
             "| N | d | nq | k | mode | knnx ms | PyTorch ms | speed-up | x memory floor "
             "| recall vs exact | recall vs float64 | max distance error |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in d["runs"]:
        for r in run["results"]:
            lines.append("| {:,} | {} | {} | {} | {} | {:.3f} | {} | {} | {} | {} | {} | {} |".format(
                run["n"], run["d"], r["nq"], r["k"], r["mode"], r["median_ms"],
                f"{r['torch_median_ms']:.3f}" if "torch_median_ms" in r else "-",
                f"{r['speedup_vs_torch']:.2f}x" if "speedup_vs_torch" in r else "-",
                f"{r['x_memory_floor']:.2f}" if "x_memory_floor" in r else "",
                f"{r['recall_vs_exact']:.6f}" if "recall_vs_exact" in r else "",
                f"{r['recall_vs_float64']:.6f}" if "recall_vs_float64" in r else "",
                f"{r['max_rel_dist_error_vs_float64']:.1e}"
                if "max_rel_dist_error_vs_float64" in r else ""))
    floors = ", ".join(f"N={r['n']:,} d={r['d']}: {r['memory_floor_ms']:.3f} ms" for r in d["runs"])
    lines += ["", f"Memory floor (one read of the base at the measured copy rate): {floors}.",
              "Modes: exact = FP32 SGEMM score tiles (KNNX_FLAT_GEMM=fp32); exact-3xtf32 = split "
              "tf32 tensor-core tiles (the default from nq >= 2 per SM); fast = tf32 candidates "
              "re-ranked in float32. Where present, recall vs float64 and the largest distance "
              "error (relative to the query's largest top-k distance) come from a float64 brute "
              "force over the first queries.", ""]
    return lines


def gpu_ivf_curve(name, d, plots_dir):
    r = d["result"]
    lines = [f"### GPU IVF-Flat recall vs throughput (`{name}`)", "",
             f"Device: {d.get('device_kind', d['device'])}; commit `{d.get('commit', '?')}`; "
             f"command `{d.get('command', '?')}`.",
             f"N = {r['n']:,}, d = {r['d']}, nq = {r['nq']:,}, k = {r['k']}; data: {r['data']} "
             f"({r.get('clusters', '?')} clusters, noise {r.get('noise_stddev', '?')}). "
             f"Exact GPU flat search of the same queries: {r['flat_exact_ms']:.1f} ms "
             f"({r['flat_exact_qps']:,.0f} queries/s).", "",
             "| n_lists | build s | n_probe | recall@10 | ms | queries/s | x exact flat |",
             "|---|---|---|---|---|---|---|"]
    for run in r["ivf"]:
        for p in run["points"]:
            lines.append("| {} | {:.2f} | {} | {:.4f} | {:.2f} | {:,.0f} | {:.1f}x |".format(
                run["n_lists"], run["build_s"], p["n_probe"], p["recall_at_10"], p["median_ms"],
                p["qps"], p["speedup_vs_flat"]))
    return lines + _link(name, plots_dir, plot_curve(name, r, plots_dir)) + [""]


def gpu_ivf_playbook(name, d):
    r = d["result"]
    lines = [f"### GPU IVF-Flat kernels, the playbook's measurement (`{name}`)", "",
             f"d = {r['d']}, N = {r['n']:,}, n_lists = {r['n_lists']}, Q = {r['nq']}, k = {r['k']}; "
             f"commit `{d.get('commit', '?')}`.", "", "| n_probe | variant | ms |", "|---|---|---|"]
    for x in r["results"]:
        lines.append(f"| {x['n_probe']} | {x['variant']} | {x['median_ms']:.3f} |")
    return lines + [""]


def _mpl():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def _save(fig, name, plots_dir):
    os.makedirs(plots_dir, exist_ok=True)
    out = os.path.join(plots_dir, name.replace(".json", ".png"))
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return out


def _link(name, plots_dir, png):
    """Markdown image line for the plot of `name`: the one just drawn, or one drawn earlier."""
    if png is None:
        png = os.path.join(plots_dir, name.replace(".json", ".png"))
        if not os.path.exists(png):
            return []
    return ["", f"![recall vs queries/s]({os.path.relpath(png, os.path.dirname(plots_dir))})"]


def plot_curve(name, r, plots_dir):
    plt = _mpl()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for run in r["ivf"]:
        pts = run["points"]
        ax.plot([p["recall_at_10"] for p in pts], [p["qps"] for p in pts], marker="o",
                label=f"IVF{run['n_lists']},Flat")
    ax.axhline(r["flat_exact_qps"], color="gray", linestyle="--", label="exact GPU flat")
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries/s")
    ax.set_title(f"N={r['n']:,} d={r['d']} nq={r['nq']:,}")
    ax.legend()
    return _save(fig, name, plots_dir)


def _ms(seconds):
    return f"{seconds * 1e3:.3f}" if seconds < 0.01 else f"{seconds * 1e3:.1f}"


def _load(values):
    return " ".join(f"{v:.2f}" for v in values) if values else "?"


def _host_line(host):
    if isinstance(host, str):
        return host
    return (f"{host.get('name', '?')}: {host.get('cpu_model', '?')}, {host.get('nproc', '?')} "
            f"cores ({', '.join(host.get('cpu_flags', []))})")


def cpu_flat_vs_faiss(name, d):
    """bench/cpu_flat_vs_faiss.py: knnx and faiss-cpu exact flat search, case by case."""
    env = ", ".join(f"{k}={v}" for k, v in d.get("environment", {}).items())
    lines = [f"### CPU Flat: knnx vs faiss-cpu (`{name}`)", "",
             f"Host {_host_line(d['host'])}; {d['threads']} threads; {env}. "
             f"faiss {d.get('faiss_version', '?')}, numpy {d.get('numpy_version', '?')}. "
             f"Commit `{d['commit'][:10]}`{' (dirty)' if d.get('worktree_dirty') else ''}; "
             f"command `{d['command']}`.",
             f"Data: {d['data']}. Each case: {d['repeat_rule']['warmup']} warm-up, up to "
             f"{d['repeat_rule']['repeats']} timed runs per library, alternating which goes first; "
             f"medians. Load average {_load(d.get('loadavg_start'))} at the start, "
             f"{_load(d.get('loadavg_end'))} at the end.", "",
             "| N | d | metric | nq | k | knnx ms | faiss ms | faiss / knnx | labels shared | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for c in d["cases"]:
        lines.append("| {:,} | {} | {} | {:,} | {} | {} | {} | {:.2f}x | {:.4f} | {} |".format(
            c["n"], c["d"], c["metric"], c["nq"], c["k"], _ms(c["knnx"]["median_s"]),
            _ms(c["faiss"]["median_s"]), c["speedup_faiss_over_knnx"],
            c["agreement"]["label_overlap"], f"{c['loadavg'][0]:.2f}" if c.get("loadavg") else "?"))
    return lines + [""]


def cpu_ivf_bench(name, d, plots_dir):
    """bench/cpu_ivf_bench: knnx CPU IVF-Flat, build and an n_probe sweep."""
    data, prm, b = d["data"], d["params"], d["build"]
    env = ", ".join(f"{k}={v}" for k, v in d.get("environment", {}).items() if k != "KNNX_COMMIT")
    flat = d["flat_search"]
    lines = [f"### CPU IVF-Flat, knnx (`{name}`)", "",
             f"Host `{d.get('host', '?')}` ({d.get('nproc', '?')} cores), {d['threads']} "
             f"thread(s), scan ISA {d.get('scan_isa', '?')}; {env}. Commit `{d.get('commit', '?')}`; "
             f"command `{d.get('command', '?')}`. Load average {d.get('load_average_before', '?')} "
             f"before, {d.get('load_average_after', '?')} after.",
             f"Data: {data['kind']} of {data['clusters']} clusters (noise {data['noise_stddev']}, "
             f"seed {data['seed']}), N = {data['n']:,}, d = {data['d']}, nq = {data['nq']:,}; "
             f"k = {prm['k']}, {prm['metric']}, n_lists = {prm['n_lists']}; k-means "
             f"{prm['kmeans_n_iter']} iterations, {prm['kmeans_init']} seeding.",
             f"Build: train {b['train_s']:.2f} s, add {b['add_s']:.3f} s, imbalance "
             f"{b['imbalance_factor']:.2f}. Exact flat search (same queries): "
             f"{_ms(flat['median_s'])} ms ({flat['queries_per_s']:,.0f} queries/s).", "",
             "| n_probe | rows/query | recall@1 | recall@10 | ms | queries/s | x exact flat | one query at a time |",
             "|---|---|---|---|---|---|---|---|"]
    for p in d["search"]:
        single = p.get("single_query_median_s")
        lines.append("| {} | {:,.0f} | {:.3f} | {:.4f} | {} | {:,.0f} | {:.1f}x | {} |".format(
            p["n_probe"], p["rows_scanned_per_query"], p["recall_at_1"], p["recall_at_10"],
            _ms(p["median_s"]), p["queries_per_s"], p["speedup_vs_flat"],
            f"{single * 1e6:.0f} us" if single else ""))
    if d.get("scan_crossover"):
        xs = d["scan_crossover"]
        lines += ["", "Direct products vs sgemm per list (ns per list and query):", "",
                  "| queries per list | " + " | ".join(str(x["queries_per_list"]) for x in xs) + " |",
                  "|---|" + "---|" * len(xs),
                  "| direct | " + " | ".join(f"{x['direct_ns_per_list_query']:.0f}" for x in xs) + " |",
                  "| sgemm | " + " | ".join(f"{x['sgemm_ns_per_list_query']:.0f}" for x in xs) + " |"]
    png = None
    plt = _mpl()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        pts = d["search"]
        ax.plot([p["recall_at_10"] for p in pts], [p["queries_per_s"] for p in pts], marker="o",
                label=f"knnx IVF{prm['n_lists']},Flat")
        ax.axhline(flat["queries_per_s"], color="gray", linestyle="--", label="exact flat")
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries/s")
        ax.set_title(f"{name}: N={data['n']:,} d={data['d']}, {d['threads']} thread(s)")
        ax.legend()
        png = _save(fig, name, plots_dir)
    return lines + _link(name, plots_dir, png) + [""]


def gpu_linalg(name, d):
    """bench/gpu_linalg_bench: GEMM tiles vs cuBLAS, projections, SVD Z-step, batched search."""
    lines = [f"### GPU linear algebra (`{name}`)", "",
             f"Device {d.get('device', '?')}, CUDA driver API {d.get('driver', '?')}; commit "
             f"`{d.get('commit', '?')}`; medians of {d.get('repeats', '?')} runs."]
    tiles = d.get("gemm_tiles_in_force")
    if tiles:
        lines.append("Tiles in force: " + ", ".join(f"{k} {v}" for k, v in tiles.items()) + ".")
    lines.append("")
    if d.get("gemm"):
        names = sorted({t for g in d["gemm"] for t in g["tiles"]},
                       key=lambda t: [int(x) for x in t.split("x")])
        lines += ["GEMM (GFLOP/s; cuBLAS as the reference):", "",
                  "| case | op | m | n | k | cuBLAS ms | cuBLAS GFLOP/s | " +
                  " | ".join(names) + " | best | table |",
                  "|---|---|---|---|---|---|---|" + "---|" * len(names) + "---|---|"]
        for g in d["gemm"]:
            cells = [f"{g['tiles'][t]['gflops']:,.0f}" if t in g["tiles"] else "" for t in names]
            lines.append(f"| {g['case']} | {g['op']} | {g['m']:,} | {g['n']:,} | {g['k']:,} | "
                         f"{g['cublas_ms']:.3f} | {g['cublas_gflops']:,.0f} | " + " | ".join(cells) +
                         f" | {g['best_tile']} | {g['table_tile']} |")
        lines.append("")
    proj = d.get("projection")
    if proj:
        cross = ", ".join(f"k = {k}: m >= {m}" for k, m in proj.get("crossover_m_by_k", {}).items())
        lines += [f"Projection coefficients (us); warp kernel from: {cross}.", "",
                  "| k | m | simple | warp | cuBLAS gemv |", "|---|---|---|---|---|"]
        for r in proj["rows"]:
            lines.append(f"| {r['k']} | {r['m']:,} | {r['simple_us']:.1f} | {r['warp_us']:.1f} | "
                         f"{r['cublas_gemv_us']:.1f} |")
        lines.append("")
    svd = d.get("svd_z_step")
    if svd:
        lines += [f"SVD Z-step, m = {svd['m']:,}, n = {svd['n']}, p = {svd['p']}:", "",
                  "| variant | band | streams | ms |", "|---|---|---|---|"]
        for r in svd["rows"]:
            lines.append(f"| {r['variant']} | {r['band']} | {r['streams']} | {r['ms']:.3f} |")
        lines.append("")
    for bs in d.get("batched_search", []):
        lines += [f"Batched flat search, N = {bs['n']:,}, d = {bs['d']}, nq = {bs['nq']:,}, "
                  f"k = {bs['k']}:", "", "| variant | chunk | ms |", "|---|---|---|"]
        for r in bs["rows"]:
            lines.append(f"| {r['variant']} | {r.get('chunk', '')} | {r['ms']:.1f} |")
        lines.append("")
    return lines


def _pareto(points):
    """Points no other point beats on both recall and queries/s, by recall."""
    best = []
    for p in sorted(points, key=lambda p: (-p["recall"], -p["qps"])):
        if not best or p["qps"] > best[-1]["qps"]:
            best.append(p)
    return sorted(best, key=lambda p: p["recall"])


def _param_text(params):
    return ", ".join(f"{k} {v}" for k, v in params.items()) or "-"


RECALL_TARGETS = (0.5, 0.8, 0.9, 0.95, 0.99)


def ann_sweep(name, d, plots_dir):
    """The harness (bench/harness) and `knnx bench`: recall/throughput per system and index."""
    ds = d["dataset"]
    host = d["host"]
    devices = "; ".join(f"{g.get('name')} (driver {g.get('driver', '?')})" for g in d.get("devices", []))
    vers = ", ".join(f"{k} {v}" for k, v in d.get("versions", {}).items())
    env = ", ".join(f"{k}={v}" for k, v in d.get("environment", {}).items())
    rule = d.get("repeat_rule", {})
    if ds.get("kind") == "gaussian_mixture":
        data = (f"Gaussian mixture, {ds.get('clusters')} clusters (centre spread "
                f"{ds.get('center_stddev')}, noise {ds.get('noise_stddev')}, seed {ds.get('seed')})")
    else:
        data = f"files {ds.get('base')} / {ds.get('queries')}"
    lines = [f"### {ds['name']}: recall vs queries/s (`{name}`, {d.get('producer', '?')})", "",
             f"Host {_host_line(host)}; {d.get('threads', '?')} CPU threads"
             + (f"; GPU {devices}" if devices else "") + f". {host.get('note', '')}".rstrip(". ") + ".",
             f"Commit `{(d.get('commit') or '?')[:10]}`{' (dirty)' if d.get('worktree_dirty') else ''}; "
             f"command `{d.get('command', '?')}`. Versions: {vers}." + (f" Environment: {env}." if env else ""),
             f"Data: {data}; N = {ds['n']:,}, d = {ds['d']}, nq = {ds['nq']:,}, k = {d['k']}, "
             f"{ds.get('metric', 'l2')}. Ground truth: {d.get('ground_truth', {}).get('method', '?')}. "
             f"Each point: {rule.get('warmup', 1)} warm-up, then {rule.get('min_repeats', '?')}-"
             f"{rule.get('repeats', '?')} timed searches of all queries, median"
             + ("; same-kind indexes timed in alternating rounds" if rule.get("interleaved") else "")
             + f". Load average {_load(d.get('loadavg_start'))} at the start, "
             f"{_load(d.get('loadavg_end'))} at the end.", "",
             "Build:", "",
             "| system | index | train s | add s | total s | index MB | imbalance |",
             "|---|---|---|---|---|---|---|"]
    for r in d["runs"]:
        b = r.get("build", {})
        nbytes = r.get("index_bytes")
        lines.append("| {} | {} | {:.3f} | {:.3f} | {:.3f} | {} | {} |".format(
            r["system"], r["index"], b.get("train_s", 0.0), b.get("add_s", 0.0),
            b.get("total_s", 0.0), f"{nbytes / 2**20:.1f}" if nbytes else "?",
            f"{b['imbalance_factor']:.2f}" if "imbalance_factor" in b else ""))
    lines += ["", f"Search (recall@{d['k']}, median time of all {ds['nq']:,} queries):", "",
              "| system | index | parameters | recall | ms | queries/s | load (1 min) |",
              "|---|---|---|---|---|---|---|"]
    for r in d["runs"]:
        for p in r["points"]:
            lines.append("| {} | {} | {} | {:.4f} | {} | {:,.0f} | {} |".format(
                r["system"], r["index"], _param_text(p["params"]), p["recall"], _ms(p["median_s"]),
                p["qps"], f"{p['loadavg'][0]:.2f}" if p.get("loadavg") else "?"))
    # Equal recall: per system and index, the fastest point reaching each target.
    approx = [r for r in d["runs"] if r.get("sweep_param")]
    if approx:
        lines += ["", "Fastest point at or above each recall (queries/s, parameter):", "",
                  "| system | index | " + " | ".join(f"recall >= {t}" for t in RECALL_TARGETS) + " |",
                  "|---|---|" + "---|" * len(RECALL_TARGETS)]
        for r in approx:
            cells = []
            for t in RECALL_TARGETS:
                ok = [p for p in r["points"] if p["recall"] >= t]
                if ok:
                    p = max(ok, key=lambda p: p["qps"])
                    cells.append(f"{p['qps']:,.0f} ({_param_text(p['params'])})")
                else:
                    cells.append("-")
            lines.append(f"| {r['system']} | {r['index']} | " + " | ".join(cells) + " |")
    png = None
    plt = _mpl()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for r in d["runs"]:
            pts = sorted(r["points"], key=lambda p: p["recall"])
            label = f"{r['system']} {r['index']}"
            if r.get("sweep_param"):
                front = _pareto(pts)
                ax.plot([p["recall"] for p in front], [p["qps"] for p in front], marker="o",
                        markersize=4, label=label)
            else:
                ax.scatter([p["recall"] for p in pts], [p["qps"] for p in pts], marker="*", s=80,
                           label=label, zorder=3)
        ax.set_yscale("log")
        ax.set_xlabel(f"recall@{d['k']}")
        ax.set_ylabel("queries/s")
        ax.set_title(f"{ds['name']}, nq={ds['nq']:,}, {d.get('threads', '?')} threads")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        png = _save(fig, name, plots_dir)
    link = _link(name, plots_dir, png)
    if link:
        link += ["", "The plot draws each sweep's Pareto front (points no other point of the same "
                 "sweep beats on both axes); stars are exact searches."]
    return lines + link + [""]


def gpu_shards(name, d):
    lines = [f"### Sharded and replicated GPU indexes (`{name}`)", "",
             f"Devices: {d.get('device_kind') or ', '.join(d['devices'])}; NCCL "
             f"{'on' if d.get('nccl') else 'off'}; commit `{d['commit']}`; command "
             f"`{d['command']}`. Medians of {d['repeats']} searches of all queries."
             + (f" {d['note']}." if d.get("note") else ""), "",
             "| index | N | nq | k | layout | GPUs | gather | ms | queries/s | speed-up | same labels "
             "| add s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["results"]:
        index = r["index"] + (f" (n_probe {r['n_probe']})" if "n_probe" in r else "")
        for row in r["rows"]:
            lines.append("| {} | {:,} | {:,} | {} | {} | {} | {} | {:.3f} | {:,.0f} | {:.2f}x | {:.4f} "
                         "| {:.3f} |".format(index, r["n"], r["nq"], r["k"], row["config"],
                                             row["gpus"], row.get("gather", "-"),
                                             row["median_ms"], row["qps"], row["speedup"],
                                             row["same_labels"], row["add_s"]))
    return lines + [""]


def gpu_ivf_knobs(name, d):
    lines = [f"### GPU IVF-Flat under different knobs (`{name}`)", "",
             f"Device: {d['device_kind']}; commit `{d['commit']}`; command `{d['command']}`. "
             f"{d['note'][0].upper() + d['note'][1:]}.", "",
             "| config | environment | exact flat ms | n_lists | build s | n_probe | recall@10 | ms "
             "| per-query scan ms | x exact flat |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for run in d["runs"]:
        r = run["result"]
        for lst in r["ivf"]:
            for p in lst["points"]:
                lines.append("| {} | {} | {:.1f} | {} | {:.2f} | {} | {:.4f} | {:.3f} | {:.3f} | {:.1f}x |"
                             .format(run["config"], run["environment"] or "(defaults)",
                                     r["flat_exact_ms"], lst["n_lists"], lst["build_s"],
                                     p["n_probe"], p["recall_at_10"], p["median_ms"],
                                     p["per_query_scan_ms"], p["speedup_vs_flat"]))
    return lines + [""]


def gpu_ivf_stages(name, d):
    lines = [f"### Where a GPU IVF-Flat search's time goes, version by version (`{name}`)", "",
             f"Device: {d['device_kind']}; command `{d['command']}`. {d['note']}", "",
             "| run | version | n_probe | from host memory ms | device-resident ms | coarse search "
             "alone ms | scan kernel us (n_probe 1) | exact flat ms | exact flat / IVF |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run in d["runs"]:
        st = run["stages"]
        scan = sum(k["ns"] for k in run["kernels_n_probe_1"] if "scan" in k["kernel"]) / 1000
        for p in st["points"]:
            lines.append("| {} | {} | {} | {:.2f} | {:.2f} | {:.2f} | {} | {:.1f} | {:.1f}x |".format(
                run["run"], run["version"], p["n_probe"], p["search_host_ms"],
                p["search_device_ms"], p["coarse_device_ms"],
                f"{scan:.0f}" if p["n_probe"] == 1 else "", st["flat_exact_host_ms"],
                p["flat_host_over_ivf_host"]))
    return lines + [""]


def _ms_value(ms):
    return f"{ms:.3f}" if ms < 10 else f"{ms:.1f}"


def gpu_sweep(name, d):
    """bench/gpu_sweep.py: Flat and IVF over k, nq and precision mode, PyTorch and the floor."""
    from gpu_sweep import fmt_ms, grouped
    data, rates, ivf = d["data"], d["rates"], d["build"].get("ivf")
    lines = [f"### GPU Flat and IVF over k, nq and precision (`{name}`)", "",
             f"Device {d['device']} (driver {d['driver']}), torch {d['torch']}; commit "
             f"`{d['commit'][:10]}`{' (dirty)' if d.get('dirty') else ''}; command "
             f"`{d['command']}`; {d['statistic']}; {d['elapsed_s']:.0f} s in all."
             + (f" {d['note']}" if d.get("note") else ""),
             f"Data: Gaussian mixture ({data['source']}), {data['clusters']} clusters (centre "
             f"spread {data['center_stddev']}, noise {data['noise_stddev']}, seed {data['seed']}), "
             f"N = {data['n']:,}, d = {data['d']}, {d['metric']}."
             + (f" {d['index_names']['ivf']}: nprobe {ivf['nprobe']}, trained on "
                f"{ivf['train_n']:,} vectors in {ivf['train_s']:.2f} s, lists of "
                f"{ivf['list_size_mean']:,.0f} vectors on average, {ivf['list_size_max']:,} at "
                f"most." if ivf else "")
             + f" knnx workspace {workspace_text(d['workspace_mb'])}"
             + (f"; PyTorch's distance block at most {d['torch_workspace_gb']:g} GiB." if
                d.get("torch_workspace_gb") else "."),
             f"Rates measured in the run: device-to-device copy "
             f"{rates['copy_bandwidth_bytes_per_s'] / 1e9:,.0f} GB/s; {rates['matmul_n']}^3 "
             f"matmul {rates['fp32_matmul_flops_per_s'] / 1e12:.1f} TFLOP/s FP32, "
             f"{rates['tf32_matmul_flops_per_s'] / 1e12:.1f} TFLOP/s TF32"
             + (f", {rates['fp16_matmul_flops_per_s'] / 1e12:.1f} TFLOP/s FP16."
                if "fp16_matmul_flops_per_s" in rates else "."), "",
             "Each cell: median ms (multiple of its floor). A floor is max(memory, GEMM): memory = "
             "bytes moved at least once (base, or each probed list once; queries; centroids; "
             "results as float32 + int64) at the copy rate; GEMM = distance flops (IVF: coarse "
             "plus the probed rows of every query) at the FP32 rate for exact-fp32 and PyTorch, "
             + ("the FP16 rate for the fused modes on FP16 operands (fast-fused and its mma variants), "
                "the TF32 rate for the other fast "
                "modes, " if "fp16_matmul_flops_per_s" in rates else "the TF32 rate for fast, ")
             + "and the cheaper of FP32 and 3 TF32 products for exact. "
             "Recall is of the first queries' results against knnx Flat's exact search "
             "(PyTorch's where Flat was not run or failed). PyTorch: fp32 x @ y.T + topk, TF32 "
             "off.", ""]
    modes = d["modes"]
    errors = []
    for sweep, fixed in (("k", d.get("k_sweep")), ("nq", d.get("nq_sweep"))):
        if not fixed:
            continue
        rows = grouped(d, sweep)
        step = sweep == "k"
        what = f"k sweep, nq = {fixed['nq']:,}" if step else f"nq sweep, k = {fixed['k']}"
        lines += [f"{what}:", "",
                  "| index | nq | k | " + " | ".join(f"{m} ms" for m in modes)
                  + " | recall " + " / ".join(modes) + " | PyTorch ms | PyTorch recall "
                  "| memory floor ms | GEMM floor FP32 / TF32 ms"
                  + (" | exact / previous k |" if step else " |"),
                  "|---|---|---|" + "---|" * len(modes) + "---|---|---|---|---|"
                  + ("---|" if step else "")]
        previous = {}
        for row in rows:
            cells, recalls = [], []
            for m in modes:
                p = row["modes"].get(m)
                cells.append(fmt_ms(p) + (f" ({p['x_floor']:.2f}x)" if p and "x_floor" in p
                                          else ""))
                recalls.append(f"{p['recall_vs_exact']:.5f}" if p and "recall_vs_exact" in p
                               else "-")
                if p and "error" in p:
                    errors.append(f"{row['index']} {m}, nq = {row['nq']:,}, k = {row['k']:,}: "
                                  f"{p['error']}")
            t = row["torch"]
            any_point = next(iter(row["modes"].values()))
            fl = any_point["floor"]
            torch_cell = fmt_ms(t) + (f" ({t['x_floor']:.2f}x)" if t and "x_floor" in t else "")
            line = (f"| {row['index']} | {row['nq']:,} | {row['k']:,} | " + " | ".join(cells)
                    + f" | {' / '.join(recalls)} | {torch_cell} | "
                    + (f"{t['recall_vs_exact']:.5f}" if t and "recall_vs_exact" in t else "-")
                    + f" | {_ms_value(fl['memory_ms'])} | {_ms_value(fl['gemm_fp32_ms'])} / "
                    f"{_ms_value(fl['gemm_tf32_ms'])} |")
            if step:
                exact = row["modes"].get("exact", {}).get("median_ms")
                before = previous.get(row["index"])
                line += f" {exact / before:.2f} |" if exact and before else " |"
                previous[row["index"]] = exact
            lines.append(line)
        lines.append("")
    for p in d["points"]:
        if p["index"] == "torch" and "error" in p:
            errors.append(f"PyTorch, nq = {p['nq']:,}, k = {p['k']:,}: {p['error']}")
    if errors:
        lines += ["Errors:", ""] + [f"- {e}" for e in sorted(set(errors))] + [""]
    return lines


def workspace_text(mb):
    """knnx's GPU workspace bound as a run recorded it (knob gpu_workspace_mb; 0 = the default)."""
    return f"{mb:,} MiB" if mb else "the default (a quarter of free device memory, at most 4 GiB)"


def k_sweep(name, d):
    """bench/k_sweep.py: knnx Flat and IVF-Flat over k beside PyTorch, uniform data."""
    lines = [f"### GPU k sweep, Flat and IVF-Flat vs PyTorch (`{name}`)", "",
             f"Device {d['gpu']}, torch {d['torch']}; commit `{d['commit']}`; command "
             f"`{d['command']}`; median of {d['reps']} searches.",
             f"What: {d['what']}; N = {d['nb']:,}, d = {d['d']}, IVF{d['nlist']} nprobe "
             f"{d['nprobe']}; radix selection from k = {d['knnx_radix_min_k']}, workspace "
             f"{workspace_text(d['knnx_gpu_workspace_mb'])}. The floor is the FP32 GEMM at the data-sheet "
             "peak or the writing of the results at the data-sheet bandwidth, whichever is "
             "longer.", "",
             "| nq | k | Flat ms | Flat / previous k | Flat recall vs PyTorch | IVF ms "
             "| IVF / previous k | IVF recall vs exact | PyTorch ms | floor ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def cell(r, key, fmt):
        return fmt.format(r[key]) if r.get(key) is not None else "-"

    for r in d["rows"]:
        lines.append("| {:,} | {:,} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            r["nq"], r["k"], cell(r, "flat_ms", "{:.1f}"),
            cell(r, "flat_ratio_to_prev_k", "{:.2f}"), cell(r, "flat_recall_vs_torch", "{:.6f}"),
            cell(r, "ivf_ms", "{:.1f}"), cell(r, "ivf_ratio_to_prev_k", "{:.2f}"),
            cell(r, "ivf_recall_vs_exact", "{:.4f}"),
            cell(r, "torch_ms", "{:.1f}") if "torch_error" not in r else "error",
            cell(r, "floor_ms", "{:.1f}")))
    return lines + [""]


def cpu_k_sweep(name, d):
    """bench/cpu_k_sweep.py: knnx Flat and IVF-Flat over k beside faiss-cpu, interleaved."""
    z = d["sizes"]
    lines = [f"### CPU k sweep, knnx vs faiss-cpu (`{name}`)", "",
             f"CPU {d['cpu']}, {d['threads']} threads, faiss-cpu {d['faiss']}; commit "
             f"`{d['commit']}`; command `{d['command']}`; {d['statistic']}.",
             f"N = {z['nb']:,}, d = {z['d']}, nq = {z['nq']:,}, IVF nprobe {z['nprobe']}; "
             f"{d['data']}. Agreement: Flat, the share of queries whose neighbour sets equal "
             "faiss-cpu's (ties at the k-th distance may swap labels); IVF, recall against the "
             "exact Flat answer.", "",
             "| index | k | knnx ms | knnx / previous k | faiss-cpu ms | faiss / knnx | agreement |",
             "|---|---|---|---|---|---|---|"]
    for r in d["points"]:
        prev = r.get("knnx_over_previous_k")
        agree = r.get("label_sets_equal", r.get("knnx_recall"))
        lines.append(f"| {r['index']} | {r['k']:,} | {r['knnx_ms']:.1f} | "
                     f"{f'{prev:.2f}' if prev else '-'} | {r['faiss_ms']:.1f} | "
                     f"{r['faiss_over_knnx']:.2f} | {f'{agree:.4f}' if agree is not None else '-'} |")
    return lines + [""]


def gpu_ivf_pq(name, d):
    """bench/gpu_ivf_pq.py: GPU IVF-PQ recall vs queries/s beside PyTorch and the code-read floor."""
    data = d["data"]
    shape = (f"a {data['latent']}-dim Gaussian mixture mapped into d = {data['d']}"
             if data["kind"] == "lowdim" else f"a Gaussian mixture in d = {data['d']}")
    lines = [f"### GPU IVF-PQ recall vs throughput (`{name}`)", "",
             f"Device {d['device']} (driver {d['driver']}), torch {d['torch']}; commit "
             f"`{d['commit'][:10]}`{' (dirty)' if d.get('dirty') else ''}; command "
             f"`{d['command']}`. Data \"{data['kind']}\": {shape} ({data['clusters']} clusters, "
             f"noise {data['noise']}, seed {data['seed']}). Device-to-device copy "
             f"{d['read_bandwidth_bytes_per_s'] / 1e9:,.0f} GB/s: the floor is the bytes of the "
             "codes in each query's probed lists at that rate; x floor = search time / floor "
             "time (the search's coarse step, tables and merge included).", ""]
    for size in d["sizes"]:
        bf = size["torch_fp32_brute_force"]
        lines += [f"N = {size['n']:,}, nq = {size['nq']:,}, k = {size['k']}: PyTorch fp32 brute "
                  f"force (the ground truth) {bf['qps']:,.0f} queries/s "
                  f"({bf['median_s'] * 1e3:.1f} ms).", ""]
        for ix in size["indexes"]:
            lines += [f"IVF{ix['nlist']},PQ{ix['M']} ({ix['code_bytes']} bytes per vector, rows "
                      f"of {ix['stored_row_bytes']}): train {ix['train_s']:.1f} s on "
                      f"{ix['train_n']:,} vectors, add {ix['add_s']:.1f} s, "
                      f"{ix['device_bytes_after_build'] / 2**20:,.0f} MiB of device memory; "
                      f"lists of {ix['list_size_mean']:,.0f} vectors on average, "
                      f"{ix['list_size_max']:,} at most; precomputed table "
                      f"{'on' if ix['precomputed_table'] else 'off'}.", "",
                      f"| nprobe | recall@{size['k']} | ms | queries/s | x PyTorch "
                      "| MB scanned, all queries | floor queries/s | x floor |",
                      "|---|---|---|---|---|---|---|---|"]
            for pt in ix["points"]:
                lines.append(f"| {pt['nprobe']} | {pt['recall']:.4f} | "
                             f"{_ms_value(pt['median_s'] * 1e3)} | {pt['qps']:,.0f} | "
                             f"{pt['qps'] / bf['qps']:.1f}x | {pt['bytes_scanned'] / 1e6:,.0f} | "
                             f"{pt['floor_qps']:,.0f} | {pt['scan_vs_floor']:.2f}x |")
            lines.append("")
    return lines


def compressed_cpu_vs_faiss(name, d):
    """bench/pq_vs_faiss.py, bench/sq_vs_faiss.py: knnx and faiss-cpu on one factory string."""
    sz, dev = d["sizes"], d["device"]
    specs = ", ".join(dict.fromkeys(r["spec"] for r in d["results"]))
    lines = [f"### CPU {specs}: knnx vs faiss-cpu (`{name}`)", "",
             f"{dev['name']}, {dev['threads']} threads each; knnx {d['knnx_version']}, faiss "
             f"{d['faiss_version']}; commit `{d['commit'][:10]}`; command `{d['command']}`.",
             f"Data: {d['data']}; N = {sz['nb']:,}, d = {sz['d']}, nq = {sz['nq']:,}, "
             f"k = {sz['k']}; {sz['bytes_per_vector']} bytes per vector. Recall@{sz['k']} against "
             "exact search; queries/s of all queries, median.", "",
             "| index | nprobe | knnx queries/s | knnx recall | faiss queries/s | faiss recall "
             "| knnx / faiss |", "|---|---|---|---|---|---|---|"]
    for r in d["results"]:
        kx, fx = r["knnx"], r["faiss"]
        lines.append(f"| {r['spec']} | {r['nprobe'] if r['nprobe'] is not None else '-'} | "
                     f"{kx['qps']:,.0f} | {kx['recall']:.4f} | {fx['qps']:,.0f} | "
                     f"{fx['recall']:.4f} | {kx['qps'] / fx['qps']:.2f}x |")
    if d.get("ivf_equal_recall"):
        lines += ["", "At equal recall (the other side's queries/s interpolated in log "
                  "queries/s between its nprobe points):", "",
                  "| recall | measured side (nprobe) | knnx queries/s | faiss queries/s "
                  "| knnx / faiss |", "|---|---|---|---|---|"]
        for e in d["ivf_equal_recall"]:
            lines.append(f"| {e['recall']:.4f} | {e['measured_side']} ({e['nprobe']}) | "
                         f"{e['knnx_qps']:,.0f} | {e['faiss_qps']:,.0f} | "
                         f"{e['knnx_over_faiss']:.2f}x |")
    return lines + [""]


def bytes_series(results):
    """Recall/queries-per-second series of the compressed indexes, one per library, index and
    bytes per vector: [(library, what, [{"recall", "qps"}])], what naming the index, its bytes
    per vector and where it ran, from the CPU knnx-vs-faiss and GPU IVF-PQ result files."""
    series = []
    for name, d in results.items():
        if kind_of(name, d) == "compressed_cpu_vs_faiss":
            sz = d["sizes"]
            where = f"CPU {d['device']['threads']} threads, {sz['nb'] // 1000}k x {sz['d']}"
            for spec in dict.fromkeys(r["spec"] for r in d["results"]):
                rows = [r for r in d["results"] if r["spec"] == spec]
                for lib in ("knnx", "faiss"):
                    series.append((lib, f"{spec}, {sz['bytes_per_vector']} B/vector ({where})",
                                   [{"recall": r[lib]["recall"], "qps": r[lib]["qps"]}
                                    for r in rows]))
        elif kind_of(name, d) == "gpu_ivf_pq":
            gpu = d["device"].replace("NVIDIA ", "")
            for size in d["sizes"]:
                for ix in size["indexes"]:
                    series.append(("knnx", f"IVF{ix['nlist']},PQ{ix['M']}, {ix['code_bytes']} "
                                   f"B/vector ({gpu}, {size['n'] // 10**6}M x {size['d']})",
                                   [{"recall": p["recall"], "qps": p["qps"]}
                                    for p in ix["points"]]))
    return series


def plot_bytes(results, img_dir):
    """docs/img/recall_qps_bytes.svg: recall@10 against queries/s (log) per index kind and bytes
    per vector. Returns the lines of its section."""
    series = bytes_series(results)
    if not series:
        return []
    out = os.path.join(img_dir, "recall_qps_bytes.svg")
    plt = _mpl()
    if plt is None:
        print("matplotlib is not installed: docs/img/recall_qps_bytes.svg not drawn "
              "(pip install matplotlib)", file=sys.stderr)
    else:
        import matplotlib
        matplotlib.rcParams["svg.hashsalt"] = "knnx"  # stable ids: the same data, the same file
        fig, ax = plt.subplots(figsize=(10, 5))
        colours = {}
        for lib, what, pts in series:
            colour = colours.setdefault(what, f"C{len(colours) % 10}")
            front = _pareto(pts)
            ax.plot([p["recall"] for p in front], [p["qps"] for p in front],
                    color=colour, linestyle="-" if lib == "knnx" else "--",
                    marker="o" if lib == "knnx" else "s", markersize=4 if len(pts) > 1 else 8,
                    label=f"{lib} {what}")
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries/s")
        ax.set_title("Compressed indexes: recall vs queries/s by bytes per vector")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        os.makedirs(img_dir, exist_ok=True)
        fig.tight_layout()
        fig.savefig(out, metadata={"Date": None})
        plt.close(fig)
    if not os.path.exists(out):
        return []
    rel = os.path.relpath(out, os.path.dirname(img_dir))
    return ["### Recall vs queries/s vs bytes per vector", "",
            "Every compressed-index result file below in one plot: the legend names the "
            "library, the index, its bytes per vector and where it ran; knnx solid, faiss "
            "dashed, one colour per index and data set. Each line is the Pareto front of its "
            "nprobe sweep (points no other point of the sweep beats on both axes); a lone "
            "marker is an index without lists. Only lines of the same colour (same data, same "
            "machine) compare.", "",
            f"![recall vs queries/s vs bytes per vector]({rel})", ""]


def _scalars(o, prefix=""):
    for k, v in o.items():
        if isinstance(v, dict):
            yield from _scalars(v, f"{prefix}{k}.")
        elif not isinstance(v, list):
            yield f"{prefix}{k}", v


def generic(name, d):
    """A file of a kind this script has no renderer for: its scalar fields only."""
    lines = [f"### `{name}`", "", "No renderer knows this kind of file yet; its scalar fields:", "",
             "| field | value |", "|---|---|"]
    for k, v in _scalars(d):
        lines.append(f"| {k} | {v} |")
    return lines + [""]


def gpu_ab(name, d):
    """A before/after file (bench/ab_*.sh, gpu_round_verify.sh): each case's base and new time."""
    lines = [f"### Before / after on one device (`{name}`)", "",
             f"Device {d['device']}; base `{d['base']}`, new `{d['new']}`; {d['rounds']} "
             f"round(s); {d['statistic']}." + (f" Command `{d['command']}`." if d.get("command")
                                               else ""), "",
             "| case | base ms | new ms | new / base |" + (" floor ms |" if any(
                 "floor_ms" in c for c in d["cases"]) else ""),
             "|---|---|---|---|" + ("---|" if any("floor_ms" in c for c in d["cases"]) else "")]
    for c in d["cases"]:
        floor = f" {c['floor_ms']:.4f} |" if "floor_ms" in c else ""
        lines.append(f"| {c['case']} | {c['base_ms']:.4f} | {c['new_ms']:.4f} | "
                     f"{c['new_over_base']:.3f} |{floor}")
    return lines + [""]


def gpu_latency(name, d):
    """bench/gpu_latency.py: Flat and IVF-Flat at one query and small batches, beside the floor
    (the bytes the search must read once at the copy bandwidth measured in the same run)."""
    z = d["data"]
    lines = [f"### GPU latency (`{name}`)", "",
             f"Device {d['device']}; commit `{d['commit']}`; command `{d['command']}`. "
             f"N = {z['n']:,} x d = {z['d']}, k = {d['k']}; {d['statistic']}; copy bandwidth "
             f"{d['copy_bandwidth_bytes_per_s'] / 1e9:,.0f} GB/s.", "",
             "| index | nq | nlist | nprobe | scan | ms | floor ms | x floor |",
             "|---|---|---|---|---|---|---|---|"]
    scans = {-1: "auto", 0: "per query", 1: "list-major"}
    for p in d["points"]:
        ivf = p["index"] == "ivf"
        lines.append(f"| {p['index']} | {p['nq']:,} | {p['nlist'] if ivf else ''} | "
                     f"{p['nprobe'] if ivf else ''} | "
                     f"{scans.get(p.get('shared_scan'), '') if ivf else ''} | "
                     f"{p['median_ms']:.4f} | {p['floor_ms']:.4f} | {p['x_floor']:.2f} |")
    return lines + [""]


def gpu_search_overhead(name, d):
    """bench/gpu_search_overhead.py: a one-query Flat search's fixed cost (a small base) and the
    1M search by KNNX_FLAT_STREAM_RING, beside PyTorch's fixed cost and read rate."""
    z = d["sizes"]
    floor = f"{d['floor_ms']:.4f} ms" if d.get("floor_ms") else "not measured"
    lines = [f"### One-query search overhead (`{name}`)", "",
             f"Device {d['device']}; commit `{d['commit']}`; command `{d['command']}`. "
             f"Base {z['nb']:,} x {z['d']} (small base {z['small_nb']:,}), nq 1, k {z['k']}; "
             f"floor of the 1M read at the copy rate {floor}; default ring "
             f"{d.get('default_ring')}. Host wall time a call (median, quartiles) unless the "
             "point says device.", "", "| point | median ms | q1 ms | q3 ms |", "|---|---|---|---|"]
    for point, v in d["points"].items():
        q1 = f"{v['q1_ms']:.4f}" if "q1_ms" in v else ""
        q3 = f"{v['q3_ms']:.4f}" if "q3_ms" in v else ""
        extra = "".join(f" ({v[key]:,.0f} GB/s)" for key in ("read_gbs", "gbs") if key in v)
        lines.append(f"| {point}{extra} | {v['median_ms']:.4f} | {q1} | {q3} |")
    return lines + [""]


def gpu_kernel_profile(name, d):
    """bench/gpu_profile.sh: each search's kernels timed by Nsight Compute, and the counters of
    the kernels in question."""
    lines = [f"### GPU kernels by search (`{name}`)", "",
             f"Device {d['device']}; commit `{d['commit']}`; command `{d['command']}`; "
             f"{d['statistic']}.", "", "| search | kernels (us) | total us |", "|---|---|---|"]
    for case, kernels in d["cases"].items():
        spent = ", ".join(f"{k['kernel'].split('<')[0]} {k['us']:,.1f}" for k in kernels)
        lines.append(f"| {case} | {spent} | {d['totals_us'][case]:,.1f} |")
    for kernel, counters in d.get("counters", {}).items():
        lines += ["", f"Counters of `{kernel}`:", "", "| counter | value |", "|---|---|"]
        lines += [f"| {c} | {v:,.2f} |" for c, v in counters.items()]
    return lines + [""]


def gpu_build_large(name, d):
    """bench/gpu_build_large.py: an IVF-PQ index built on one GPU from a file larger than the
    build holds at once; build time, peak memory, then recall and queries/s of the result."""
    z, b = d["sizes"], d["build"]
    t = b["report"]["timings_s"]
    lines = [f"### GPU build from a file (`{name}`)", "",
             f"Device {d['device']}; commit `{d['commit']}`; command `{d['command']}`. "
             f"{d['spec']} over N = {z['n']:,} x d = {z['d']} float32 "
             f"({z['base_bytes'] / 1e9:.1f} GB in a .npy file), trained on "
             f"{z['train_size']:,} vectors.", "",
             "| build s | train s | add s | add vectors/s | write s | peak host GiB | "
             "peak device MiB | index file GB |",
             "|---|---|---|---|---|---|---|---|",
             f"| {b['seconds']:.0f} | {t['train']:.1f} | {t['add']:.1f} | "
             f"{z['n'] / t['add']:,.0f} | {t['write']:.1f} | {b['peak_host_bytes'] / 2**30:.2f} | "
             f"{b['device_mib_peak'] - b['device_mib_before']:,} | "
             f"{b['index_file_bytes'] / 1e9:.2f} |", ""]
    if d.get("points"):
        lines += [f"Loaded onto the GPU in {d['load_s']:.1f} s; {z['nq']:,} queries, recall@"
                  f"{z['k']} against exact ground truth (PyTorch fp32 over the file):", "",
                  "| nprobe | recall | queries/s |", "|---|---|---|"]
        lines += [f"| {p['nprobe']} | {p['recall']:.4f} | {p['qps']:,.0f} |" for p in d["points"]]
        lines.append("")
    return lines


def kind_of(name, d):
    if d.get("benchmark") == "ann_sweep":
        return "ann_sweep"
    if d.get("benchmark") == "cpu_flat_vs_faiss":
        return "cpu_flat_vs_faiss"
    if d.get("program") == "cpu_ivf_bench":
        return "cpu_ivf_bench"
    if d.get("benchmark") == "gpu_linalg":
        return "gpu_linalg"
    if d.get("benchmark") == "gpu_shards_bench":
        return "gpu_shards"
    if d.get("benchmark") == "gpu_ivf_knobs":
        return "gpu_ivf_knobs"
    if d.get("benchmark") == "gpu_ivf_stages":
        return "gpu_ivf_stages"
    if d.get("benchmark") in ("gpu_sweep", "gpu_ivf_pq"):
        return d["benchmark"]
    if str(d.get("benchmark", "")).endswith("_cpu_vs_faiss"):
        return "compressed_cpu_vs_faiss"
    if name.startswith("k_sweep"):
        return "k_sweep"
    if d.get("benchmark") == "cpu_k_sweep":
        return "cpu_k_sweep"
    if d.get("benchmark") == "gpu_build_large" and "build" in d:
        return "gpu_build_large"
    if d.get("benchmark") == "gpu_latency" and "points" in d:
        return "gpu_latency"
    if d.get("benchmark") == "gpu_kernel_profile":
        return "gpu_kernel_profile"
    if d.get("bench") == "gpu_search_overhead":
        return "gpu_search_overhead"
    if {"base", "new", "cases"} <= d.keys():
        return "gpu_ab"
    if d.get("benchmark") == "gpu_flat_tiles_and_radix":
        return "gpu_flat_tiles_and_radix"
    for prefix in ("gpu_flat", "gpu_ivf_curve", "gpu_ivf_playbook"):
        if name.startswith(prefix):
            return prefix
    return "generic"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", default="bench/results")
    p.add_argument("--out", default="docs/benchmarks.md")
    args = p.parse_args()
    lines = ["# Benchmarks", "",
             "Generated by `python3 bench/render_benchmarks.py` from the JSON files in "
             "`bench/results/`; do not edit by hand. How each was measured, and what was tried, is in "
             "`bench/NOTES.md`.", ""]
    docs_dir = os.path.dirname(args.out)
    plots_dir = os.path.join(docs_dir, "plots")
    results = load(args.results)
    sections = {"ann_sweep": [], "compressed": plot_bytes(results, os.path.join(docs_dir, "img")),
                "cpu": [], "gpu_sweep": [], "gpu": [], "other": []}
    for name, d in results.items():
        kind = kind_of(name, d)
        if kind == "ann_sweep":
            sections["ann_sweep"] += ann_sweep(name, d, plots_dir)
        elif kind == "compressed_cpu_vs_faiss":
            sections["compressed"] += compressed_cpu_vs_faiss(name, d)
        elif kind == "gpu_ivf_pq":
            sections["compressed"] += gpu_ivf_pq(name, d)
        elif kind == "cpu_flat_vs_faiss":
            sections["cpu"] += cpu_flat_vs_faiss(name, d)
        elif kind == "cpu_ivf_bench":
            sections["cpu"] += cpu_ivf_bench(name, d, plots_dir)
        elif kind == "gpu_sweep":
            sections["gpu_sweep"] += gpu_sweep(name, d)
        elif kind == "k_sweep":
            sections["gpu_sweep"] += k_sweep(name, d)
        elif kind == "cpu_k_sweep":
            sections["cpu"] += cpu_k_sweep(name, d)
        elif kind == "gpu_flat":
            sections["gpu"] += gpu_flat(name, d)
        elif kind == "gpu_flat_tiles_and_radix":
            sections["gpu_sweep"] += gpu_flat_tiles_and_radix(name, d)
        elif kind == "gpu_ivf_curve":
            sections["gpu"] += gpu_ivf_curve(name, d, plots_dir)
        elif kind == "gpu_ivf_playbook":
            sections["gpu"] += gpu_ivf_playbook(name, d)
        elif kind == "gpu_linalg":
            sections["gpu"] += gpu_linalg(name, d)
        elif kind == "gpu_shards":
            sections["gpu"] += gpu_shards(name, d)
        elif kind == "gpu_ivf_knobs":
            sections["gpu"] += gpu_ivf_knobs(name, d)
        elif kind == "gpu_ivf_stages":
            sections["gpu"] += gpu_ivf_stages(name, d)
        elif kind == "gpu_build_large":
            sections["compressed"] += gpu_build_large(name, d)
        elif kind == "gpu_ab":
            sections["gpu"] += gpu_ab(name, d)
        elif kind == "gpu_latency":
            sections["gpu"] += gpu_latency(name, d)
        elif kind == "gpu_kernel_profile":
            sections["gpu"] += gpu_kernel_profile(name, d)
        elif kind == "gpu_search_overhead":
            sections["gpu"] += gpu_search_overhead(name, d)
        else:
            sections["other"] += generic(name, d)
    if not any(kind_of(name, d) == "gpu_sweep" for name, d in results.items()):
        sections["gpu_sweep"][:0] = [
            "No `bench/gpu_sweep.py` result yet (Flat and IVF over k, nq and precision mode, "
            "beside PyTorch and the floor); on a GPU: `PYTHONPATH=build/python python3 "
            "bench/gpu_sweep.py`.", ""]
    titles = {"ann_sweep": "Recall vs throughput across systems (bench/harness, knnx bench)",
              "compressed": "Compressed indexes (PQ, SQ): recall, throughput, bytes per vector",
              "cpu": "CPU", "gpu_sweep": "GPU search over k, nq and precision",
              "gpu": "GPU", "other": "Other result files"}
    for key, body in sections.items():
        if body:
            lines += [f"## {titles[key]}", ""] + body
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
