"""Datasets for the harness, and exact ground truth computed once and cached.

mixture      the built-in Gaussian mixture (knnx.make_mixture_base / make_mixture_queries)
NAME         real vectors under the shared data folder (default ../shared/data from the repo
             root, or $KNNX_DATA): NAME_base.fvecs with NAME_query*.fvecs, and
             NAME_groundtruth.ivecs when present. Never copied into the repository.
"""
from __future__ import annotations

import glob
import hashlib
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("KNNX_DATA", REPO.parent / "shared" / "data"))
CACHE_DIR = Path(os.environ.get("KNNX_BENCH_CACHE", REPO / "build" / "bench-cache"))


class DatasetMissing(Exception):
    pass


def read_vecs(path: Path, dtype) -> np.ndarray:
    """.fvecs / .ivecs: each row is an int32 dimension followed by that many values."""
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        return np.zeros((0, 0), dtype=dtype)
    d = int(raw[0])
    if d <= 0 or raw.size % (d + 1) != 0:
        raise ValueError(f"{path}: not a .fvecs/.ivecs file (first dimension {d})")
    rows = raw.reshape(-1, d + 1)
    if not np.all(rows[:, 0] == d):
        raise ValueError(f"{path}: rows of different dimensions")
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def file_datasets() -> list[str]:
    names = []
    for base in sorted(glob.glob(str(DATA_DIR / "*_base.fvecs"))):
        name = os.path.basename(base)[: -len("_base.fvecs")]
        if glob.glob(str(DATA_DIR / f"{name}_query*.fvecs")):
            names.append(name)
    return names


def load(args) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray | None]:
    """(base, queries, description, given ground truth or None)."""
    if args.dataset == "mixture":
        import knnx
        spec = dict(d=args.d, n_clusters=args.clusters, center_stddev=args.center_stddev,
                    noise_stddev=args.noise_stddev, seed=args.seed)
        xb = knnx.make_mixture_base(args.n, **spec)
        xq = knnx.make_mixture_queries(args.nq, **spec)
        desc = {"name": f"mixture-{args.n // 1000}k-d{args.d}", "kind": "gaussian_mixture",
                "source": "knnx.make_mixture_base / make_mixture_queries",
                "clusters": args.clusters, "center_stddev": args.center_stddev,
                "noise_stddev": args.noise_stddev, "seed": args.seed}
        return (np.ascontiguousarray(xb, dtype=np.float32),
                np.ascontiguousarray(xq, dtype=np.float32), desc, None)
    name = args.dataset
    base = DATA_DIR / f"{name}_base.fvecs"
    queries = sorted(glob.glob(str(DATA_DIR / f"{name}_query*.fvecs")))
    if not base.exists() or not queries:
        raise DatasetMissing(f"dataset {name}: {base} or {DATA_DIR}/{name}_query*.fvecs absent")
    xb = read_vecs(base, np.float32)
    xq = read_vecs(Path(queries[0]), np.float32)
    if args.n and args.n < xb.shape[0]:
        xb = xb[: args.n]
    if args.nq and args.nq < xq.shape[0]:
        xq = xq[: args.nq]
    desc = {"name": name, "kind": "files", "base": str(base), "queries": queries[0]}
    gt = None
    gt_path = DATA_DIR / f"{name}_groundtruth.ivecs"
    if gt_path.exists() and xb.shape[0] == read_vecs(base, np.float32).shape[0]:
        gt = read_vecs(gt_path, np.int32).astype(np.int64)[: xq.shape[0]]
        desc["ground_truth_file"] = str(gt_path)
    return np.ascontiguousarray(xb), np.ascontiguousarray(xq), desc, gt


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()[:20]


def ground_truth(xb, xq, k: int, metric: str) -> tuple[np.ndarray, dict]:
    """Exact k nearest neighbours with an exact Flat index (knnx on the CPU, or faiss when knnx
    is absent), cached under CACHE_DIR keyed by a hash of the data, k and the metric."""
    key = f"gt-{_digest(xb, xq)}-k{k}-{metric}.npy"
    path = CACHE_DIR / key
    if path.exists():
        return np.load(path), {"method": "exact Flat (cached)", "cache": str(path)}
    try:
        import knnx
        index = knnx.IndexFlat(xb.shape[1], metric=metric, device="cpu")
        index.add(xb)
        _, labels = index.search(xq, k)
        method = "exact knnx IndexFlat (CPU)"
    except ImportError:
        import faiss
        index = faiss.IndexFlatL2(xb.shape[1]) if metric == "l2" else faiss.IndexFlatIP(xb.shape[1])
        index.add(xb)
        _, labels = index.search(xq, k)
        method = "exact faiss IndexFlat"
    labels = np.asarray(labels, dtype=np.int64)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, labels)
    os.replace(tmp, path)
    return labels, {"method": method, "cache": str(path)}


def recall_at_k(labels: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Share of the true k nearest neighbours among the k returned (ids -1 never match)."""
    found = np.asarray(labels)[:, :k]
    true = np.asarray(truth)[:, :k]
    hits = (found[:, :, None] == true[:, None, :]) & (found[:, :, None] >= 0)
    return float(hits.any(axis=2).sum() / true.size)
