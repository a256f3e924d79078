"""k sweep on one GPU: knnx IndexFlat and IndexIVFFlat against PyTorch matmul + topk, same data,
same process. For each k (default 10 ... 16384) and nq: the median search time of each, the
ratio to the previous k (the issue asks at most 1.4x per doubling past 1024), recall of knnx
against the PyTorch result on the first queries (flat: the same exact answer up to ties; IVF:
what its nprobe reaches), and a floor: the FP32 GEMM time at the device's peak rate, or the
time to write the results at its memory bandwidth, whichever is larger (peak figures of the
H100 SXM / H200 from their data sheets; null on other devices). JSON in
bench/results/k_sweep_<gpu>.json unless --out names another file.

    PYTHONPATH=build/python python3 bench/k_sweep.py                      # 1M x 128, nq 10000
    PYTHONPATH=build/python python3 bench/k_sweep.py --nb 200000 --nq 1000 --k 10 4096

Queries, data and results stay on the GPU (torch CUDA tensors in and out of knnx.search), so
the times are of the searches alone. --radix-min-k sets KNNX_GPU_RADIX_MIN_K for the run
(knnx's radix selection from that k on; 2049 by default), to compare the two selections at
the same k. torch.topk handles any k up to the row length; a k it refuses is recorded with its
error.
"""

import argparse
import datetime
import json
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

import knnx
from faiss_compare import REPO, git

# Data-sheet peaks: dense FP32 TFLOP/s and HBM GB/s (SXM parts).
PEAKS = {"H100": (67.0, 3350.0), "H200": (67.0, 4800.0)}


def median_ms(fn, reps):
    fn()  # warm-up: kernels, allocator pools, cuBLAS handles
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def uniform(shape, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    return torch.rand(shape, generator=g, device="cuda") * 2 - 1


def torch_search(base, base_norms, queries, k, workspace_bytes):
    """x @ y.T + norms, then topk, in chunks of queries whose distance block fits the workspace."""
    chunk = max(1, int(workspace_bytes // (base.shape[0] * 4 * 2)))
    out_d, out_i = [], []
    for s in range(0, queries.shape[0], chunk):
        q = queries[s:s + chunk]
        dist = (q * q).sum(1, keepdim=True) + base_norms[None, :] - 2 * (q @ base.T)
        d, i = torch.topk(dist, k, dim=1, largest=False)
        out_d.append(d)
        out_i.append(i)
    return torch.cat(out_d), torch.cat(out_i)


def recall(found, truth):
    """Fraction of truth's labels per row that found holds, averaged."""
    hits = 0
    for f, t in zip(found.tolist(), truth.tolist()):
        hits += len(set(f) & set(t))
    return hits / truth.numel()


def floor_ms(gpu, nb, d, nq, k):
    peak = next((v for name, v in PEAKS.items() if name in gpu), None)
    if peak is None:
        return None
    tflops, gbps = peak
    gemm = 2.0 * nq * nb * d / (tflops * 1e12) * 1e3
    results = nq * k * 12 / (gbps * 1e9) * 1e3
    return max(gemm, results)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nb", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--nq", type=int, nargs="+", default=[10_000])
    p.add_argument("--k", type=int, nargs="+",
                   default=[10, 100, 1024, 2048, 4096, 8192, 16384])
    p.add_argument("--nlist", type=int, default=1024)
    p.add_argument("--nprobe", type=int, default=64,
                   help="IVF lists probed (enough candidates for the largest k)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--recall-queries", type=int, default=100)
    p.add_argument("--workspace-gb", type=float, default=4.0,
                   help="PyTorch's distance block bound (knnx uses KNNX_GPU_WORKSPACE_MB)")
    p.add_argument("--radix-min-k", type=int, default=None)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-ivf", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args()

    if args.radix_min_k is not None:
        knnx.set_config(gpu_radix_min_k=args.radix_min_k)
    gpu = torch.cuda.get_device_name()
    base = uniform((args.nb, args.d), 1)
    base_norms = (base * base).sum(1)
    queries_all = uniform((max(args.nq), args.d), 2)

    flat = knnx.IndexFlat(args.d, "l2", device="cuda")
    flat.add(base)
    ivf = None
    if not args.no_ivf:
        ivf = knnx.IndexIVFFlat(args.d, args.nlist, "l2", device="cuda")
        ivf.train(base[: min(args.nb, 100 * args.nlist)])
        ivf.add(base)
    ivf_params = knnx.SearchParametersIVF(nprobe=args.nprobe)
    workspace = int(args.workspace_gb * 2**30)

    rows = []
    for nq in args.nq:
        queries = queries_all[:nq].contiguous()
        rq = queries[: args.recall_queries]
        prev = {}
        for k in args.k:
            if k > args.nb:
                continue
            row = {"nq": nq, "k": k, "floor_ms": floor_ms(gpu, args.nb, args.d, nq, k)}
            truth = None
            if not args.no_torch:
                try:
                    row["torch_ms"] = median_ms(
                        lambda: torch_search(base, base_norms, queries, k, workspace), args.reps)
                    truth = torch_search(base, base_norms, rq, k, workspace)[1]
                except RuntimeError as e:  # a k torch.topk refuses, or out of memory
                    row["torch_error"] = str(e).splitlines()[0]
                torch.cuda.empty_cache()
            row["flat_ms"] = median_ms(lambda: flat.search(queries, k), args.reps)
            flat_labels = flat.search(rq, k)[1]
            if truth is None:
                truth = flat_labels
            else:
                row["flat_recall_vs_torch"] = recall(flat_labels, truth)
            if ivf is not None:
                row["ivf_ms"] = median_ms(lambda: ivf.search(queries, k, params=ivf_params),
                                          args.reps)
                row["ivf_recall_vs_exact"] = recall(ivf.search(rq, k, params=ivf_params)[1], truth)
            for key in ("flat_ms", "ivf_ms", "torch_ms"):
                if key in row and key in prev:
                    row[key.replace("_ms", "_ratio_to_prev_k")] = row[key] / prev[key]
            prev = {key: row[key] for key in ("flat_ms", "ivf_ms", "torch_ms") if key in row}
            rows.append(row)
            print(json.dumps(row), flush=True)

    doc = {
        "what": "k sweep: knnx IndexFlat / IndexIVFFlat vs PyTorch matmul+topk, times in ms "
                "(median), data uniform in [-1, 1], L2",
        "gpu": gpu,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "HEAD"),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "host": platform.node(),
        "torch": torch.__version__,
        "knnx_radix_min_k": knnx.config()["gpu_radix_min_k"],
        "knnx_gpu_workspace_mb": knnx.config()["gpu_workspace_mb"],
        "nb": args.nb, "d": args.d, "nlist": args.nlist, "nprobe": args.nprobe,
        "reps": args.reps,
        "rows": rows,
    }
    tag = gpu.split()[-1].lower() if gpu else "gpu"
    for name in PEAKS:
        if name in gpu:
            tag = name.lower()
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"k_sweep_{tag}.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
