"""PyTorch brute-force k-NN baseline: x @ y.T (+ norms for L2) then topk, on the GPU.

This is what a PyTorch user writes. Queries are processed in chunks so the distance block
stays within a bounded workspace. Prints one JSON document (same sweep fields as
gpu_flat_bench) to stdout.
"""
import argparse
import json
import statistics

import torch


def uniform(shape, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    return torch.rand(shape, generator=g, device="cuda") * 2 - 1


def search(base, base_norms, queries, k, metric, chunk):
    out_d, out_i = [], []
    for s in range(0, queries.shape[0], chunk):
        q = queries[s:s + chunk]
        ip = q @ base.T
        if metric == "l2":
            dist = (q * q).sum(1, keepdim=True) + base_norms[None, :] - 2 * ip
            d, i = torch.topk(dist, k, dim=1, largest=False)
        else:
            d, i = torch.topk(ip, k, dim=1, largest=True)
        out_d.append(d)
        out_i.append(i)
    return torch.cat(out_d), torch.cat(out_i)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--nq", type=int, nargs="+", default=[1, 16, 1024, 10000])
    p.add_argument("--k", type=int, nargs="+", default=[10, 100, 1024])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--metric", default="l2")
    p.add_argument("--workspace-gb", type=float, default=4.0)
    args = p.parse_args()

    base = uniform((args.n, args.d), 1)
    base_norms = (base * base).sum(1)
    queries = uniform((max(args.nq), args.d), 2)
    chunk = max(1, int(args.workspace_gb * 2**30 / (args.n * 4 * 2)))
    # Warm up every kernel family used below (matmul, topk for small and large k) so that the
    # first timed point does not pay for lazy initialisation or clock ramp-up.
    for k in args.k:
        for _ in range(3):
            search(base, base_norms, queries[:min(1024, queries.shape[0])], k, args.metric, chunk)
    torch.cuda.synchronize()
    rows = []
    for nq in args.nq:
        for k in args.k:
            for tf32 in (False, True):
                if tf32 and nq < 1024:
                    continue
                torch.backends.cuda.matmul.allow_tf32 = tf32
                q = queries[:nq]
                search(base, base_norms, q, k, args.metric, chunk)
                torch.cuda.synchronize()
                times = []
                for _ in range(args.repeats):
                    e0 = torch.cuda.Event(enable_timing=True)
                    e1 = torch.cuda.Event(enable_timing=True)
                    e0.record()
                    search(base, base_norms, q, k, args.metric, chunk)
                    e1.record()
                    e1.synchronize()
                    times.append(e0.elapsed_time(e1))
                med = statistics.median(times)
                rows.append({"nq": nq, "k": k, "mode": "tf32" if tf32 else "fp32",
                             "median_ms": med, "times_ms": times, "qps": nq / (med * 1e-3),
                             "query_chunk": chunk})
                print(f"torch n={args.n} d={args.d} nq={nq} k={k} "
                      f"{'tf32' if tf32 else 'fp32'} {med:.3f} ms", flush=True,
                      file=__import__("sys").stderr)
    torch.backends.cuda.matmul.allow_tf32 = False
    print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(0),
                      "n": args.n, "d": args.d, "metric": args.metric, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
