"""GPU Flat and IVF-Flat sweep over k, nq and precision mode, beside PyTorch and the roofline
floor, all measured in one process on one device.

Two sweeps over one data set (default 1M x 128, a Gaussian mixture of 1024 clusters, noise
0.6: knnx.make_mixture_base / make_mixture_queries, as the GPU harness runs):
  k sweep   k = 10, 100, 1024, 2048, 4096, 8192, 16384 at nq = 10000
  nq sweep  nq = 1, 16, 10000, 100000 at k = 10
For every (nq, k) point: knnx IndexFlat and IndexIVFFlat (IVF1024, nprobe 32) in each precision
mode (exact: the defaults, 3xTF32 score tiles for many queries; exact-fp32: FP32 SGEMM tiles;
fast: the default fast mode (KNNX_FLAT_FAST_KERNEL=auto: fast-fused for small k, fast-gemm
elsewhere); fast-gemm: TF32 candidates from cuBLAS score tiles re-ranked in float32;
fast-fused: the same precision with candidates from the fused tensor-core kernel, KNNX_FLAT_FAST_KERNEL=fused, on FP16
operands (KNNX_FLAT_FUSED_OPERANDS=fp16; d <= 128) on mma.sync (KNNX_FLAT_FUSED_MMA=sync);
fast-fused-wgmma: the same on warpgroup MMA where the device has it (KNNX_FLAT_FUSED_MMA=auto);
fast-fused-tf32: that kernel on TF32
operands; set through knnx.set_config around that mode's searches only;
SearchParameters.precision / flat_gemm), PyTorch's
fp32 x @ y.T + topk with TF32 off (chunked so the distance block fits --torch-workspace-gb), the
median time of --reps searches after a warm-up, recall against knnx's exact search, and the
floor. Queries, data and results stay on the GPU (torch CUDA tensors in and out of knnx).

The floor of a point is max(memory floor, GEMM floor), both from rates measured here:
  memory  bytes that must move once (base or probed lists, queries, centroids, the k results
          as float32 + int64) / the bandwidth of a large device-to-device copy
  GEMM    distance flops (2 nq n d; IVF: 2 d (nq nlist + rows in the probed lists)) / the
          rate of an 8192^3 torch matmul: FP32 (TF32 off) for exact-fp32 and PyTorch, TF32 for
          fast and fast-fused-tf32, FP16 for fast-fused, and for exact the lower of FP32 and
          three TF32 products (3xTF32).
For IVF the memory floor counts each probed list once (lists probed by several queries may be
read once); the rows per query summed are the GEMM floor's. JSON (device, driver, commit,
command, sizes, rates, every point) in bench/results/gpu_sweep_<gpu>.json unless --out names
another file; docs/benchmarks.md renders it (bench/render_benchmarks.py).

    PYTHONPATH=build/python python3 bench/gpu_sweep.py                 # both sweeps, all modes
    PYTHONPATH=build/python python3 bench/gpu_sweep.py --sweeps nq --indexes flat --modes fast
    PYTHONPATH=build/python python3 bench/gpu_sweep.py --sweeps k --indexes flat \
        --modes exact fast fast-fused --k 10 100 256 1024      # old and fused fast side by side
    python3 bench/gpu_sweep.py --dry-run                               # the plan; no GPU needed
"""

import argparse
import datetime
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # k_sweep, gpu_ivf_pq, faiss_compare when imported from elsewhere

from faiss_compare import git  # noqa: E402  (provenance; no faiss needed)

MODES = ("exact", "exact-fp32", "fast", "fast-gemm", "fast-fused", "fast-fused-wgmma",
         "fast-fused-tf32")
