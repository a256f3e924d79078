"""Cost of an IDSelector filter in knnx search: median search time at 1%, 10% and 90% of the ids
admitted (IDSelectorBatch of random ids, and IDSelectorRange of the same size) against the
unfiltered search, for IndexFlat and IndexIVFFlat, on the CPU or a CUDA device. On the CPU,
faiss-cpu's time for the same calls is measured too when it is installed (--faiss also measures
it beside a GPU run). One table on stdout, and JSON (device, commit, command, sizes, every case)
in bench/results/filter_cost_<device>.json unless --out names another file.

    PYTHONPATH=build/python python3 bench/filter_cost.py [--nb 200000] [--nq 1000] [--device cpu]
    PYTHONPATH=build/python python3 bench/filter_cost.py --device cuda --nb 1000000 --nq 10 1000

Times are of index.search on host (numpy) queries, as a Python user calls it: on a GPU they
include the query upload, the result download and the selector's evaluation over the stored ids
(on the host, once per call), which the filtered rows pay and the unfiltered ones do not.
"""

import argparse
import datetime
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np

import knnx
from faiss_compare import REPO, cpu_name, git, median_seconds

try:
    import faiss
except ImportError:  # the knnx columns alone
    faiss = None

FRACTIONS = (0.01, 0.1, 0.9)


def device_name(device):
    if device.startswith("cuda"):
        ordinal = int(device.split(":")[1]) if ":" in device else 0
        return knnx.cuda_device_name(ordinal)
    return cpu_name()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nb", type=int, default=200_000)
    ap.add_argument("--nq", type=int, nargs="+", default=[1000],
                    help="query batch sizes (on a GPU, few queries take the streaming kernels)")
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", type=int, default=16)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--faiss", action="store_true",
                    help="also time faiss-cpu beside a GPU run (always done on the CPU)")
    ap.add_argument("--out", help="JSON path (default bench/results/filter_cost_<device>.json)")
    args = ap.parse_args()
    on_gpu = args.device.startswith("cuda")
    if on_gpu and knnx.cuda_device_count() == 0:
        sys.exit("--device cuda: knnx sees no CUDA device")
    use_faiss = faiss is not None and (not on_gpu or args.faiss)

    rng = np.random.default_rng(0)
    xb = rng.standard_normal((args.nb, args.d)).astype(np.float32)
    xq_all = rng.standard_normal((max(args.nq), args.d)).astype(np.float32)
    train = xb[: 50 * args.nlist]
    flat = knnx.IndexFlat(args.d, "l2", args.device)
    flat.add(xb)
    ivf = knnx.IndexIVFFlat(args.d, args.nlist, "l2", args.device)
    ivf.train(train)
    ivf.add(xb)
    refs = {}
    if use_faiss:
        refs["flat"] = faiss.IndexFlatL2(args.d)
        refs["flat"].add(xb)
        refs["ivf"] = faiss.IndexIVFFlat(faiss.IndexFlatL2(args.d), args.d, args.nlist)
        refs["ivf"].train(train)
        refs["ivf"].add(xb)

    # The same filters for every index and batch size.
    filters = [("none", None, None, None)]
    for frac in FRACTIONS:
        ids = rng.choice(args.nb, size=int(frac * args.nb), replace=False)
        m = int(frac * args.nb)
        filters.append(("batch", frac, knnx.IDSelectorBatch(ids),
                        faiss.IDSelectorBatch(ids) if use_faiss else None))
        filters.append(("range", frac, knnx.IDSelectorRange(0, m),
                        faiss.IDSelectorRange(0, m) if use_faiss else None))

    print(f"nb={args.nb} d={args.d} k={args.k} nlist={args.nlist} nprobe={args.nprobe} "
          f"device={args.device} ({device_name(args.device)}); median of {args.reps}, ms")
    print(f"{'index':6} {'nq':>6} {'filter':14} {'knnx':>9} {'x unfilt':>9} {'faiss':>9}")
    cases = []
    for name, index in (("flat", flat), ("ivf", ivf)):
        def params(sel, lib):
            if name == "flat":
                return lib.SearchParameters(sel=sel)
            return lib.SearchParametersIVF(sel=sel, nprobe=args.nprobe)

        for nq in args.nq:
            xq = np.ascontiguousarray(xq_all[:nq])
            base = None
            for kind, frac, ks, fs in filters:
                kp = params(ks, knnx)
                t = median_seconds(lambda: index.search(xq, args.k, params=kp), args.reps)
                if base is None:
                    base = t
                tf = None
                if use_faiss:
                    ref = refs[name]
                    if name == "flat":
                        fp = faiss.SearchParameters(sel=fs) if fs is not None else None
                    else:
                        fp = faiss.SearchParametersIVF(sel=fs, nprobe=args.nprobe)
                    tf = median_seconds(lambda: ref.search(xq, args.k, params=fp), args.reps)
                label = kind if frac is None else f"{kind} {frac:.0%}"
                faiss_ms = f"{tf * 1e3:9.2f}" if tf is not None else f"{'-':>9}"
                print(f"{name:6} {nq:6d} {label:14} {t * 1e3:9.2f} {t / base:9.2f} {faiss_ms}")
                cases.append({"index": name, "nq": nq, "filter": kind, "admitted_fraction": frac,
                              "knnx_ms": t * 1e3, "ratio_to_unfiltered": t / base,
                              "faiss_cpu_ms": tf * 1e3 if tf is not None else None})

    device_tag = "cuda" if on_gpu else "cpu"
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"filter_cost_{device_tag}.json"
    result = {
        "benchmark": "filter_cost",
        "device": args.device,
        "device_name": device_name(args.device),
        "commit": git("rev-parse", "HEAD"),
        "worktree_dirty": bool(git("status", "--porcelain", "--", "src", "include", "bench")),
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "knnx_version": knnx.__version__,
        "faiss_version": faiss.__version__ if use_faiss else None,
        "nproc": os.cpu_count(),
        "sizes": {"nb": args.nb, "d": args.d, "k": args.k, "nlist": args.nlist,
                  "nprobe": args.nprobe, "nq": args.nq},
        "data": "N(0,1) float32, numpy default_rng(0); batch filters admit random ids, range "
                "filters the ids [0, fraction * nb)",
        "statistic": f"median of {args.reps} after one warm-up, ms per search call",
        "cases": cases,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
