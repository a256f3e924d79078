"""Where the time of a one-query GPU Flat search goes: the fixed cost of a search (a base so small
that its scan takes a few microseconds), the search of a 1M x 128 base with host (numpy) and with
device (PyTorch) queries and results, and beside them in the same process PyTorch's own fixed cost
(a small matmul + topk copied back), the read rate of a cuBLAS matrix-vector product over the same
base and of a large device-to-device copy (the floor's bandwidth, as bench/gpu_latency.py takes it).

The 1M and small searches, and IVF-Flat over the 1M base (whose coarse search takes the same scan),
are timed with each --rings value of KNNX_FLAT_STREAM_RING, interleaved.
The difference between a 1M search and the kernel's time (ncu) is launch, copies and waiting; the
small-base search measures that directly. JSON (device, commit, command, every point, median and
quartiles in ms) in bench/results/gpu_search_overhead_<gpu>.json unless --out names another file.

    PYTHONPATH=build/python python3 bench/gpu_search_overhead.py
"""

import argparse
import datetime
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from faiss_compare import git  # noqa: E402  (provenance; no faiss needed)


def wall_ms(fn, reps, warmup=20):
    """Median and quartiles of fn's wall time in ms over reps calls, after warmup calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    q = statistics.quantiles(times, n=4)
    return {"median_ms": statistics.median(times), "q1_ms": q[0], "q3_ms": q[2], "reps": reps}


def event_ms(torch, fn, reps, warmup=5):
    """Median device time of fn in ms (CUDA events around each call)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return {"median_ms": statistics.median(times), "reps": reps}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nb", type=int, default=1_000_000)
    p.add_argument("--small-nb", type=int, default=4096)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--reps", type=int, default=300)
    p.add_argument("--rings", type=int, nargs="+", default=[0, 3, 4],
                   help="KNNX_FLAT_STREAM_RING values timed side by side")
    p.add_argument("--passes", type=int, default=2)
    p.add_argument("--ks", type=int, nargs="+", default=[10, 100, 1000],
                   help="k of the 1M searches timed for each ring")
    p.add_argument("--ivf-nlist", type=int, default=1024,
                   help="an IVF-Flat index of the 1M base timed for each ring (0: none)")
    p.add_argument("--ivf-nprobe", type=int, nargs="+", default=[1, 16])
    p.add_argument("--profile", action="store_true",
                   help="only run a few 1M searches a ring and k (under ncu); no timing")
    p.add_argument("--out", type=Path)
    args = p.parse_args()

    import knnx

    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(1)
    points = {}

    def flat(nb):
        x = rng.standard_normal((nb, args.d), dtype=np.float32)
        index = knnx.IndexFlat(args.d, device="cuda")
        index.add(x)
        return x, index

    q = rng.standard_normal((1, args.d), dtype=np.float32)
    xs, small = flat(args.small_nb)
    x, big = flat(args.nb)
    ivf = None
    if args.ivf_nlist > 0 and not args.profile:  # its coarse search is the streaming scan
        ivf = knnx.IndexIVFFlat(args.d, args.ivf_nlist, "l2", device="cuda")
        ivf.train(x[: min(args.nb, 64 * args.ivf_nlist)])
        ivf.add(x)
    # Each way of keeping the scan's reads in flight (KNNX_FLAT_STREAM_RING), interleaved over
    # --passes passes so that drift shows as spread rather than as a difference.
    # A build without the knob (a base tree) times its one way under the name ring-.
    default_ring = knnx.config().get("flat_stream_ring")
    rings = args.rings if default_ring is not None else ["-"]
    for rep in range(args.passes):
        for ring in rings:
            if default_ring is not None:
                knnx.set_config(flat_stream_ring=ring)
            if args.profile:  # a few searches of each kind for a profiler; no timing
                for k in args.ks:
                    for _ in range(3):
                        big.search(q, k)
                continue
            points[f"knnx_small_host_ring{ring}_pass{rep}"] = wall_ms(
                lambda: small.search(q, args.k), args.reps)
            for k in args.ks:
                points[f"knnx_1m_k{k}_host_ring{ring}_pass{rep}"] = wall_ms(
                    lambda: big.search(q, k), args.reps)
            for nprobe in args.ivf_nprobe if ivf is not None else []:
                params = knnx.SearchParametersIVF(nprobe=nprobe)
                points[f"knnx_ivf{args.ivf_nlist}_np{nprobe}_host_ring{ring}_pass{rep}"] = \
                    wall_ms(lambda: ivf.search(q, args.k, params=params), args.reps)
    if default_ring is not None:
        knnx.set_config(flat_stream_ring=default_ring)
    if args.profile:
        return
    points["knnx_small_host"] = wall_ms(lambda: small.search(q, args.k), args.reps)
    points["knnx_1m_host"] = wall_ms(lambda: big.search(q, args.k), args.reps)
    points["knnx_1m_host_to_device"] = wall_ms(
        lambda: big.search(q, args.k, return_device=True), args.reps)
    bandwidth = None
    if torch is not None:
        qt = torch.from_numpy(q).cuda()
        points["knnx_small_device"] = wall_ms(lambda: small.search(qt, args.k), args.reps)
        points["knnx_1m_device"] = wall_ms(lambda: big.search(qt, args.k), args.reps)
        xst = torch.from_numpy(xs).cuda()
        points["torch_small_matmul_topk_to_host"] = wall_ms(
            lambda: [t.cpu() for t in torch.topk(xst @ qt[0], args.k)], args.reps)
        points["torch_sync_roundtrip"] = wall_ms(lambda: (qt + 1).sum().item(), args.reps)
        xt = torch.from_numpy(x).cuda()
        gemv = event_ms(torch, lambda: xt @ qt[0], 50)
        gemv["read_gbs"] = args.nb * args.d * 4 / gemv["median_ms"] / 1e6
        points["torch_gemv_1m_device"] = gemv
        del xt
        src = torch.empty(1 << 28, dtype=torch.float32, device="cuda")
        dst = torch.empty_like(src)
        copy = event_ms(torch, lambda: dst.copy_(src), 30)
        bandwidth = 2 * src.numel() * 4 / copy["median_ms"] / 1e6  # GB/s, reads + writes
        copy["gbs"] = bandwidth
        points["torch_copy_1gb"] = copy
    floor = args.nb * args.d * 4 / (bandwidth * 1e6) if bandwidth else None

    device = torch.cuda.get_device_name() if torch is not None else "cuda"
    doc = {
        "bench": "gpu_search_overhead",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": device,
        "commit": git("rev-parse", "HEAD"),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "sizes": {"nb": args.nb, "small_nb": args.small_nb, "d": args.d, "k": args.k, "ks": args.ks,
                  "nq": 1},
        "default_ring": default_ring,
        "floor_ms": floor,
        "points": points,
    }
    gpu = device.replace("NVIDIA ", "").split()[0].lower()
    out = args.out or BENCH / "results" / f"gpu_search_overhead_{gpu}.json"
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"floor {floor and round(floor, 4)} ms")
    for name, v in points.items():
        extra = "".join(f"  {key} {v[key]:.0f}" for key in ("read_gbs", "gbs") if key in v)
        print(f"{name:36s} {v['median_ms']:.4f} ms{extra}")


if __name__ == "__main__":
    main()