FAST_MODES = ("fast", "fast-gemm", "fast-fused", "fast-fused-wgmma", "fast-fused-tf32")
# KNNX_FLAT_FAST_KERNEL and KNNX_FLAT_FUSED_OPERANDS of the fast modes, pinned so that the
# environment cannot swap them ("fast" is the default, auto).
FAST_KERNEL = {"fast": "auto", "fast-gemm": "gemm", "fast-fused": "fused",
               "fast-fused-wgmma": "fused", "fast-fused-tf32": "fused"}
FUSED_OPERANDS = {"fast-fused": "fp16", "fast-fused-wgmma": "fp16", "fast-fused-tf32": "tf32"}
# KNNX_FLAT_FUSED_MMA of the FP16 modes: mma.sync, or warpgroup MMA where the device has it
# (auto, the default).
FUSED_MMA = {"fast-fused": "sync", "fast-fused-wgmma": "auto"}
INDEXES = ("flat", "ivf")
RESULT_BYTES = 4 + 8  # a float32 distance and an int64 label per result
RECALL_LABELS = 2_000_000  # recall rows are capped so that rows x k stays below this


# ---- the plan and the floors: pure functions of the sizes and the measured rates ----

def plan(args):
    """(nq, k) pairs to measure, in order, each with the sweeps it belongs to."""
    pairs = {}
    if "k" in args.sweeps:
        for k in args.k:
            pairs.setdefault((args.k_sweep_nq, k), []).append("k")
    if "nq" in args.sweeps:
        for nq in args.nq:
            pairs.setdefault((nq, args.nq_sweep_k), []).append("nq")
    return [(nq, k, sweeps) for (nq, k), sweeps in pairs.items() if k <= args.nb]


