"""IndexIVFFlat: the bound inverted-file index plus CUDA array arguments, chunked add and a
k-means progress report for verbose training."""

from __future__ import annotations

from typing import Optional

from knnx import _knnx
from knnx._attributes import alias, unknown_attribute
from knnx._index import _GPU_ARRAYS_DOC, IndexMixin
from knnx._progress import progress, set_postfix


def _from_quantizer(quantizer, d, nlist, metric=None, device=None):
    """IndexIVFFlat.__init__ arguments (d, n_lists, metric, device) of FAISS's form
    IndexIVFFlat(quantizer, d, nlist[, metric]): the quantizer's metric and device, which an
    explicit metric or device must match."""
    if not isinstance(quantizer, _knnx.IndexFlat):
        raise _knnx.NotSupported(
            f"the quantizer must be a knnx.IndexFlat (IndexFlatL2 / IndexFlatIP), got "
            f"{type(quantizer).__name__}")
    if quantizer.d != d:
        raise ValueError(f"the quantizer has d = {quantizer.d} but the index d = {d}")
    if metric is not None and _knnx._metric(metric) != quantizer.metric:
        raise ValueError(f"metric {metric!r} differs from the quantizer's metric "
                         f"({quantizer.metric.name})")
    if device is not None and _knnx._device(device) != quantizer.device:
        raise ValueError(f"device {device!r} differs from the quantizer's ({quantizer.device})")
    if quantizer.ntotal not in (0, nlist):
        raise ValueError(f"the quantizer holds {quantizer.ntotal} vectors; it must be empty or "
                         f"hold the nlist = {nlist} centroids")
    return d, nlist, quantizer.metric, quantizer.device


class KMeansParamsView:
    """The k-means settings of an IVF index, live: reading a field reads the index's setting,
    assigning one changes it (through the index's lock, as the whole-object assignment does)."""

    __slots__ = ("_index",)

    def __init__(self, index) -> None:
        object.__setattr__(self, "_index", index)

    def copy(self) -> "_knnx.KMeansParams":
        """An independent knnx.KMeansParams with the current settings."""
        return _knnx.IndexIVFFlat.kmeans_params.__get__(self._index)

    def __getattr__(self, name: str):
        params = self.copy()
        if not hasattr(type(params), name):
            raise unknown_attribute(params, name)
        return getattr(params, name)

    def __setattr__(self, name: str, value) -> None:
        params = self.copy()
        setattr(params, name, value)  # AttributeError for unknown names, ValueError for values
        _knnx.IndexIVFFlat.kmeans_params.__set__(self._index, params)

    def __dir__(self):
        return dir(_knnx.KMeansParams)

    def __repr__(self) -> str:
        return repr(self.copy())


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

    def __init__(self, *args, **kwargs) -> None:
        if args and isinstance(args[0], _knnx.Index):
            _knnx.IndexIVFFlat.__init__(self, *_from_quantizer(*args, **kwargs))
            if args[0].ntotal == self.n_lists:
                self.set_centroids(args[0].vectors())  # a trained quantizer: FAISS uses it
            return
        _knnx.IndexIVFFlat.__init__(self, *args, **kwargs)

    nprobe = alias("n_probe")
    nlist = alias("n_lists", settable=False)

    @property
    def kmeans_params(self) -> "KMeansParamsView":
        """The knnx.KMeansParams train() uses (n_iter = 10 by default, as FAISS's IVF
        training), live: index.kmeans_params.n_iter = 5 changes the index's setting. Assigning
        a knnx.KMeansParams replaces them all. Their device is ignored: k-means runs on the
        index's device."""
        return KMeansParamsView(self)

    @kmeans_params.setter
    def kmeans_params(self, params) -> None:
        if isinstance(params, KMeansParamsView):
            params = params.copy()
        _knnx.IndexIVFFlat.kmeans_params.__set__(self, params)

    def _train_host(self, x, verbose: bool) -> None:
        if verbose:
            train_with_progress(self, x, self.kmeans_params.n_iter)
        else:
            _knnx.IndexIVFFlat.train(self, x)
