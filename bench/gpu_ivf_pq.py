"""GPU IndexIVFPQ: recall@k against exact ground truth vs queries/s over n_probe, beside the
PyTorch fp32 brute force (matmul + topk) and the memory-read floor of the codes each query
scans, all measured in one run on one device. JSON (device, driver, commit, command, sizes,
build times, device memory, every point) in bench/results/ unless --out names another file.

    PYTHONPATH=build/python python3 bench/gpu_ivf_pq.py --n 1000000 10000000 --nq 10000 \\
        --out bench/results/gpu_ivf_pq_h100.json

Data (--data): "lowdim" (default), a SIFT-like synthetic set of low intrinsic dimension, as
SIFT's is: points of a Gaussian mixture (--clusters centres, unit spread) in a --latent
dimensional space, mapped linearly into d = 96 dimensions, plus isotropic noise (--noise);
or "mixture", knnx.make_mixture_base / make_mixture_queries (--clusters centres in d
dimensions, noise --noise), whose full-rank clusters leave PQ codes of 48 bytes near recall
0.85 already at 50k vectors. Base and queries are independent draws.
Ground truth: the PyTorch brute force itself (fp32 matmul with TF32 off, then topk), which is
also the baseline. Times are medians of --reps searches of CUDA queries (torch tensors) with
results left on the device, after a warm-up; queries/s = nq / median. The floor: for each
query, the bytes of the codes in its n_probe nearest lists (list sizes x the code size rounded
up to 4), summed over the queries, over the device's read bandwidth measured here by a large
device-to-device copy (an L2 index with the precomputed table and codes of 32 bytes or more
also reads each row's 4-byte term, row_term_bytes: not in the floor); scan_vs_floor = knnx's
search time / the floor time (it includes the coarse quantisation, the tables and the merge,
so it bounds the scan's own ratio from above).
"""

import argparse
import datetime
import itertools
import json
import math
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import knnx
from faiss_compare import REPO, git, recall  # provenance and recall (no faiss needed)


