"""FAISS's helper functions on plain arrays: normalize_L2, knn, and the thread count of CPU
work (omp_set_num_threads / omp_get_max_threads)."""

from __future__ import annotations

import os

import numpy as np

from knnx import _knnx
from knnx._index import IndexFlat


def normalize_L2(x: np.ndarray) -> None:
    """Scales each row of x (n, d) to unit L2 norm in place, as FAISS's normalize_L2; rows of
    norm 0 stay as they are. x must be a C-contiguous float32 numpy array (TypeError
    otherwise: an in-place call cannot convert it)."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float32:
        raise TypeError("normalize_L2 works in place on a float32 numpy array, got "
                        f"{type(x).__name__}" + (f" of {x.dtype}" if hasattr(x, "dtype") else ""))
    if x.ndim != 2 or not x.flags.c_contiguous or not x.flags.writeable:
        raise ValueError(f"normalize_L2 needs a writeable C-contiguous (n, d) array, got shape "
                         f"{x.shape}, C-contiguous={x.flags.c_contiguous}")
    if x.size == 0:
        return
    x[...] = _knnx.L2Normalize(x.shape[1]).apply(x)


def knn(xq, xb, k: int, metric=1):
    """The k nearest rows of xb for each row of xq by exact search: (distances float32 (nq, k),
    labels int64 (nq, k)), as FAISS's knn(xq, xb, k, metric). metric: METRIC_L2 (default),
    METRIC_INNER_PRODUCT, or a knnx metric name."""
    xb = np.asarray(xb)
    if xb.ndim != 2:
        raise ValueError(f"xb must be a 2-D array (nb, d), got shape {xb.shape}")
    index = IndexFlat(xb.shape[1], metric)
    index.add(xb)
    return index.search(xq, k)


def omp_set_num_threads(n: int) -> None:
    """Sets the number of CPU threads knnx's searches, k-means and transforms use (the
    num_threads knob; 0 restores the OpenMP default)."""
    _knnx.set_config(num_threads=n)


def omp_get_max_threads() -> int:
    """The number of CPU threads knnx's CPU work uses: num_threads when set, else the OpenMP
    default (OMP_NUM_THREADS, or the CPUs this process may run on)."""
    n = _knnx.config()["num_threads"]
    if n > 0:
        return n
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0))
