"""Renders docs/benchmarks.md (and PNG plots when matplotlib is installed) from bench/results/*.json.

Every number on the page comes from a result file; the page names the file, device and commit.
Each kind of result file has its renderer (chosen by its "benchmark"/"program" field or its
name): ann_sweep (bench/harness and `knnx bench`), cpu_flat_vs_faiss, cpu_ivf_bench,
gpu_flat, gpu_ivf_curve, gpu_ivf_playbook, gpu_ivf_stages, gpu_linalg. Plots (recall vs queries/s, log scale)
go to docs/plots/; without matplotlib the page links the plots drawn earlier, if any.
usage: python3 bench/render_benchmarks.py [--results bench/results] [--out docs/benchmarks.md]
"""
import argparse
import glob
import json
import os


def load(results):
    out = {}
    for path in sorted(glob.glob(os.path.join(results, "*.json"))):
        with open(path) as f:
            out[os.path.basename(path)] = json.load(f)
    return out


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
    plots_dir = os.path.join(os.path.dirname(args.out), "plots")
    sections = {"ann_sweep": [], "cpu": [], "gpu": [], "other": []}
    for name, d in load(args.results).items():
        kind = kind_of(name, d)
        if kind == "ann_sweep":
            sections["ann_sweep"] += ann_sweep(name, d, plots_dir)
        elif kind == "cpu_flat_vs_faiss":
            sections["cpu"] += cpu_flat_vs_faiss(name, d)
        elif kind == "cpu_ivf_bench":
            sections["cpu"] += cpu_ivf_bench(name, d, plots_dir)
        elif kind == "gpu_flat":
            sections["gpu"] += gpu_flat(name, d)
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
        else:
            sections["other"] += generic(name, d)
    titles = {"ann_sweep": "Recall vs throughput across systems (bench/harness, knnx bench)",
              "cpu": "CPU", "gpu": "GPU", "other": "Other result files"}
    for key, body in sections.items():
        if body:
            lines += [f"## {titles[key]}", ""] + body
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
