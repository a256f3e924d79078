"""What the knnx-against-faiss-cpu scripts of compressed indexes share (sq_vs_faiss.py,
pq_vs_faiss.py): the clustered data, timing, provenance, recall and the comparison of two
nprobe sweeps at equal recall."""

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def mixture(nb, nq, d, seed=0):
    """nb base and nq query vectors, float32, around the same 256 centres (scale 3, unit
    noise), so that inverted lists mean something."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.standard_normal((256, d))
    xb = (centres[rng.integers(0, 256, nb)] + rng.standard_normal((nb, d))).astype(np.float32)
    xq = (centres[rng.integers(0, 256, nq)] + rng.standard_normal((nq, d))).astype(np.float32)
    return xb, xq


def median_seconds(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def interleaved_median_seconds(fns, rounds):
    """Median seconds of each of fns ({name: callable}) over rounds, timed in turn: the callables
    alternate within a round (the first of one round goes last in the next), so that load from
    other processes falls on all of them alike. Each timed call follows an untimed one of the
    same callable, which absorbs the previous one's threads still spinning in their own OpenMP
    runtime (faiss-cpu's wheel brings its own libgomp) and refills the caches."""
    names = list(fns)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            fns[name]()
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


def git(*args):
    # KNNX_COMMIT names the tree that runs where the checkout's git metadata is not that tree's
    # (a copy of a working tree sent to another machine): HEAD is that commit, and clean.
    pinned = os.environ.get("KNNX_COMMIT")
    if pinned and args[:1] == ("rev-parse",):
        return pinned[:7] if "--short" in args else pinned
    if pinned and args[:1] == ("status",):
        return ""
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_host_result(doc, prefix, out=None):
    """Writes doc to out, by default bench/results/<prefix>_<host name>.json; prints its path."""
    out = Path(out) if out else (
        REPO / "bench" / "results" / f"{prefix}_{os.uname().nodename.split('.')[0]}.json")
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")
    return out


def cpu_name():
    path = Path("/proc/cpuinfo")
    for line in path.read_text().splitlines() if path.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def recall(labels, truth):
    k = truth.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(labels, truth)]))


def qps_at(recalls, qps, target):
    """QPS of a curve (recall ascending with nprobe) at recall target, interpolated in log QPS;
    None outside the curve's recall range."""
    r = np.asarray(recalls)
    q = np.log(np.asarray(qps))
    if target < r.min() or target > r.max():
        return None
    order = np.argsort(r, kind="stable")
    return float(np.exp(np.interp(target, r[order], q[order])))


def equal_recall(ivf):
    """Rows of an nprobe sweep ({"nprobe", "knnx": {"qps", "recall"}, "faiss": {...}}, nprobe
    ascending) compared at equal recall: each side's QPS at the other's recall points. Past its
    plateau a curve only slows down, so each side keeps the points whose recall rises above
    every smaller nprobe's."""

    def rising(lib):
        kept, best = [], -1.0
        for r in ivf:
            if r[lib]["recall"] > best:
                kept.append(r)
                best = r[lib]["recall"]
        return kept

    out = []
    for side, other in (("faiss", "knnx"), ("knnx", "faiss")):
        curve = rising(other)
        for r in rising(side):
            target = r[side]["recall"]
            q_other = qps_at([x[other]["recall"] for x in curve],
                             [x[other]["qps"] for x in curve], target)
            if q_other is None:
                continue
            q = {side: r[side]["qps"], other: q_other}
            out.append({"recall": target, "knnx_qps": q["knnx"], "faiss_qps": q["faiss"],
                        "knnx_over_faiss": q["knnx"] / q["faiss"], "measured_side": side,
                        "nprobe": r["nprobe"]})
    out.sort(key=lambda e: e["recall"])
    return out


def build_both(spec, d, xb, faiss_spec):
    """knnx's and faiss-cpu's index for one factory spec, trained and filled with xb:
    {lib: (index, train seconds, add seconds)}."""
    import faiss
    import knnx
    built = {}
    for lib in ("knnx", "faiss"):
        index = knnx.index_factory(d, spec) if lib == "knnx" else faiss.index_factory(d, faiss_spec)
        t0 = time.perf_counter()
        index.train(xb)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        index.add(xb)
        built[lib] = (index, train_s, time.perf_counter() - t0)
    return built


def sweep(specs, xb, xq, truth, args, faiss_suffix="", width=14):
    """Both libraries on each spec (and each args.nprobe for IVF specs): QPS (median of
    args.reps rounds of interleaved searches of xq, k = args.k; see interleaved_median_seconds),
    recall against truth and the 1-minute load average before and after the timing; a row
    printed per point, then each side's QPS at the other's recall points. Returns (rows, equal-recall rows)."""
    import faiss
    results = []
    for spec in specs:
        built = build_both(spec, xb.shape[1], xb, spec + faiss_suffix)
        for nprobe in args.nprobe if spec.startswith("IVF") else [None]:
            row = {"spec": spec, "nprobe": nprobe}
            searches = {}
            for lib, (index, train_s, add_s) in built.items():
                if nprobe is not None:
                    if lib == "knnx":
                        index.nprobe = nprobe
                    else:
                        faiss.extract_index_ivf(index).nprobe = nprobe
                labels = index.search(xq, args.k)[1]
                row[lib] = {"recall": recall(labels, truth), "train_seconds": train_s,
                            "add_seconds": add_s}
                searches[lib] = lambda index=index: index.search(xq, args.k)
            load = os.getloadavg()[0]
            for lib, seconds in interleaved_median_seconds(searches, args.reps).items():
                row[lib]["qps"] = len(xq) / seconds
            row["load_1min"] = [load, os.getloadavg()[0]]
            results.append(row)
            print(f"{spec:{width}} {nprobe or '-':>6} {row['knnx']['qps']:10.0f} "
                  f"{row['knnx']['recall']:7.4f} {row['faiss']['qps']:10.0f} "
                  f"{row['faiss']['recall']:7.4f}")
    compared = equal_recall([r for r in results if r["nprobe"] is not None])
    print("IVF at equal recall (interpolated side in log QPS):")
    for e in compared:
        print(f"  recall {e['recall']:.4f}: knnx {e['knnx_qps']:8.0f}  faiss {e['faiss_qps']:8.0f}"
              f"  knnx/faiss {e['knnx_over_faiss']:.2f}")
    return results, compared
