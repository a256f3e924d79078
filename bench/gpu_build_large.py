"""An IVF-PQ index of more vectors than the build holds at once, built on one GPU from a file:
`knnx build` trains on a sample and adds the base in bounded batches read from a .npy file.
Records the build time, the peak host memory of the build (its maximum resident set) and the
peak device memory in use while it ran (nvidia-smi, polled), then loads the index onto the GPU
and measures recall@k of --nq queries against exact ground truth (PyTorch fp32 over the base in
chunks) and queries/s over n_probe. JSON (device, commit, command, sizes, every number) to
--out or bench/results/gpu_build_large_<gpu>.json.

    PYTHONPATH=build-gpu/python python3 bench/gpu_build_large.py --n 100000000 \\
        --knnx build-gpu/cli/knnx --dir /tmp/knnx_large

The base is the "lowdim" set of bench/gpu_ivf_pq.py (SIFT-like, d 96), written in chunks of
--chunk rows by --workers processes into a memory-mapped .npy (each chunk its own random stream,
so the file does not depend on the worker count); the queries are the same model's stream 2.
"""

import argparse
import json
import multiprocessing as mp
import os
import resource
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from faiss_compare import git, recall
from gpu_ivf_pq import LowDim, median_seconds, write_result


def write_chunk(job):
    path, args, first, rows = job
    base = np.load(path, mmap_mode="r+")
    LowDim(args).draw_into(base[first:first + rows],
                           np.random.default_rng([args.seed + 1, first // args.chunk]))
    base.flush()
    return rows


def write_base(path, args):
    """The base as a float32 .npy of n x d rows: seconds taken."""
    t0 = time.perf_counter()
    base = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(args.n, args.d))
    del base
    jobs = [(path, args, s, min(args.chunk, args.n - s)) for s in range(0, args.n, args.chunk)]
    with mp.get_context("fork").Pool(args.workers) as pool:
        done = 0
        for rows in pool.imap_unordered(write_chunk, jobs):
            done += rows
            if done % (10 * args.chunk) < args.chunk:
                print(f"  written {done:,} rows", flush=True)
    return time.perf_counter() - t0


class DevicePeak:
    """Largest device memory in use (MiB, nvidia-smi) while the context is open."""

    def __init__(self, device=0, every=0.2):
        self.device, self.every, self.peak_mib, self._stop = device, every, 0, threading.Event()

    def used_mib(self):
        out = subprocess.run(["nvidia-smi", f"--id={self.device}", "--query-gpu=memory.used",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True)
        return int(out.stdout.strip() or 0)

    def _poll(self):
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, self.used_mib())
            self._stop.wait(self.every)

    def __enter__(self):
        self.before_mib = self.used_mib()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def ground_truth(torch, base_path, queries, k, rows_per_chunk):
    """Exact L2 top-k rows of queries over the .npy base, read chunk by chunk onto the GPU."""
    base = np.load(base_path, mmap_mode="r")
    q = torch.from_numpy(queries).cuda()
    qn = (q * q).sum(1, keepdim=True)
    best_d = torch.full((len(queries), k), float("inf"), device="cuda")
    best_i = torch.zeros((len(queries), k), dtype=torch.int64, device="cuda")
    for s in range(0, len(base), rows_per_chunk):
        x = torch.from_numpy(np.ascontiguousarray(base[s:s + rows_per_chunk])).cuda()
        dist = qn + (x * x).sum(1)[None, :] - 2 * (q @ x.T)
        d, i = torch.topk(dist, min(k, x.shape[0]), dim=1, largest=False)
        cat_d, cat_i = torch.cat([best_d, d], 1), torch.cat([best_i, i + s], 1)
        best_d, order = torch.topk(cat_d, k, dim=1, largest=False)
        best_i = torch.gather(cat_i, 1, order)
    return best_i.cpu().numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000_000)
    ap.add_argument("--d", type=int, default=96)
    ap.add_argument("--spec", default="IVF4096,PQ48")
    ap.add_argument("--train-size", type=int, default=500_000)
    ap.add_argument("--knnx", default="build-gpu/cli/knnx", help="the knnx command-line tool")
    ap.add_argument("--dir", default="/tmp/knnx_large", help="where the base and index go")
    ap.add_argument("--keep", action="store_true", help="keep the base and index files")
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--chunk", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    ap.add_argument("--latent", type=int, default=16)
    ap.add_argument("--clusters", type=int, default=256)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch
    import knnx

    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    base_path, index_path = work / "base.npy", work / "index.knnx"
    doc = {"benchmark": "gpu_build_large", "commit": git("rev-parse", "--short", "HEAD"),
           "command": " ".join(shlex.quote(a) for a in sys.argv),
           "device": torch.cuda.get_device_name(), "spec": args.spec,
           "sizes": {"n": args.n, "d": args.d, "base_bytes": args.n * args.d * 4,
                     "nq": args.nq, "k": args.k, "train_size": args.train_size},
           "data": {"kind": "lowdim", "latent": args.latent, "clusters": args.clusters,
                    "noise": args.noise, "seed": args.seed}}
    try:
        doc["write_base_s"] = write_base(str(base_path), args)
        print(f"base written: {base_path} ({base_path.stat().st_size / 1e9:.1f} GB) in "
              f"{doc['write_base_s']:.0f} s", flush=True)
        cmd = [args.knnx, "build", "--base", str(base_path), "--index", args.spec, "--device",
               "cuda", "--train-size", str(args.train_size), "--out", str(index_path), "--json",
               "--progress-every", "15"]
        t0 = time.perf_counter()
        with DevicePeak() as peak:
            # The build's progress lines go to this script's stderr as they come, so that a
            # build cut off by a time limit still shows how far it got and at what rate.
            run = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        build_s = time.perf_counter() - t0
        if run.returncode != 0:
            sys.exit(f"knnx build failed ({run.returncode}); its messages are above")
        doc["build"] = {"command": " ".join(cmd), "seconds": build_s,
                        "peak_host_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                        * 1024,
                        "device_mib_before": peak.before_mib, "device_mib_peak": peak.peak_mib,
                        "index_file_bytes": index_path.stat().st_size,
                        "report": json.loads(run.stdout)}
        print(f"built in {build_s:.0f} s: peak host {doc['build']['peak_host_bytes'] / 2**30:.2f}"
              f" GiB, device {peak.peak_mib - peak.before_mib} MiB above the "
              f"{peak.before_mib} MiB in use before; index file "
              f"{doc['build']['index_file_bytes'] / 1e9:.2f} GB", flush=True)
        write_result(doc, "gpu_build_large", args.out)

        queries = LowDim(args).draw_into(np.empty((args.nq, args.d), dtype=np.float32),
                                         np.random.default_rng(args.seed + 2))
        t0 = time.perf_counter()
        truth = ground_truth(torch, str(base_path), queries, args.k, 1_000_000)
        doc["ground_truth_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = knnx.read_index(str(index_path), device="cuda")
        doc["load_s"] = time.perf_counter() - t0
        q = torch.from_numpy(queries).cuda()
        doc["points"] = []
        for n_probe in args.nprobe:
            params = knnx.SearchParametersIVF(nprobe=n_probe)
            _, labels = index.search(q, args.k, params=params)
            rec = recall(labels.cpu().numpy(), truth)
            seconds = median_seconds(torch, lambda: index.search(q, args.k, params=params),
                                     args.reps)
            doc["points"].append({"nprobe": n_probe, "recall": rec, "median_s": seconds,
                                  "qps": args.nq / seconds})
            print(f"nprobe={n_probe}: recall@{args.k} {rec:.4f}, {args.nq / seconds:,.0f} q/s",
                  flush=True)
        write_result(doc, "gpu_build_large", args.out)
    finally:
        if not args.keep:
            for p in (base_path, index_path):
                p.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