def median_seconds(torch, fn, reps):
    fn()  # warm-up
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def read_bandwidth(torch, gib=4.0, reps=5):
    """Device memory bandwidth in bytes/s from a device-to-device copy (reads + writes)."""
    n = int(gib * 2**30) // 4
    src = torch.empty(n, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    seconds = median_seconds(torch, lambda: dst.copy_(src), reps)
    del src, dst
    torch.cuda.empty_cache()
    return 2 * n * 4 / seconds


def brute_force(torch, base, queries, k, workspace_bytes):
    """Exact L2 top-k by fp32 matmul + topk, queries in chunks whose distance block fits."""
    norms = (base * base).sum(1)
    chunk = max(1, int(workspace_bytes // (base.shape[0] * 4 * 2)))
    out = []
    for s in range(0, queries.shape[0], chunk):
        q = queries[s:s + chunk]
        dist = (q * q).sum(1, keepdim=True) + norms[None, :] - 2 * (q @ base.T)
        out.append(torch.topk(dist, k, dim=1, largest=False).indices)
    return torch.cat(out)


def probed_rows(torch, centroids, queries, list_sizes, n_probe):
    """Rows of the queries' n_probe nearest lists: (summed over the queries, in the distinct
    lists probed). The first is what a scan reads list by list per query, the second what it
    reads when each probed list is read once for all its queries."""
    c = torch.from_numpy(np.ascontiguousarray(centroids, dtype=np.float32)).to(queries.device)
    sizes = torch.from_numpy(np.asarray(list_sizes, dtype=np.int64)).to(queries.device)
    probed = torch.zeros(len(sizes), dtype=torch.bool, device=queries.device)
    total = 0
    for s in range(0, queries.shape[0], 4096):
        q = queries[s:s + 4096]
        dist = (q * q).sum(1, keepdim=True) + (c * c).sum(1)[None, :] - 2 * (q @ c.T)
        probes = torch.topk(dist, min(n_probe, len(sizes)), dim=1, largest=False).indices
        total += int(sizes[probes].sum().item())
        probed[probes.reshape(-1)] = True
    return total, int(sizes[probed].sum().item())


def bytes_scanned(torch, centroids, queries, list_sizes, n_probe, row_bytes):
    """Code bytes the queries' n_probe nearest lists hold (the floor's numerator)."""
    return probed_rows(torch, centroids, queries, list_sizes, n_probe)[0] * row_bytes


class LowDim:
    """The "lowdim" set's model: --clusters Gaussian centres (spread 2) in a --latent space,
    unit spread around them, mapped by a fixed matrix into d dimensions, plus --noise."""

    def __init__(self, args):
        rng = np.random.default_rng(args.seed)
        self.w = (rng.standard_normal((args.latent, args.d)) /
                  math.sqrt(args.latent)).astype(np.float32)
        self.centres = (2.0 * rng.standard_normal((args.clusters, args.latent))).astype(np.float32)
        self.noise = args.noise

    def draw_into(self, out, r, chunk=1_000_000):
        """Fills out (rows x d float32, an array or a memory map) with draws from generator r."""
        latent, d = self.w.shape
        for s in range(0, len(out), chunk):
            c = min(chunk, len(out) - s)
            z = self.centres[r.integers(0, len(self.centres), c)]
            z += r.standard_normal((c, latent), dtype=np.float32)
            out[s:s + c] = z @ self.w
            out[s:s + c] += self.noise * r.standard_normal((c, d), dtype=np.float32)
        return out


def lowdim(n, nq, args):
    """Base and query vectors of the "lowdim" set (float32)."""
    model = LowDim(args)
    return tuple(model.draw_into(np.empty((m, args.d), dtype=np.float32),
                                 np.random.default_rng(args.seed + stream))
                 for m, stream in ((n, 1), (nq, 2)))


def make_data(n, args):
    if args.data == "lowdim":
        return lowdim(n, args.nq, args)
    mix = dict(d=args.d, n_clusters=args.clusters, center_stddev=1.0,
               noise_stddev=args.noise, seed=args.seed)
    return knnx.make_mixture_base(n, **mix), knnx.make_mixture_queries(args.nq, **mix)


def run_size(torch, args, n, bandwidth):
    d = args.d
    t0 = time.perf_counter()
    xb, xq = make_data(n, args)
    gen_s = time.perf_counter() - t0
    print(f"n={n}: data generated in {gen_s:.1f} s", flush=True)
    base = torch.from_numpy(xb).cuda()
    queries = torch.from_numpy(xq).cuda()

    torch.backends.cuda.matmul.allow_tf32 = False
    ws = int(args.torch_workspace_gb * 2**30)
    truth = brute_force(torch, base, queries, args.k, ws)
    torch_s = median_seconds(torch, lambda: brute_force(torch, base, queries, args.k, ws),
                             args.reps)
    truth = truth.cpu().numpy()
    del base
    torch.cuda.empty_cache()
    result = {"n": n, "d": d, "nq": args.nq, "k": args.k, "generate_s": gen_s,
              "torch_fp32_brute_force": {"median_s": torch_s, "qps": args.nq / torch_s,
                                         "recall": 1.0},
              "indexes": []}
    print(f"n={n}: torch fp32 brute force {args.nq / torch_s:,.0f} q/s", flush=True)

    nlist = args.nlist or max(256, 1 << round(math.log2(math.sqrt(n))))
    for M in args.M:
        free_before = torch.cuda.mem_get_info()[0]
        rng = np.random.default_rng(args.seed)
        sample = xb[np.sort(rng.choice(n, min(n, args.train_n), replace=False))]
        index, train_s, add_s = build(knnx.IndexIVFPQ(d, nlist, M, device=args.device), sample,
                                      xb, args)
        torch.cuda.synchronize()
        device_bytes = free_before - torch.cuda.mem_get_info()[0]
        print(f"n={n} M={M}: trained in {train_s:.1f} s, added in {add_s:.1f} s, "
              f"{device_bytes / 2**30:.2f} GiB of device memory", flush=True)
        sizes = index.list_sizes()
        row_bytes = (M + 3) // 4 * 4
        # The GPU backend's L2 rows carry a float term after codes of 8 words or more.
        on_gpu = args.device.startswith("cuda")
        term_bytes = 4 if on_gpu and index.precomputed_table_in_use and row_bytes >= 32 else 0
        entry = {"M": M, "nlist": nlist, "code_bytes": M, "stored_row_bytes": row_bytes,
                 "row_term_bytes": term_bytes,
                 "train_n": len(sample), "train_s": train_s, "add_s": add_s,
                 "device_bytes_after_build": int(device_bytes),
                 "precomputed_table": bool(index.precomputed_table_in_use),
                 "list_size_max": int(max(sizes)), "list_size_mean": float(np.mean(sizes)),
                 "points": []}
        centroids = np.asarray(index.centroids(), dtype=np.float32).reshape(nlist, d)
        for n_probe in args.nprobe:
            if n_probe > nlist:
                continue
            params = knnx.SearchParametersIVF(nprobe=n_probe)
            _, labels = index.search(queries, args.k, params=params)
            rec = recall(labels.cpu().numpy(), truth)
            seconds = median_seconds(torch, lambda: index.search(queries, args.k, params=params),
                                     args.reps)
            scanned = bytes_scanned(torch, centroids, queries, sizes, n_probe, row_bytes)
            floor_s = scanned / bandwidth
            point = {"nprobe": n_probe, "recall": rec, "median_s": seconds,
                     "qps": args.nq / seconds, "bytes_scanned": scanned, "floor_s": floor_s,
                     "floor_qps": args.nq / floor_s, "scan_vs_floor": seconds / floor_s}
            entry["points"].append(point)
            print(f"n={n} M={M} nlist={nlist} nprobe={n_probe}: recall@{args.k} {rec:.4f} "
                  f"{args.nq / seconds:,.0f} q/s (floor {args.nq / floor_s:,.0f} q/s, "
                  f"{seconds / floor_s:.2f}x)", flush=True)
        del index
        if args.refine:
            entry["refine"] = refine_points(torch, args, xb, xq, queries, truth, sample, nlist, M)
        result["indexes"].append(entry)
    return result


def build(index, sample, xb, args):
    """Trains index on sample and adds xb in chunks: (index, train seconds, add seconds)."""
    t0 = time.perf_counter()
    index.train(sample)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in range(0, len(xb), args.add_chunk):
        index.add(xb[s:s + args.add_chunk])
    return index, train_s, time.perf_counter() - t0


def refine_points(torch, args, xb, xq, queries, truth, sample, nlist, M):
    """The same IVF-PQ wrapped in IndexRefineFlat: recall and queries/s over where the exact
    vectors are (--refine-storage: host memory, re-ranked on the host; or the GPU, re-ranked
    there) x n_probe x k_factor."""
    index, train_s, add_s = build(
        knnx.IndexRefineFlat(knnx.IndexIVFPQ(xb.shape[1], nlist, M, device=args.device)),
        sample, xb, args)
    print(f"refine: trained in {train_s:.1f} s, added in {add_s:.1f} s", flush=True)
    out = {"train_s": train_s, "add_s": add_s, "points": []}
    for storage, n_probe, k_factor in itertools.product(args.refine_storage, args.refine_nprobe,
                                                        args.refine):
        if index.refine_storage != storage:
            index.refine_storage = storage
        params = knnx.SearchParametersRefine(
            k_factor=k_factor, base_index_params=knnx.SearchParametersIVF(nprobe=n_probe))
        _, labels = index.search(queries, args.k, params=params)
        rec = recall(np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels), truth)
        seconds = median_seconds(torch, lambda: index.search(queries, args.k, params=params),
                                 args.reps)
        out["points"].append({"storage": storage, "nprobe": n_probe, "k_factor": k_factor,
                              "recall": rec, "median_s": seconds, "qps": args.nq / seconds})
        print(f"refine {storage} nprobe={n_probe} k_factor={k_factor}: "
              f"recall@{args.k} {rec:.4f} {args.nq / seconds:,.0f} q/s", flush=True)
    del index
    return out


def write_result(doc, prefix, out=None):
    """Writes doc to out, by default bench/results/<prefix>_<h100|h200|gpu>.json; its path."""
    tag = "h200" if "H200" in doc["device"] else "h100" if "H100" in doc["device"] else "gpu"
    out = Path(out) if out else REPO / "bench" / "results" / f"{prefix}_{tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--d", type=int, default=96)
    ap.add_argument("--nq", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--M", type=int, nargs="+", default=[48],
                    help="sub-quantizers (bytes per vector); several values run in turn")
    ap.add_argument("--nlist", type=int, default=0,
                    help="lists (default: sqrt(n) rounded to a power of two: 1024 for 1M, "
                         "4096 for 10M)")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128])
    ap.add_argument("--train-n", type=int, default=500_000)
    ap.add_argument("--add-chunk", type=int, default=1_000_000)
    ap.add_argument("--data", choices=["lowdim", "mixture"], default="lowdim")
    ap.add_argument("--latent", type=int, default=16, help="lowdim: intrinsic dimension")
    ap.add_argument("--clusters", type=int, default=256)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--torch-workspace-gb", type=float, default=8.0)
    ap.add_argument("--refine", type=float, nargs="*", default=[],
                    help="k_factors of an IndexRefineFlat over the same IVF-PQ (none: skipped)")
    ap.add_argument("--refine-nprobe", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--refine-storage", nargs="+", choices=["host", "device"],
                    default=["host", "device"], help="where the refine's exact vectors are")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch  # the baseline and the device timing need it

    if knnx.cuda_device_count() == 0 or not torch.cuda.is_available():
        sys.exit("gpu_ivf_pq.py needs a CUDA device")
    bandwidth = read_bandwidth(torch)
    print(f"device {torch.cuda.get_device_name()}: copy bandwidth {bandwidth / 1e9:,.0f} GB/s",
          flush=True)
    doc = {
        "benchmark": "gpu_ivf_pq",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "device": torch.cuda.get_device_name(),
        "cuda_runtime_torch": torch.version.cuda,
        "torch": torch.__version__,
        "driver": subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                  "--format=csv,noheader"], capture_output=True,
                                 text=True).stdout.strip() or "unknown",
        "read_bandwidth_bytes_per_s": bandwidth,
        "data": {"kind": args.data, "d": args.d, "latent": args.latent,
                 "clusters": args.clusters, "noise": args.noise, "seed": args.seed},
        "sizes": [],
    }
    for n in args.n:  # written after each size, so a run cut short keeps the sizes it finished
        doc["sizes"].append(run_size(torch, args, n, bandwidth))
        write_result(doc, "gpu_ivf_pq", args.out)


if __name__ == "__main__":
    main()
