"""The harness runner: builds every requested (system, index) pair over one dataset, sweeps
the search parameter, and writes one ann_sweep JSON file (schema in bench/harness/__init__.py).

Fairness: thread counts are fixed before any library loads; indexes of the same kind and build
parameters (e.g. knnx-cpu and faiss-cpu IVF1024,Flat) are timed point by point in interleaved
rounds, alternating which goes first, so load from other work on the machine falls on both.
Each point: one untimed warm-up search, then up to --repeats timed searches of all queries (at
least --min-repeats; no new round starts once a system spent --max-seconds on the point); the
point's time is the median. Recall is recall@k against exact ground truth.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SYSTEMS = ("knnx-cpu", "knnx-gpu", "faiss-cpu", "hnswlib", "torch-gpu")
INDEXES = ("flat", "ivf", "hnsw")


def int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def str_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m bench.harness", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mixture",
                   help="'mixture' (built-in Gaussian mixture) or the name of a NAME_base.fvecs "
                        "set in the shared data folder ($KNNX_DATA, default ../shared/data); "
                        "'list' prints the sets found")
    p.add_argument("--n", type=int, default=100_000, help="base vectors (files: the first N)")
    p.add_argument("--nq", type=int, default=1000, help="queries (files: the first NQ)")
    p.add_argument("--d", type=int, default=128, help="mixture: dimension")
    p.add_argument("--clusters", type=int, default=4096, help="mixture: Gaussians")
    p.add_argument("--center-stddev", type=float, default=1.0, help="mixture: spread of centres")
    p.add_argument("--noise-stddev", type=float, default=1.0, help="mixture: spread around a centre")
    p.add_argument("--seed", type=int, default=1, help="mixture: seed")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--metric", default="l2", choices=("l2", "ip"))
    p.add_argument("--systems", type=str_list, default=["knnx-cpu", "faiss-cpu", "hnswlib"],
                   help=f"comma-separated, of {', '.join(SYSTEMS)}")
    p.add_argument("--indexes", type=str_list, default=["flat", "ivf", "hnsw"],
                   help="comma-separated, of flat, ivf, hnsw (a system runs those it has)")
    p.add_argument("--n-lists", type=int_list, default=[1024], help="IVF lists (comma-separated)")
    p.add_argument("--n-probe", type=int_list, default=None,
                   help="IVF n_probe sweep (default 1, 2, 4, ... up to n_lists)")
    p.add_argument("--hnsw-m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--ef", type=int_list, default=[10, 16, 32, 64, 128, 256, 512],
                   help="HNSW ef sweep (values below k are dropped)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="CPU threads for every CPU library (OMP_NUM_THREADS and the libraries' own "
                        "settings)")
    p.add_argument("--repeats", type=int, default=5, help="timed searches per point, at most")
    p.add_argument("--min-repeats", type=int, default=3, help="timed searches per point, at least")
    p.add_argument("--max-seconds", type=float, default=10.0,
                   help="per system and point: start no new round past this much search time")
    p.add_argument("--knnx-python", default=None,
                   help="directory holding the knnx package (BUILD/python); default: as importable, "
                        "else build/python")
    p.add_argument("--out", default=None,
                   help="JSON file to write (default: $OUT/ann_<dataset>_<host>.json when OUT is set, "
                        "else bench/results/ann_<dataset>_<host>.json)")
    p.add_argument("--tag", default=None, help="suffix of the default file name")
    args = p.parse_args(argv)
    for s in args.systems:
        if s not in SYSTEMS:
            p.error(f"unknown system {s!r}; choose from {', '.join(SYSTEMS)}")
    for i in args.indexes:
        if i not in INDEXES:
            p.error(f"unknown index {i!r}; choose from {', '.join(INDEXES)}")
    if args.k < 1 or args.nq < 1 or args.n < 1 or args.repeats < 1:
        p.error("--k, --n, --nq and --repeats must be >= 1")
    return args


def setup_environment(args) -> None:
    """Thread settings must be in the environment before faiss, knnx or OpenBLAS load."""
    if args.threads and args.threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        os.environ["KNNX_NUM_THREADS"] = str(args.threads)
    if args.knnx_python:
        sys.path.insert(0, os.path.abspath(args.knnx_python))
    else:
        try:
            import knnx  # noqa: F401
        except ImportError:
            sys.path.insert(0, str(REPO / "build" / "python"))


def make_adapter(system: str, index: str, args, d: int, build_params: dict):
    """The adapter for (system, index), or None when the system has no such index."""
    from .adapters import faiss_adapter, hnswlib_adapter, knnx_adapter, torch_adapter
    t = args.threads
    table = {
        ("knnx-cpu", "flat"): lambda: knnx_adapter.KnnxFlat(d, args.metric, build_params, t, "cpu"),
        ("knnx-cpu", "ivf"): lambda: knnx_adapter.KnnxIVFFlat(d, args.metric, build_params, t, "cpu"),
        ("knnx-gpu", "flat"): lambda: knnx_adapter.KnnxFlat(d, args.metric, build_params, t, "cuda"),
        ("knnx-gpu", "ivf"): lambda: knnx_adapter.KnnxIVFFlat(d, args.metric, build_params, t, "cuda"),
        ("faiss-cpu", "flat"): lambda: faiss_adapter.FaissFlat(d, args.metric, build_params, t),
        ("faiss-cpu", "ivf"): lambda: faiss_adapter.FaissIVFFlat(d, args.metric, build_params, t),
        ("faiss-cpu", "hnsw"): lambda: faiss_adapter.FaissHNSW(d, args.metric, build_params, t),
        ("hnswlib", "hnsw"): lambda: hnswlib_adapter.HnswlibHNSW(d, args.metric, build_params, t),
        ("torch-gpu", "flat"): lambda: torch_adapter.TorchFlat(d, args.metric, build_params, t),
    }
    make = table.get((system, index))
    return make() if make else None


def sweep_values(adapter, args) -> list[dict]:
    if adapter.sweep_param == "n_probe":
        n_lists = adapter.n_lists
        probes = args.n_probe or [p for p in (2 ** i for i in range(31)) if p <= n_lists]
        return [{"n_probe": p} for p in probes if p <= n_lists]
    if adapter.sweep_param == "ef":
        return [{"ef": e} for e in args.ef if e >= args.k]
    return [{}]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def time_group(group, params, xq, k, args, meta) -> list[dict]:
    """Times one parameter point for every adapter of a group, in interleaved rounds."""
    from .metadata import loadavg
    load = loadavg()
    results = []
    for a in group:
        a.set_params(**params)
        a.search(xq, k)  # warm-up
    times = [[] for _ in group]
    spent = [0.0 for _ in group]
    rounds = 0
    while rounds < args.repeats:
        if rounds >= args.min_repeats and all(s >= args.max_seconds for s in spent):
            break
        order = list(range(len(group)))
        if rounds % 2:
            order.reverse()
        for i in order:
            if rounds >= args.min_repeats and spent[i] >= args.max_seconds:
                continue
            t0 = time.perf_counter()
            group[i].search(xq, k)
            t = time.perf_counter() - t0
            times[i].append(t)
            spent[i] += t
        rounds += 1
    for a, ts in zip(group, times):
        _, labels = a.search(xq, k)  # untimed: the answer whose recall is reported
        from .datasets import recall_at_k
        med = statistics.median(ts)
        results.append({"params": params, "recall": recall_at_k(labels, meta["truth"], k),
                        "times_s": ts, "median_s": med, "qps": xq.shape[0] / med,
                        "loadavg": load})
    return results


def default_out(args, dataset_name: str, host: str) -> Path:
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", dataset_name + (f"_{args.tag}" if args.tag else ""))
    name = f"ann_{tag}_{re.sub(r'[^A-Za-z0-9_.-]', '_', host)}.json"
    if os.environ.get("OUT"):
        return Path(os.environ["OUT"]) / name
    return REPO / "bench" / "results" / name


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_environment(args)
    from . import datasets, metadata

    if args.dataset == "list":
        names = datasets.file_datasets()
        print("\n".join(["mixture"] + names) if names else
              f"mixture\n(no NAME_base.fvecs sets under {datasets.DATA_DIR})")
        return 0
    try:
        xb, xq, desc, given_truth = datasets.load(args)
    except datasets.DatasetMissing as e:
        log(f"skipped: {e}")
        return 0
    except ImportError as e:
        log(f"error: the mixture needs the knnx module ({e}); pass --knnx-python BUILD/python")
        return 2
    n, d = xb.shape
    nq = xq.shape[0]
    k = args.k
    desc.update({"n": n, "d": d, "nq": nq, "metric": args.metric})
    load_start = metadata.loadavg()
    log(f"dataset {desc['name']}: {n} x {d}, {nq} queries, k = {k}, {args.threads} threads")

    if given_truth is not None and given_truth.shape[1] >= k:
        truth, gt_info = given_truth, {"method": "file", "file": desc.get("ground_truth_file")}
    else:
        t0 = time.perf_counter()
        truth, gt_info = datasets.ground_truth(xb, xq, k, args.metric)
        log(f"ground truth: {gt_info['method']} ({time.perf_counter() - t0:.1f} s)")
    meta = {"truth": truth}

    # Build every (system, index) pair the request names; collect the skipped ones.
    built, skipped = [], []
    for index in args.indexes:
        variants = ([{"n_lists": nl} for nl in args.n_lists] if index == "ivf" else
                    [{"M": args.hnsw_m, "ef_construction": args.ef_construction}] if index == "hnsw"
                    else [{}])
        for bp in variants:
            if index == "ivf" and bp["n_lists"] > n:
                skipped.append({"system": "*", "index": f"IVF{bp['n_lists']},Flat",
                                "reason": f"more lists than the {n} base vectors"})
                continue
            for system in args.systems:
                from .adapters.base import Unavailable
                try:
                    a = make_adapter(system, index, args, d, bp)
                except Unavailable as e:
                    log(f"skipped {system} {index}: {e}")
                    skipped.append({"system": system, "index": index, "reason": str(e)})
                    continue
                if a is None:
                    continue
                log(f"build {a.system} {a.spec()} ...")
                t0 = time.perf_counter()
                a.build(xb)
                total = time.perf_counter() - t0
                a.build_times["total_s"] = total
                log(f"  {total:.2f} s")
                built.append((index, tuple(sorted(bp.items())), a))

    # Time the points: adapters of one kind and build parameters side by side.
    runs = {id(a): None for _, _, a in built}
    groups: dict = {}
    for index, bp, a in built:
        groups.setdefault((index, bp), []).append(a)
    points = {id(a): [] for _, _, a in built}
    for (index, bp), group in groups.items():
        values = []
        for a in group:
            for v in sweep_values(a, args):
                if v not in values:
                    values.append(v)
        for params in values:
            members = [a for a in group if params in sweep_values(a, args)]
            res = time_group(members, params, xq, k, args, meta)
            for a, r in zip(members, res):
                points[id(a)].append(r)
                log(f"{a.system:10s} {a.spec():28s} {json.dumps(params):18s} "
                    f"recall@{k} {r['recall']:.4f}  {r['median_s'] * 1e3:9.2f} ms  "
                    f"{r['qps']:12,.0f} q/s")

    out_runs = []
    for index, bp, a in built:
        nbytes, how = a.index_bytes()
        out_runs.append({"system": a.system, "algorithm": a.algorithm, "index": a.spec(),
                         "build_params": dict(bp), "build": a.build_times,
                         "index_bytes": nbytes, "index_bytes_method": how,
                         "sweep_param": a.sweep_param, "points": points[id(a)]})
        a.close()
    del runs

    commit, dirty = metadata.git_state()
    host = metadata.host(args.threads)
    mods = ["numpy", "knnx", "faiss", "hnswlib", "torch"]
    result = {
        "benchmark": "ann_sweep", "schema": 1, "producer": "bench/harness",
        "host": host, "devices": metadata.gpus() if any(s.endswith("gpu") for s in args.systems) else [],
        "commit": commit, "worktree_dirty": dirty, "command": metadata.command(),
        "versions": metadata.versions(mods), "environment": metadata.environment(),
        "threads": args.threads, "dataset": desc, "k": k, "ground_truth": gt_info,
        "repeat_rule": {"warmup": 1, "repeats": args.repeats, "min_repeats": args.min_repeats,
                        "max_seconds": args.max_seconds,
                        "interleaved": "same-kind indexes alternate, round by round"},
        "loadavg_start": load_start, "loadavg_end": metadata.loadavg(),
        "runs": out_runs, "skipped": skipped,
    }
    if "knnx" in sys.modules:
        try:
            result["knnx_config"] = sys.modules["knnx"].config()
        except Exception:  # noqa: BLE001 - the record is optional
            pass
    out = Path(args.out) if args.out else default_out(args, desc["name"], host["name"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    log(f"wrote {out}")
    return 0
