"""Cost of an IDSelector filter in knnx search: median search time at 1%, 10% and 90% of the ids
admitted (IDSelectorBatch of random ids, and IDSelectorRange of the same size) against the
unfiltered search, for IndexFlat and IndexIVFFlat, with faiss-cpu's time for the same calls when
it is installed. One table on stdout.

    PYTHONPATH=build/python python3 bench/filter_cost.py [--nb 200000] [--nq 1000] [--device cpu]
"""

import argparse
import time

import numpy as np

import knnx

try:
    import faiss
except ImportError:  # the knnx columns alone
    faiss = None


def median_seconds(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nb", type=int, default=200_000)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", type=int, default=16)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    xb = rng.standard_normal((args.nb, args.d)).astype(np.float32)
    xq = rng.standard_normal((args.nq, args.d)).astype(np.float32)
    flat = knnx.IndexFlat(args.d, "l2", args.device)
    flat.add(xb)
    ivf = knnx.IndexIVFFlat(args.d, args.nlist, "l2", args.device)
    ivf.train(xb[: 50 * args.nlist])
    ivf.add(xb)
    refs = {}
    if faiss is not None:
        refs["flat"] = faiss.IndexFlatL2(args.d)
        refs["flat"].add(xb)
        refs["ivf"] = faiss.IndexIVFFlat(faiss.IndexFlatL2(args.d), args.d, args.nlist)
        refs["ivf"].train(xb[: 50 * args.nlist])
        refs["ivf"].add(xb)

    print(f"nb={args.nb} nq={args.nq} d={args.d} k={args.k} nlist={args.nlist} "
          f"nprobe={args.nprobe} device={args.device}; median of {args.reps}, ms")
    print(f"{'index':6} {'filter':14} {'knnx':>9} {'x unfilt':>9} {'faiss':>9}")
    for name, index in (("flat", flat), ("ivf", ivf)):
        def params(sel, lib):
            if name == "flat":
                return lib.SearchParameters(sel=sel)
            return lib.SearchParametersIVF(sel=sel, nprobe=args.nprobe)

        base = median_seconds(lambda: index.search(xq, args.k, params=params(None, knnx)),
                              args.reps)
        rows = [("none", None, None)]
        for frac in (0.01, 0.1, 0.9):
            ids = rng.choice(args.nb, size=int(frac * args.nb), replace=False)
            rows.append((f"batch {frac:.0%}", knnx.IDSelectorBatch(ids),
                         faiss.IDSelectorBatch(ids) if faiss else None))
            m = int(frac * args.nb)
            rows.append((f"range {frac:.0%}", knnx.IDSelectorRange(0, m),
                         faiss.IDSelectorRange(0, m) if faiss else None))
        for label, ks, fs in rows:
            t = median_seconds(lambda: index.search(xq, args.k, params=params(ks, knnx)),
                               args.reps)
            tf = float("nan")
            if faiss is not None:
                ref = refs[name]
                if name == "flat":
                    fp = faiss.SearchParameters(sel=fs) if fs is not None else None
                else:
                    fp = faiss.SearchParametersIVF(sel=fs, nprobe=args.nprobe)
                tf = median_seconds(lambda: ref.search(xq, args.k, params=fp), args.reps)
            print(f"{name:6} {label:14} {t * 1e3:9.1f} {t / base:9.2f} {tf * 1e3:9.1f}")


if __name__ == "__main__":
    main()
