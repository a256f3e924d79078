"""IVF-PQ, knnx against faiss-cpu in one run: IVF<nlist>,PQ<M> (residual codes, 8 bits a
sub-quantizer), or with --fast-scan IVF<nlist>,PQ<M>x4fs (4-bit codes, fast scan), built from the
same factory string on the same data, QPS and recall@k against
the exact search swept over nprobe, compared at equal recall (each side's QPS interpolated, in
log QPS, at the other's recall points). Both libraries run with the same number of OpenMP
threads; FAISS's string carries "np" (no polysemous training, which only renumbers codebook
entries and which knnx never runs; the fast-scan string needs none). One table on stdout and
JSON (device, sizes, commit, command, every point) in bench/results/pq_cpu_vs_faiss_<tag>.json,
or pq4fs_cpu_vs_faiss_<tag>.json with --fast-scan (pq4fsr_... with --residual).

    PYTHONPATH=build/python python3 bench/pq_vs_faiss.py [--nb 200000] [--d 64] [--m 16] [--tag vm]
    PYTHONPATH=build/python python3 bench/pq_vs_faiss.py --fast-scan --m 32   # 16 bytes a vector

Data: a Gaussian mixture (nb base and nq query vectors around the same 256 centres), so that
inverted lists mean something. Bytes per vector are equal by construction (M for PQ<M>, M / 2
for PQ<M>x4fs).
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
    sys.exit("bench/pq_vs_faiss.py needs faiss-cpu (pip install faiss-cpu)")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nb", type=int, default=200_000)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--m", type=int, default=16,
                    help="sub-quantizers (bytes per vector: M, or M / 2 with --fast-scan)")
    ap.add_argument("--fast-scan", action="store_true",
                    help="4-bit codes in the fast-scan layout (PQ<M>x4fs: codes of the vectors, "
                         "as FAISS's factory string)")
    ap.add_argument("--residual", action="store_true",
                    help="with --fast-scan: codes of residuals (PQ<M>x4fsr)")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--reps", type=int, default=7,
                    help="interleaved timing rounds (knnx and faiss alternate)")
    ap.add_argument("--threads", type=int, default=knnx.omp_get_max_threads())
    ap.add_argument("--tag", default="vm", help="machine tag in the output file name")
    ap.add_argument("--out", help="JSON path (default bench/results/pq_cpu_vs_faiss_<tag>.json)")
    args = ap.parse_args()
    knnx.omp_set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)

    xb, xq = mixture(args.nb, args.nq, args.d)
    exact = knnx.IndexFlat(args.d)
    exact.add(xb)
    truth = exact.search(xq, args.k)[1]

    print(f"nb={args.nb} nq={args.nq} d={args.d} k={args.k} threads={args.threads} "
          f"({cpu_name()}); median of {args.reps} interleaved rounds")
    print(f"{'index':18} {'nprobe':>6} {'knnx qps':>10} {'recall':>7} {'faiss qps':>10} "
          f"{'recall':>7}")
    nbits = 4 if args.fast_scan else 8
    suffix = ("x4fsr" if args.residual else "x4fs") if args.fast_scan else ""
    # FAISS's "np" (no polysemous training) exists for 8-bit codes only.
    faiss_suffix = "" if args.fast_scan else "np"
    results, compared = sweep((f"IVF{args.nlist},PQ{args.m}{suffix}",), xb, xq, truth, args,
                              faiss_suffix, width=18)

    name = (f"pq4{suffix[2:]}_cpu_vs_faiss" if args.fast_scan else "pq_cpu_vs_faiss")
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"{name}_{args.tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": name,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "HEAD"),
        "command": "python3 " + " ".join(shlex.quote(a) for a in sys.argv),
        "device": {"kind": "cpu", "name": cpu_name(), "threads": args.threads},
        "faiss_version": faiss.__version__,
        "knnx_version": knnx.__version__,
        "sizes": {"nb": args.nb, "nq": args.nq, "d": args.d, "k": args.k, "nlist": args.nlist,
                  "m": args.m, "nbits": nbits, "bytes_per_vector": args.m * nbits // 8},
        "data": "Gaussian mixture, 256 centres (scale 3), unit noise, seed 0",
        "results": results,
        "ivf_equal_recall": compared,
    }, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
