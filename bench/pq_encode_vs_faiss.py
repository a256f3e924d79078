"""Product-quantizer encoding, knnx against faiss-cpu: ProductQuantizer.compute_codes of the same
rows with the same codebooks (knnx's, trained once and copied into faiss's quantizer), timed
interleaved (bench/faiss_compare.py), for each (d, M) and thread count; the codes of the two are
compared (they differ only where a sub-vector is equally near two centroids up to rounding).
Encoding is what every PQ and IVF-PQ add spends most of its time on, GPU indexes included
(they encode on the host). JSON in bench/results/pq_encode_vs_faiss_<host>.json unless --out.

    PYTHONPATH=build/python python3 bench/pq_encode_vs_faiss.py
"""

import argparse
import datetime
import shlex
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faiss_compare import (cpu_name, git, interleaved_median_seconds,  # noqa: E402
                           write_host_result)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--shapes", nargs="+", default=["96x48", "128x16", "128x64", "768x96"],
                   help="d x M pairs (8-bit codes)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", default=None)
    args = p.parse_args()

    import faiss
    import knnx

    rng = np.random.default_rng(0)
    doc = {"benchmark": "pq_encode_vs_faiss",
           "date": datetime.datetime.now(datetime.UTC).isoformat(),
           "commit": git("rev-parse", "--short", "HEAD"),
           "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
           "command": " ".join(shlex.quote(a) for a in sys.argv), "cpu": cpu_name(),
           "faiss": faiss.__version__, "n": args.n,
           "data": "standard normal rows, seed 0; codebooks trained by knnx on the first 20,000",
           "statistic": f"median of {args.rounds} interleaved rounds", "points": []}
    print(f"{'d':>5}{'M':>5}{'threads':>9}{'knnx ms':>10}{'faiss ms':>10}{'faiss/knnx':>12}"
          f"{'codes equal':>13}", flush=True)
    for shape in args.shapes:
        d, M = (int(v) for v in shape.split("x"))
        x = rng.standard_normal((args.n, d)).astype(np.float32)
        kp = knnx.ProductQuantizer(d, M, 8)
        kp.train(x[:20_000])
        fp = faiss.ProductQuantizer(d, M, 8)
        faiss.copy_array_to_vector(np.ascontiguousarray(kp.centroids, dtype=np.float32).ravel(),
                                   fp.centroids)
        fp.is_trained = True
        equal = float(np.mean(kp.compute_codes(x) == fp.compute_codes(x)))
        for threads in args.threads:
            knnx.omp_set_num_threads(threads)
            faiss.omp_set_num_threads(threads)
            times = interleaved_median_seconds({"knnx": lambda: kp.compute_codes(x),
                                                "faiss": lambda: fp.compute_codes(x)},
                                               args.rounds)
            point = {"d": d, "M": M, "threads": threads, "knnx_ms": times["knnx"] * 1e3,
                     "faiss_ms": times["faiss"] * 1e3,
                     "faiss_over_knnx": times["faiss"] / times["knnx"],
                     "codes_equal_fraction": equal}
            doc["points"].append(point)
            print(f"{d:>5}{M:>5}{threads:>9}{point['knnx_ms']:>10.1f}{point['faiss_ms']:>10.1f}"
                  f"{point['faiss_over_knnx']:>12.2f}{equal:>13.6f}", flush=True)
    write_host_result(doc, "pq_encode_vs_faiss", args.out)


if __name__ == "__main__":
    main()
