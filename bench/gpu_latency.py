"""GPU search latency at one query and small batches: knnx Flat and IVF-Flat over a grid of
(nlist, nprobe), nq 1 and 16 by default, queries and results in host (numpy) arrays as a user
passes them, beside the read floor, all in one process on one device.

Floor of a point: the bytes the search must read once / the bandwidth of a large
device-to-device copy measured in the same run (reads + writes, as bench/NOTES.md counts it;
torch measures it when installed, else --bandwidth-gbs gives it):
  Flat  the base, n d 4 bytes
  IVF   the centroids and the distinct rows of the lists the queries probe, (nlist + rows) d 4
The floor leaves out launch and copy latency, which dominate IVF at nq 1: the number to compare
there is FAISS-GPU's time for the same point (bench/faiss_compare.py) and the fixed cost of one
search, not the floor.

--shared-scan times the IVF scan choices side by side (-1: the automatic choice, 0: per-query
scan, 1: list-major shared scan), e.g. at nq 10000 and nprobe 1 where the choice matters. JSON
(device, commit, command, sizes, bandwidth, every point) in bench/results/gpu_latency_<gpu>.json
unless --out names another file.

    PYTHONPATH=build/python python3 bench/gpu_latency.py
    PYTHONPATH=build/python python3 bench/gpu_latency.py --nb 10000000 --d 96 --nlist 4096 \\
        --nprobe 1 2 4 8 --skip-flat
    PYTHONPATH=build/python python3 bench/gpu_latency.py --nq 10000 --nlist 4096 --nprobe 1 2 \\
        --shared-scan -1 0 1 --reps 20 --skip-flat
    python3 bench/gpu_latency.py --dry-run              # the plan; no GPU needed
"""

import argparse
import datetime
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # gpu_ivf_pq, faiss_compare when imported from elsewhere

from faiss_compare import git  # noqa: E402  (provenance; no faiss needed)


def plan(args):
    """Points to measure, in order: dicts of index ("flat" / "ivf"), nq, and for IVF nlist,
    nprobe and shared_scan."""
    points = []
    for nq in args.nq:
        if not args.skip_flat:
            points.append({"index": "flat", "nq": nq})
        for nlist in args.nlist:
            for nprobe in args.nprobe:
                if nprobe > nlist:
                    continue
                for shared in args.shared_scan:
                    points.append({"index": "ivf", "nq": nq, "nlist": nlist, "nprobe": nprobe,
                                   "shared_scan": shared})
    return points


def floor_ms(nbytes, bandwidth):
    """Milliseconds to read nbytes at `bandwidth` bytes/s."""
    return nbytes / bandwidth * 1e3


def flat_bytes(nb, d):
    return nb * d * 4


def ivf_bytes(nlist, distinct_rows, d):
    return (nlist + distinct_rows) * d * 4


def distinct_probed_rows(centroids, queries, sizes, nprobe):
    """Rows of the distinct lists that the queries' nprobe nearest centroids (L2) name."""
    c = centroids.astype(np.float64)
    q = queries.astype(np.float64)
    probed = np.zeros(len(sizes), dtype=bool)
    for s in range(0, len(q), 1024):
        block = q[s:s + 1024]
        dist = (block * block).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2 * block @ c.T
        probes = np.argpartition(dist, min(nprobe, len(sizes)) - 1, axis=1)[:, :nprobe]
        probed[probes.reshape(-1)] = True
    return int(np.asarray(sizes)[probed].sum())


def median_ms(fn, reps):
    fn()  # warm-up: kernels, pools, streams
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def copy_bandwidth(args):
    """Bytes/s of a large device-to-device copy (reads + writes), or --bandwidth-gbs."""
    if args.bandwidth_gbs:
        return args.bandwidth_gbs * 1e9, "given"
    try:
        import torch
    except ImportError:
        sys.exit("gpu_latency.py: torch is not installed; give the copy bandwidth (--bandwidth-gbs)")
    from gpu_ivf_pq import read_bandwidth
    return read_bandwidth(torch), "torch device-to-device copy"


