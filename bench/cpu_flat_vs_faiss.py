#!/usr/bin/env python3
"""Exact flat search on the CPU: knnx (bench/cpu_flat_bench) against faiss-cpu, side by side.

Both get the same random N(0, 1) float32 data, the same thread count, the same warm-up and
repeat rule, and each case runs the two libraries back to back (alternating which goes first),
so load from anything else on the machine falls on both alike. For every case the script also
checks the two answers against each other: the rank-by-rank distance difference and the share
of labels both return (exact search: 1.0 up to ties among equal distances).

Writes JSON to bench/results/cpu_flat_<host>.json: the machine, the commit, the exact command,
every time measured, medians, and faiss_median / knnx_median (> 1: knnx is faster).

Example (the run recorded in the repository):
  python3 bench/cpu_flat_vs_faiss.py --bench build-cpu/bench/cpu_flat_bench --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", default=str(REPO / "build-cpu" / "bench" / "cpu_flat_bench"),
                   help="the knnx benchmark program")
    p.add_argument("--sizes", type=int_list, default=[100_000, 1_000_000], help="base rows N")
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--nq", type=int_list, default=[1, 16, 1000, 10000], help="query counts")
    p.add_argument("--k", type=int_list, default=[10, 100])
    p.add_argument("--metrics", default="l2,ip")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=7, help="timed runs per case, at most")
    p.add_argument("--min-repeats", type=int, default=3, help="timed runs per case, at least")
    p.add_argument("--max-seconds", type=float, default=20.0,
                   help="per library and case: stop repeating once this much was spent")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--openblas-coretype", default=None,
                   help="set OPENBLAS_CORETYPE for both libraries (e.g. SkylakeX)")
    p.add_argument("--host", default=re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()))
    p.add_argument("--out", default=None, help="default: bench/results/cpu_flat_<host>.json")
    return p.parse_args()


ARGS = parse_args()
# Thread counts and the BLAS kernel choice must be in the environment before faiss (and the
# OpenBLAS it carries) is loaded.
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
if ARGS.openblas_coretype:
    os.environ["OPENBLAS_CORETYPE"] = ARGS.openblas_coretype

import faiss  # noqa: E402
import numpy as np  # noqa: E402


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f in {"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl"})
    except OSError:
        pass
    return []


def loadavg() -> list[float]:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def timed_runs(fn) -> tuple[list[float], list[float]]:
    """One warm-up call, then the same repeat rule as cpu_flat_bench."""
    fn()
    times, cpu_times, spent = [], [], 0.0
    while len(times) < ARGS.repeats and (len(times) < ARGS.min_repeats or spent < ARGS.max_seconds):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        t = time.perf_counter() - t0
        cpu_times.append(time.process_time() - c0)
        times.append(t)
        spent += t
    return times, cpu_times


def run_knnx(base_path: Path, query_path: Path, n: int, query_rows: int, metric: str, nq: int,
             k: int, out_dir: Path) -> dict:
    json_path = out_dir / "knnx.json"
    cmd = [ARGS.bench, "--base", str(base_path), "--queries", str(query_path), "--n", str(n),
           "--d", str(ARGS.d), "--query-rows", str(query_rows), "--nq", str(nq), "--k", str(k),
           "--metric", metric, "--threads", str(ARGS.threads), "--repeats", str(ARGS.repeats),
           "--min-repeats", str(ARGS.min_repeats), "--max-seconds", str(ARGS.max_seconds),
           "--results-dir", str(out_dir), "--json", str(json_path)]
    subprocess.run(cmd, check=True, env=dict(os.environ))
    report = json.loads(json_path.read_text())
    case = report["cases"][0]
    stem = out_dir / f"{metric}_nq{nq}_k{k}"
    case["labels"] = np.fromfile(str(stem) + ".i64", dtype=np.int64).reshape(nq, k)
    case["distances"] = np.fromfile(str(stem) + ".f32", dtype=np.float32).reshape(nq, k)
    case["knobs"] = report["knobs"]
    return case


def agreement(knnx_d, knnx_l, faiss_d, faiss_l, scale: float) -> dict:
    """How far two exact answers differ: distances rank by rank, and shared labels."""
    diff = float(np.max(np.abs(knnx_d.astype(np.float64) - faiss_d.astype(np.float64))))
    shared = np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(knnx_l.tolist(), faiss_l.tolist())])
    return {"max_abs_distance_diff": diff, "max_distance_diff_over_scale": diff / scale,
            "label_overlap": float(shared)}


def main() -> int:
    metrics = [m for m in ARGS.metrics.split(",") if m]
    faiss.omp_set_num_threads(ARGS.threads)
    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--", "src", "include", "bench", "CMakeLists.txt", "cmake"))
    out_path = Path(ARGS.out) if ARGS.out else REPO / "bench" / "results" / f"cpu_flat_{ARGS.host}.json"
    result = {
        "benchmark": "cpu_flat_vs_faiss",
        "host": {
            "name": ARGS.host,
            "cpu_model": cpu_model(),
            "cpu_flags": cpu_flags(),
            "nproc": os.cpu_count(),
            "note": f"measured on this {os.cpu_count()}-core machine, shared with other work: see loadavg",
            "platform": platform.platform(),
        },
        "commit": commit,
        "worktree_dirty": dirty,
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "threads": ARGS.threads,
        "environment": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE") if k in os.environ},
        "faiss_version": faiss.__version__,
        "numpy_version": np.__version__,
        "data": f"N(0,1) float32, numpy default_rng(seed={ARGS.seed})",
        "d": ARGS.d,
        "repeat_rule": {"warmup": 1, "repeats": ARGS.repeats, "min_repeats": ARGS.min_repeats,
                        "max_seconds": ARGS.max_seconds},
        "loadavg_start": loadavg(),
        "cases": [],
    }
    max_nq = max(ARGS.nq)
    with tempfile.TemporaryDirectory(prefix="knnx_cpu_flat_") as tmp:
        tmp_dir = Path(tmp)
        for n in ARGS.sizes:
            rng = np.random.default_rng(ARGS.seed)
            base = rng.standard_normal((n, ARGS.d), dtype=np.float32)
            queries = rng.standard_normal((max_nq, ARGS.d), dtype=np.float32)
            base_path, query_path = tmp_dir / "base.f32", tmp_dir / "queries.f32"
            base.tofile(base_path)
            queries.tofile(query_path)
            max_norm_sq = float(np.max(np.einsum("ij,ij->i", base, base)))
            for metric in metrics:
                index = faiss.IndexFlatL2(ARGS.d) if metric == "l2" else faiss.IndexFlatIP(ARGS.d)
                index.add(base)
                for case_no, (nq, k) in enumerate((nq, k) for nq in ARGS.nq for k in ARGS.k):
                    q = np.ascontiguousarray(queries[:nq])
                    out = {}

                    def faiss_case():
                        out["faiss"] = index.search(q, k)

                    order = ["knnx", "faiss"] if case_no % 2 == 0 else ["faiss", "knnx"]
                    for lib in order:
                        if lib == "knnx":
                            kc = run_knnx(base_path, query_path, n, max_nq, metric, nq, k, tmp_dir)
                        else:
                            f_times, f_cpu = timed_runs(faiss_case)
                    f_d, f_l = out["faiss"]
                    qn = float(np.max(np.einsum("ij,ij->i", q, q)))
                    scale = qn + max_norm_sq if metric == "l2" else float(np.sqrt(qn * max_norm_sq))
                    k_med, f_med = kc["median_s"], statistics.median(f_times)
                    case = {
                        "n": n, "d": ARGS.d, "metric": metric, "nq": nq, "k": k,
                        "order": order,
                        "knnx": {"times_s": kc["times_s"], "cpu_times_s": kc["cpu_times_s"],
                                 "median_s": k_med, "min_s": min(kc["times_s"])},
                        "faiss": {"times_s": f_times, "cpu_times_s": f_cpu, "median_s": f_med,
                                  "min_s": min(f_times)},
                        "speedup_faiss_over_knnx": f_med / k_med,
                        "knnx_gflops": 2.0 * n * nq * ARGS.d / k_med / 1e9,
                        "knnx_base_gb_per_s": 4.0 * n * ARGS.d / k_med / 1e9,
                        "agreement": agreement(kc["distances"], kc["labels"], f_d, f_l, scale),
                        "loadavg": loadavg(),
                    }
                    result["knnx_knobs"] = kc["knobs"]
                    result["cases"].append(case)
                    print(f"N={n:>8} {metric} nq={nq:>5} k={k:>3}  knnx {k_med * 1e3:9.3f} ms  "
                          f"faiss {f_med * 1e3:9.3f} ms  x{f_med / k_med:5.2f}  "
                          f"overlap {case['agreement']['label_overlap']:.4f}  load {case['loadavg'][0]:.2f}",
                          flush=True)
                del index
    result["loadavg_end"] = loadavg()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
