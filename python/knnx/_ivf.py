"""IndexIVFFlat: the bound inverted-file index plus CUDA array arguments, chunked add and a
k-means progress report for verbose training."""

from __future__ import annotations

from typing import Optional

from knnx import _knnx
from knnx._index import _GPU_ARRAYS_DOC, IndexMixin
from knnx._progress import progress, set_postfix


def train_with_progress(index, x, n_iter: Optional[int]) -> None:
    """index._train_with_progress(x, ...) behind a progress bar of n_iter k-means iterations
    (None: unknown)."""
    bar = progress(n_iter, "knnx train (k-means)", "iter")

    def report(iteration: int, objective: float, seconds: float) -> None:
        set_postfix(bar, f"objective={objective:.6g}")
        bar.update(1)

    try:
        index._train_with_progress(x, report)
    finally:
        bar.close()


class IndexIVFFlat(IndexMixin, _knnx.IndexIVFFlat):
    __doc__ = _knnx.IndexIVFFlat.__doc__ + _GPU_ARRAYS_DOC + """
train() runs k-means in host memory, so a CUDA training array is copied to the host once;
add() and search() read CUDA arrays in place.

Example::

    index = knnx.IndexIVFFlat(64, n_lists=1024)
    index.train(xb)
    index.add(xb)
    index.n_probe = 16
    D, I = index.search(xq, k=10)
"""
    __module__ = "knnx"

    _TRAIN_READS_DEVICE = False

    def _train_host(self, x, verbose: bool) -> None:
        if verbose:
            train_with_progress(self, x, self.kmeans_params.n_iter)
        else:
            _knnx.IndexIVFFlat.train(self, x)