def device_name():
    """The first GPU's name as nvidia-smi gives it ("unknown" without it)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        out = ""
    return out.splitlines()[0] if out else "unknown"


def measure(args):
    import knnx

    if knnx.cuda_device_count() == 0:
        sys.exit("gpu_latency.py needs a CUDA device and a CUDA build of knnx (--dry-run does not)")
    bandwidth, bandwidth_source = copy_bandwidth(args)
    print(f"copy bandwidth {bandwidth / 1e9:,.0f} GB/s ({bandwidth_source})", flush=True)
    mix = dict(d=args.d, n_clusters=args.clusters, center_stddev=1.0, noise_stddev=args.noise,
               seed=args.seed)
    base = knnx.make_mixture_base(args.nb, **mix)
    queries_all = knnx.make_mixture_queries(max(args.nq), **mix)
    points = []

    def run_point(point, index, params, nbytes):
        queries = np.ascontiguousarray(queries_all[: point["nq"]])
        point["floor_ms"] = floor_ms(nbytes, bandwidth)
        try:
            point["median_ms"] = median_ms(
                lambda: index.search(queries, args.k, params=params), args.reps)
            point["x_floor"] = point["median_ms"] / point["floor_ms"]
        except (RuntimeError, ValueError, MemoryError) as e:
            point["error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
        points.append(point)
        print(json.dumps(point), flush=True)

    todo = plan(args)
    if not args.skip_flat:
        flat = knnx.IndexFlat(args.d, "l2", device="cuda")
        flat.add(base)
        for point in (p for p in todo if p["index"] == "flat"):
            run_point(dict(point), flat, knnx.SearchParameters(), flat_bytes(args.nb, args.d))
        del flat
    for nlist in args.nlist:
        ivf = knnx.IndexIVFFlat(args.d, nlist, "l2", device="cuda")
        ivf.train(base[: min(args.nb, max(args.train_per_list * nlist, nlist))])
        ivf.add(base)
        sizes = np.asarray(ivf.list_sizes(), dtype=np.int64)
        centroids = np.asarray(ivf.centroids(), dtype=np.float32).reshape(nlist, args.d)
        for point in (p for p in todo if p["index"] == "ivf" and p["nlist"] == nlist):
            params = knnx.SearchParametersIVF(nprobe=point["nprobe"])
            params.shared_scan = point["shared_scan"]
            rows = distinct_probed_rows(centroids, queries_all[: point["nq"]], sizes,
                                        point["nprobe"])
            run_point(dict(point, distinct_rows=rows, list_size_max=int(sizes.max()),
                           list_size_mean=float(sizes.mean())),
                      ivf, params, ivf_bytes(nlist, rows, args.d))
        del ivf
    return {
        "benchmark": "gpu_latency",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "HEAD") or None,
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "device": device_name(),
        "knnx_config": knnx.config(),
        "data": {"kind": "gaussian_mixture", "n": args.nb, "d": args.d,
                 "clusters": args.clusters, "noise_stddev": args.noise, "seed": args.seed},
        "k": args.k,
        "queries": "host (numpy) arrays in and out",
        "statistic": f"median of {args.reps} searches after one warm-up",
        "copy_bandwidth_bytes_per_s": bandwidth,
        "copy_bandwidth_source": bandwidth_source,
        "points": points,
    }


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__)
    p.add_argument("--nb", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--clusters", type=int, default=1024)
    p.add_argument("--noise", type=float, default=0.6)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--nq", type=int, nargs="+", default=[1, 16])
    p.add_argument("--nlist", type=int, nargs="+", default=[1024, 4096])
    p.add_argument("--nprobe", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    p.add_argument("--shared-scan", type=int, nargs="+", choices=[-1, 0, 1], default=[-1])
    p.add_argument("--train-per-list", type=int, default=64,
                   help="training vectors per list (at most nb)")
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--skip-flat", action="store_true")
    p.add_argument("--bandwidth-gbs", type=float, default=0.0,
                   help="copy bandwidth in GB/s instead of measuring it with torch")
    p.add_argument("--out", type=Path)
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.dry_run:
        for point in plan(args):
            print(json.dumps(point))
        return
    doc = measure(args)
    out = args.out or BENCH / "results" / (
        "gpu_latency_" + doc["device"].lower().replace(" ", "_") + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
