"""Scalar-quantizer indexes, knnx against faiss-cpu in one run: SQ8 (flat codes) and
IVF<nlist>,SQ8 (residual codes) built from the same factory strings on the same data, QPS and
recall@k against the exact search, the IVF curves swept over nprobe and compared at equal recall
(each side's QPS interpolated, in log QPS, at the other's recall points). Both libraries run
with the same number of OpenMP threads. One table on stdout and JSON (device, sizes, commit,
command, every point) in bench/results/sq_cpu_vs_faiss_<tag>.json.

    PYTHONPATH=build/python python3 bench/sq_vs_faiss.py [--nb 200000] [--d 64] [--tag vm]

Data: a Gaussian mixture (nb base and nq query vectors around the same 256 centres), so that
inverted lists mean something. Bytes per vector are equal by construction (d for SQ8).
"""

import argparse
import datetime
import json
import shlex
import sys
from pathlib import Path

import knnx
from faiss_compare import REPO, cpu_name, git, mixture, sweep

try:
    import faiss
except ImportError:
    sys.exit("bench/sq_vs_faiss.py needs faiss-cpu (pip install faiss-cpu)")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nb", type=int, default=200_000)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--reps", type=int, default=7,
                    help="interleaved timing rounds (knnx and faiss alternate)")
    ap.add_argument("--threads", type=int, default=knnx.omp_get_max_threads())
    ap.add_argument("--no-flat", action="store_true",
                    help="IVF only: skip SQ8 without inverted lists (its exhaustive scan is most of "
                         "the run time at a large --nq)")
    ap.add_argument("--tag", default="vm", help="machine tag in the output file name")
    ap.add_argument("--out", help="JSON path (default bench/results/sq_cpu_vs_faiss_<tag>.json)")
    args = ap.parse_args()
    knnx.omp_set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)

    xb, xq = mixture(args.nb, args.nq, args.d)
    exact = knnx.IndexFlat(args.d)
    exact.add(xb)
    truth = exact.search(xq, args.k)[1]

    print(f"nb={args.nb} nq={args.nq} d={args.d} k={args.k} threads={args.threads} "
          f"({cpu_name()}); median of {args.reps} interleaved rounds")
    print(f"{'index':14} {'nprobe':>6} {'knnx qps':>10} {'recall':>7} {'faiss qps':>10} "
          f"{'recall':>7}")
    specs = ((() if args.no_flat else ("SQ8",)) + (f"IVF{args.nlist},SQ8",))
    results, compared = sweep(specs, xb, xq, truth, args)

    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"sq_cpu_vs_faiss_{args.tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "sq_cpu_vs_faiss",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "HEAD"),
        "command": "python3 " + " ".join(shlex.quote(a) for a in sys.argv),
        "device": {"kind": "cpu", "name": cpu_name(), "threads": args.threads},
        "faiss_version": faiss.__version__,
        "knnx_version": knnx.__version__,
        "sizes": {"nb": args.nb, "nq": args.nq, "d": args.d, "k": args.k, "nlist": args.nlist,
                  "bytes_per_vector": args.d},
        "data": "Gaussian mixture, 256 centres (scale 3), unit noise, seed 0",
        "results": results,
        "ivf_equal_recall": compared,
    }, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
