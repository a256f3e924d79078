"""k sweep on the CPU: knnx against faiss-cpu, same data, same process, same factory strings
(Flat and IVF<nlist>,Flat at --nprobe). For each k (default 10 ... 16384): the median search time
of each library, timed interleaved (bench/faiss_compare.py), knnx's time over the previous k
(the large-k selection's cost of a doubling), knnx's time over faiss-cpu's, and whether the two
return the same neighbours (labels compared as sets per query, and the distances of the k-th
neighbours; IVF lists are trained by each library, so IVF compares only recall against the exact
flat answer). JSON in bench/results/cpu_k_sweep_<host>.json unless --out names another file.

    PYTHONPATH=build/python python3 bench/cpu_k_sweep.py                 # 200k x 128, nq 1000
    PYTHONPATH=build/python python3 bench/cpu_k_sweep.py --k 10 1024 2048 4096 --rounds 3
"""

import argparse
import datetime
import os
import shlex
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faiss_compare import (cpu_name, git, interleaved_median_seconds, mixture,  # noqa: E402
                           write_host_result)


def load_average():
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def same_sets(a, b):
    """Fraction of queries whose label sets agree (ties at the k-th distance may swap labels,
    so the caller also compares the k-th distances)."""
    return float(np.mean([set(x) == set(y) for x, y in zip(a, b)]))


def recall_against(labels, truth):
    k = truth.shape[1]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(labels, truth)]))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nb", type=int, default=200_000)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--k", type=int, nargs="+",
                   default=[10, 100, 1024, 2048, 4096, 8192, 16384])
    p.add_argument("--nlist", type=int, default=256)
    p.add_argument("--nprobe", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-ivf", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args()

    import faiss
    import knnx

    xb, xq = mixture(args.nb, args.nq, args.d, seed=0)
    indexes = {"Flat": "Flat"}
    if not args.no_ivf:
        indexes[f"IVF{args.nlist},Flat"] = f"IVF{args.nlist},Flat"
    built = {}
    for name, spec in indexes.items():
        pair = {}
        for lib, make in (("knnx", knnx.index_factory), ("faiss", faiss.index_factory)):
            index = make(args.d, spec)
            index.train(xb)
            index.add(xb)
            if name != "Flat":
                index.nprobe = args.nprobe
            pair[lib] = index
        built[name] = pair

    doc = {"benchmark": "cpu_k_sweep", "date": datetime.datetime.now(datetime.UTC).isoformat(),
           "commit": git("rev-parse", "--short", "HEAD"),
           "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
           "command": " ".join(shlex.quote(a) for a in sys.argv),
           "cpu": cpu_name(), "threads": os.cpu_count(), "faiss": faiss.__version__,
           "knnx": getattr(knnx, "__version__", "unknown"),
           "sizes": {"nb": args.nb, "d": args.d, "nq": args.nq, "nlist": args.nlist,
                     "nprobe": args.nprobe},
           "data": "mixture of 256 Gaussian clusters (bench/faiss_compare.py), seed 0",
           "statistic": f"median of {args.rounds} interleaved rounds, each timed call after an "
                        "untimed one", "points": []}
    print(f"{'index':<14}{'k':>7}{'knnx ms':>11}{'faiss ms':>11}{'knnx/prev k':>13}"
          f"{'faiss/knnx':>12}{'agree':>8}", flush=True)
    truth = {}  # k -> the exact labels (knnx Flat's, checked against faiss's above)
    for name, pair in built.items():
        prev = None
        for k in args.k:
            out = {lib: index.search(xq, k) for lib, index in pair.items()}
            times = interleaved_median_seconds(
                {lib: (lambda i=index, k=k: i.search(xq, k)) for lib, index in pair.items()},
                args.rounds)
            point = {"index": name, "k": k, "knnx_ms": times["knnx"] * 1e3,
                     "faiss_ms": times["faiss"] * 1e3, "faiss_over_knnx":
                     times["faiss"] / times["knnx"], "load_average": load_average()}
            if prev is not None:
                point["knnx_over_previous_k"] = times["knnx"] / prev
            prev = times["knnx"]
            (dk, lk), (df, lf) = out["knnx"], out["faiss"]
            if name == "Flat":
                point["label_sets_equal"] = same_sets(lk, lf)
                point["kth_distance_max_rel_diff"] = float(
                    np.max(np.abs(dk[:, -1] - df[:, -1]) / np.maximum(np.abs(df[:, -1]), 1e-12)))
                truth[k] = lk
            elif k in truth:
                point["knnx_recall"] = recall_against(lk, truth[k])
                point["faiss_recall"] = recall_against(lf, truth[k])
            doc["points"].append(point)
            agree = point.get("label_sets_equal", point.get("knnx_recall", float("nan")))
            ratio = point.get("knnx_over_previous_k")
            print(f"{name:<14}{k:>7}{point['knnx_ms']:>11.1f}{point['faiss_ms']:>11.1f}"
                  f"{(f'{ratio:.2f}' if ratio else '-'):>13}{point['faiss_over_knnx']:>12.2f}"
                  f"{agree:>8.4f}", flush=True)
    write_host_result(doc, "cpu_k_sweep", args.out)


if __name__ == "__main__":
    main()
