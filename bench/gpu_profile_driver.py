"""The searches that bench/gpu_profile.sh runs under Nsight Compute, so that each kernel of a
search is timed on its own: Flat 1M x 128 (clustered, as bench/gpu_sweep.py) at nq 1 (the
streaming scan, a few times) and at nq 10000 in fast precision with the fused kernel
(KNNX_FLAT_FAST_KERNEL=fused), then the same in exact precision; with the case ivfpq,
IVF1024,PQ32 over the same base at nq 10000 and nprobe 1, 2 and 8. Each search runs once
first as a warm-up. The search kept for the profile (the last of each case) is enclosed by two
marker kernels (a one-element PyTorch fill, FillFunctor in ncu's list), and its label is printed
as "kept: <label>", in order, for bench/kernel_profile.py to pair them. Needs a CUDA build of
knnx and PyTorch.

    PYTHONPATH=build/python python3 bench/gpu_profile_driver.py --nb 1000000 --d 128
"""

import argparse
import sys

import numpy as np


LABELS = {"nq1": "exact", "fused": "fast (fused kernel)", "gemm-fast": "fast (cuBLAS tiles)",
          "exact": "exact"}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nb", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--nq", type=int, default=10_000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--cases", nargs="+", default=["nq1", "fused", "exact"],
                   choices=["nq1", "fused", "gemm-fast", "exact", "ivfpq"])
    args = p.parse_args()
    import torch

    import knnx

    def kept(label, search):
        """Runs search between two marker kernels and names it."""
        torch.full((1,), 7.0, device="cuda")
        torch.cuda.synchronize()
        search()
        torch.full((1,), 7.0, device="cuda")
        torch.cuda.synchronize()
        print(f"kept: {label}", flush=True)

    if knnx.cuda_device_count() == 0 or not torch.cuda.is_available():
        sys.exit("gpu_profile_driver.py needs a CUDA device and a CUDA build of knnx")
    mix = dict(d=args.d, n_clusters=1024, center_stddev=1.0, noise_stddev=0.6, seed=1)
    base = knnx.make_mixture_base(args.nb, **mix)
    queries = knnx.make_mixture_queries(args.nq, **mix)
    index = knnx.IndexFlat(args.d, "l2", device="cuda")
    index.add(base)
    for case in args.cases:
        if case == "ivfpq":
            ivfpq = knnx.IndexIVFPQ(args.d, 1024, 32, device="cuda")
            ivfpq.train(base[:100_000])
            ivfpq.add(base)
            for nprobe in (1, 2, 8):
                params = knnx.SearchParametersIVF(nprobe=nprobe)
                ivfpq.search(queries, args.k, params=params)
                kept(f"IVF1024,PQ32 nq {len(queries)} nprobe {nprobe}",
                     lambda: ivfpq.search(queries, args.k, params=params))
            continue
        params = knnx.SearchParameters()
        q = queries[:1] if case == "nq1" else queries
        params.precision = (knnx.FlatPrecision.EXACT if case in ("nq1", "exact")
                            else knnx.FlatPrecision.FAST)
        knnx.set_config(flat_fast_kernel="fused" if case == "fused" else "gemm")
        for rep in range(1 if case != "nq1" else 3):  # warm-ups
            index.search(q, args.k, params=params)
        kept(f"Flat {LABELS[case]} nq {len(q)}", lambda: index.search(q, args.k, params=params))


if __name__ == "__main__":
    main()