def recall_rows(nq, k, wanted):
    """Queries whose results are compared: wanted, at most nq, capped so rows x k stays small."""
    return max(1, min(nq, wanted, RECALL_LABELS // k))


def work(index, nb, d, nq, k, nlist=0, probed_rows=0, distinct_rows=0):
    """Bytes a search must move at least once and the flops of its distances.

    flat / torch: the base, the queries and the results; 2 nq nb d flops.
    ivf: the distinct rows of the probed lists, the centroids, the queries and the results;
    2 d (nq nlist + probed_rows) flops, probed_rows summed over the queries."""
    io = nq * d * 4 + nq * k * RESULT_BYTES
    if index == "ivf":
        return (distinct_rows * d * 4 + nlist * d * 4 + io,
                2.0 * d * (nq * nlist + probed_rows))
    return nb * d * 4 + io, 2.0 * nq * nb * d


def floor(nbytes, flops, mode, rates):
    """Floor of one point in ms: {memory_ms, gemm_fp32_ms, gemm_tf32_ms, floor_ms, bound}.

    mode: "fast-fused" and "fast-fused-wgmma" are bound by FP16 products (when rates has their
    rate), the other fast modes by TF32 products, "exact" by the cheaper of FP32 and 3xTF32, anything else
    ("exact-fp32", "torch-fp32") by FP32."""
    memory = nbytes / rates["copy_bandwidth_bytes_per_s"] * 1e3
    fp32 = flops / rates["fp32_matmul_flops_per_s"] * 1e3
    tf32 = flops / rates["tf32_matmul_flops_per_s"] * 1e3
    fp16 = (flops / rates["fp16_matmul_flops_per_s"] * 1e3
            if "fp16_matmul_flops_per_s" in rates else None)
    if mode in ("fast-fused", "fast-fused-wgmma") and fp16 is not None:
        gemm = fp16
    elif mode in FAST_MODES:
        gemm = tf32
    else:
        gemm = min(fp32, 3 * tf32) if mode == "exact" else fp32
    out = {"bytes": int(nbytes), "flops": flops, "memory_ms": memory, "gemm_fp32_ms": fp32,
           "gemm_tf32_ms": tf32, "floor_ms": max(memory, gemm),
           "bound": "memory" if memory >= gemm else "gemm"}
    if fp16 is not None:
        out["gemm_fp16_ms"] = fp16
    return out


def recall(found, truth):
    """Fraction of truth's labels (-1 padding aside) that found holds in the same row."""
    found = np.asarray(found, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    stride = int(max(found.max(initial=0), truth.max(initial=0))) + 1
    rows = np.arange(truth.shape[0], dtype=np.int64)[:, None] * stride
    f = (found + rows)[found >= 0]
    t = (truth + rows)[truth >= 0]
    return float(np.isin(t, f).sum() / t.size) if t.size else 1.0


# ---- tables: grouping the points (the printed table here; docs/benchmarks.md's renderer) ----

def grouped(doc, sweep=None):
    """Points by (index, nq, k), sorted so (index kind as measured, nq, k): [{"index", "nq", "k",
    "modes": {mode: point}, "torch": point or None}], the torch points folded into each row of
    their (nq, k); only the points of `sweep` ("k" or "nq") when given."""
    torch_points = {(p["nq"], p["k"]): p for p in doc["points"] if p["index"] == "torch"}
    rows = {}
    for p in doc["points"]:
        if p["index"] == "torch" or (sweep and sweep not in p["sweeps"]):
            continue
        row = rows.setdefault((p["index"], p["nq"], p["k"]), {
            "index": doc["index_names"][p["index"]], "nq": p["nq"], "k": p["k"], "modes": {},
            "torch": torch_points.get((p["nq"], p["k"]))})
        row["modes"][p["mode"]] = p
    kinds = list(dict.fromkeys(index for index, _, _ in rows))
    return [rows[key] for key in sorted(rows, key=lambda r: (kinds.index(r[0]), r[1], r[2]))]


def fmt_ms(point):
    """A point's median in ms, "error" when it failed, "-" when absent."""
    if point is None:
        return "-"
    if "median_ms" not in point:
        return "error"
    v = point["median_ms"]
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def table(doc):
    """Text table of a sweep document: a line per (index, nq, k), each mode's ms and its
    multiple of the floor side by side, PyTorch's ms, the fast mode's recall."""
    modes = doc["modes"]
    lines = [f"{'index':14} {'nq':>7} {'k':>6} " + " ".join(f"{m + ' ms (x floor)':>24}"
                                                             for m in modes)
             + f" {'PyTorch ms':>11} {'fast recall':>11}"
             + "".join(f" {'fused recall':>12}" if m == "fast-fused" else f" {m + ' recall':>22}"
                       for m in modes if m in FUSED_OPERANDS)]
    for row in grouped(doc):
        cells = []
        for m in modes:
            p = row["modes"].get(m)
            x = f" ({p['x_floor']:.2f}x)" if p and "x_floor" in p else ""
            cells.append(f"{fmt_ms(p) + x:>24}")
        fast = row["modes"].get("fast", {}).get("recall_vs_exact")
        fused = []
        for m in (m for m in modes if m in FUSED_OPERANDS):
            r = row["modes"].get(m, {}).get("recall_vs_exact")
            fused.append(f" {'-' if r is None else f'{r:.5f}':>{12 if m == 'fast-fused' else 22}}")
        lines.append(f"{row['index']:14} {row['nq']:>7} {row['k']:>6} " + " ".join(cells)
                     + f" {fmt_ms(row['torch']):>11} "
                     + f"{'-' if fast is None else f'{fast:.5f}':>11}" + "".join(fused))
    return "\n".join(lines)


# ---- measurement (needs torch and a CUDA build of knnx) ----

def matmul_rate(torch, tf32, n=8192, reps=5, dtype=None):
    """Flops/s of an n x n x n torch matmul: float32 with TF32 on or off, or of dtype (e.g.
    torch.float16, float32 accumulation)."""
    from k_sweep import median_ms
    a = torch.randn(n, n, device="cuda", dtype=dtype or torch.float32)
    b = torch.randn(n, n, device="cuda", dtype=dtype or torch.float32)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        ms = median_ms(lambda: a @ b, reps)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False
    return 2.0 * n ** 3 / (ms * 1e-3)


def driver_version():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True).stdout
    except OSError:
        out = ""
    return (out.split() or ["unknown"])[0]


def search_params(knnx, index, mode, args):
    p = knnx.SearchParametersIVF(nprobe=args.nprobe) if index == "ivf" else knnx.SearchParameters()
    if args.workspace_mb:
        p.workspace_bytes = args.workspace_mb << 20
    if mode in FAST_MODES:
        p.precision = knnx.FlatPrecision.FAST
    else:
        p.precision = knnx.FlatPrecision.EXACT
        if mode == "exact-fp32":
            p.flat_gemm = knnx.FlatGemm.FP32
    return p


def measure(args):
    import torch

    import knnx
    from gpu_ivf_pq import probed_rows, read_bandwidth
    from k_sweep import median_ms, torch_search

    if knnx.cuda_device_count() == 0 or not torch.cuda.is_available():
        sys.exit("gpu_sweep.py needs a CUDA device and a CUDA build of knnx (--dry-run does not)")
    pairs = plan(args)
    if not pairs:
        sys.exit("nothing to measure: every k of the sweeps exceeds --nb")
    started = time.perf_counter()
    torch.backends.cuda.matmul.allow_tf32 = False
    rates = {"copy_bandwidth_bytes_per_s": read_bandwidth(torch),
             "fp32_matmul_flops_per_s": matmul_rate(torch, tf32=False),
             "tf32_matmul_flops_per_s": matmul_rate(torch, tf32=True),
             "fp16_matmul_flops_per_s": matmul_rate(torch, tf32=False, dtype=torch.float16),
             "matmul_n": 8192}
    print("rates: copy {:,.0f} GB/s, matmul FP32 {:,.1f} TFLOP/s, TF32 {:,.1f} TFLOP/s, "
          "FP16 {:,.1f} TFLOP/s".format(
              rates["copy_bandwidth_bytes_per_s"] / 1e9, rates["fp32_matmul_flops_per_s"] / 1e12,
              rates["tf32_matmul_flops_per_s"] / 1e12, rates["fp16_matmul_flops_per_s"] / 1e12),
          flush=True)

    mix = dict(d=args.d, n_clusters=args.clusters, center_stddev=1.0,
               noise_stddev=args.noise, seed=args.seed)
    t0 = time.perf_counter()
    base = torch.from_numpy(knnx.make_mixture_base(args.nb, **mix)).cuda()
    queries_all = torch.from_numpy(
        knnx.make_mixture_queries(max(nq for nq, _, _ in pairs), **mix)).cuda()
    generate_s = time.perf_counter() - t0

    built, names = {}, {"flat": "Flat", "ivf": f"IVF{args.nlist},Flat", "torch": "PyTorch"}
    build = {}
    if "flat" in args.indexes:
        t0 = time.perf_counter()
        built["flat"] = knnx.IndexFlat(args.d, "l2", device="cuda")
        built["flat"].add(base)
        build["flat"] = {"add_s": time.perf_counter() - t0}
    if "ivf" in args.indexes:
        ivf = knnx.IndexIVFFlat(args.d, args.nlist, "l2", device="cuda")
        t0 = time.perf_counter()
        ivf.train(base[: min(args.nb, args.train_n)])
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ivf.add(base)
        sizes = np.asarray(ivf.list_sizes(), dtype=np.int64)
        centroids = np.asarray(ivf.centroids(), dtype=np.float32).reshape(args.nlist, args.d)
        build["ivf"] = {"train_n": min(args.nb, args.train_n), "train_s": train_s,
                        "add_s": time.perf_counter() - t0, "nlist": args.nlist,
                        "nprobe": args.nprobe, "list_size_max": int(sizes.max()),
                        "list_size_mean": float(sizes.mean())}
        built["ivf"] = ivf
    base_norms = (base * base).sum(1)
    torch_ws = int(args.torch_workspace_gb * 2**30)

    points = []

    def labels_of(search):
        try:
            return search()[1].cpu().numpy()
        except (RuntimeError, ValueError, MemoryError):
            return None

    def measure_point(point, search_all, search_recall_rows, reference):
        """Adds to point its median time over all its queries, its multiple of the floor and
        its recall on the first queries against reference (name, labels), or the error it met."""
        try:
            point["median_ms"] = median_ms(search_all, args.reps)
            point["qps"] = point["nq"] / (point["median_ms"] * 1e-3)
            point["x_floor"] = point["median_ms"] / point["floor"]["floor_ms"]
            labels = labels_of(search_recall_rows) if reference else None
            if labels is not None:
                point["recall_vs_exact"] = recall(labels, reference[1])
                point["recall_reference"] = reference[0]
                point["recall_queries"] = len(labels)
        except (RuntimeError, ValueError, MemoryError) as e:  # knnx's limits, out of memory
            point["error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
        torch.cuda.empty_cache()
        points.append(point)
        print(json.dumps({key: v for key, v in point.items() if key != "floor"}), flush=True)

    for nq, k, sweeps in pairs:
        queries = queries_all[:nq].contiguous()
        rq = queries[: recall_rows(nq, k, args.recall_queries)]
        # Recall's reference: knnx Flat's exact search of the first queries, else PyTorch's.
        reference = None
        if "flat" in built:
            exact = search_params(knnx, "flat", "exact", args)
            labels = labels_of(lambda: built["flat"].search(rq, k, params=exact))
            reference = None if labels is None else ("flat-exact", labels)
        if reference is None and not args.no_torch:
            labels = labels_of(lambda: torch_search(base, base_norms, rq, k, torch_ws))
            reference = None if labels is None else ("torch", labels)

        if not args.no_torch:
            measure_point({"index": "torch", "mode": "fp32", "nq": nq, "k": k, "sweeps": sweeps,
                           "floor": floor(*work("flat", args.nb, args.d, nq, k), "torch-fp32",
                                          rates)},
                          lambda: torch_search(base, base_norms, queries, k, torch_ws),
                          lambda: torch_search(base, base_norms, rq, k, torch_ws), reference)
        for index in args.indexes:
            extra = {}
            if index == "ivf":
                probed, distinct = probed_rows(torch, centroids, queries, sizes, args.nprobe)
                extra = {"probed_rows": probed, "distinct_rows": distinct}
            nbytes, flops = work(index, args.nb, args.d, nq, k, args.nlist, **extra)
            for mode in args.modes:
                params = search_params(knnx, index, mode, args)
                # What the flat search ran: a fast search that cannot gain runs exact.
                ran = ({"precision_used": built[index].precision_used(nq, k, params).name.lower()}
                       if hasattr(built[index], "precision_used") else {})
                kernel = FAST_KERNEL.get(mode)
                operands = FUSED_OPERANDS.get(mode)
                mma = FUSED_MMA.get(mode)
                if kernel:
                    ran["fast_kernel"] = kernel
                if operands:
                    ran["fused_operands"] = operands
                if mma:
                    ran["fused_mma"] = mma
                saved = {key: knnx.config()[key]
                         for key in ("flat_fast_kernel", "flat_fused_operands", "flat_fused_mma")}
                knnx.set_config(flat_fast_kernel=kernel or saved["flat_fast_kernel"],
                                flat_fused_operands=operands or saved["flat_fused_operands"],
                                flat_fused_mma=mma or saved["flat_fused_mma"])
                try:
                    measure_point({"index": index, "mode": mode, "nq": nq, "k": k,
                                   "sweeps": sweeps, **extra, **ran,
                                   "floor": floor(nbytes, flops, mode, rates)},
                                  lambda: built[index].search(queries, k, params=params),
                                  lambda: built[index].search(rq, k, params=params), reference)
                finally:
                    knnx.set_config(**saved)

    return {
        "benchmark": "gpu_sweep",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "device": torch.cuda.get_device_name(),
        "driver": driver_version(),
        "torch": torch.__version__,
        "cuda_runtime_torch": torch.version.cuda,
        "knnx_config": knnx.config(),
        "data": {"kind": "gaussian_mixture", "source": "knnx.make_mixture_base / "
                 "make_mixture_queries", "n": args.nb, "d": args.d, "clusters": args.clusters,
                 "center_stddev": 1.0, "noise_stddev": args.noise, "seed": args.seed,
                 "generate_s": generate_s},
        "metric": "l2",
        "k_sweep": {"nq": args.k_sweep_nq, "k": args.k} if "k" in args.sweeps else None,
        "nq_sweep": {"k": args.nq_sweep_k, "nq": args.nq} if "nq" in args.sweeps else None,
        "modes": list(args.modes),
        "index_names": names,
        "build": build,
        "reps": args.reps,
        "statistic": f"median of {args.reps} searches after one warm-up",
        "workspace_mb": args.workspace_mb or knnx.config()["gpu_workspace_mb"],
        "torch_workspace_gb": None if args.no_torch else args.torch_workspace_gb,
        "rates": rates,
        "points": points,
        "elapsed_s": time.perf_counter() - started,
    }


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--sweeps", nargs="+", choices=["k", "nq"], default=["k", "nq"])
    p.add_argument("--indexes", nargs="+", choices=INDEXES, default=list(INDEXES))
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--k", type=int, nargs="+", default=[10, 100, 1024, 2048, 4096, 8192, 16384],
                   help="k of the k sweep")
    p.add_argument("--k-sweep-nq", type=int, default=10_000)
    p.add_argument("--nq", type=int, nargs="+", default=[1, 16, 10_000, 100_000],
                   help="nq of the nq sweep")
    p.add_argument("--nq-sweep-k", type=int, default=10)
    p.add_argument("--nb", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--clusters", type=int, default=1024)
    p.add_argument("--noise", type=float, default=0.6)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--nlist", type=int, default=1024)
    p.add_argument("--nprobe", type=int, default=32,
                   help="IVF lists probed (32 of 1024 hold ~31k rows, enough for k = 16384)")
    p.add_argument("--train-n", type=int, default=262_144, help="IVF k-means sample")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--recall-queries", type=int, default=1000,
                   help=f"queries compared for recall (fewer past k = {RECALL_LABELS:,} / rows)")
    p.add_argument("--workspace-mb", type=int, default=0,
                   help="SearchParameters.workspace_bytes of knnx's searches (0: knnx's default)")
    p.add_argument("--torch-workspace-gb", type=float, default=4.0,
                   help="bound on PyTorch's distance block (queries are chunked to fit)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    p.add_argument("--dry-run", action="store_true",
                   help="print the points and floors' inputs; measure nothing")
    p.add_argument("--out", default=None)
    return p


def main():
    args = parser().parse_args()
    if args.dry_run:
        for nq, k, sweeps in plan(args):
            nbytes, flops = work("flat", args.nb, args.d, nq, k)
            print(f"nq {nq:>7} k {k:>6} ({'+'.join(sweeps)} sweep): indexes "
                  f"{' '.join(args.indexes)} x modes {' '.join(args.modes)}"
                  f"{'' if args.no_torch else ' + torch'}; flat moves {nbytes / 2**20:,.0f} MiB, "
                  f"{flops / 1e12:.2f} TFLOP")
        return
    from gpu_ivf_pq import write_result

    doc = measure(args)
    print(table(doc))
    write_result(doc, "gpu_sweep", args.out)
    print(f"{doc['elapsed_s']:.0f} s")


if __name__ == "__main__":
    main()
