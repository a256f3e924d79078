"""IndexPQ and IndexIVFPQ, and their fast-scan kinds IndexPQFastScan and IndexIVFPQFastScan: the
bound product-quantizer indexes with FAISS's constructor forms and attribute names (pq, nprobe,
nlist, code_size, by_residual)."""

from __future__ import annotations

from knnx import _knnx
from knnx._attributes import alias
from knnx._index import IndexMixin
from knnx._ivf import _from_quantizer


def _init_ivf_pq(self, bound, kind: str, args, kwargs, defaults: dict) -> None:
    """bound.__init__ from FAISS's form (quantizer, d, nlist, M, *rest), rest named by defaults
    (nbits, metric, then the kind's others), or from knnx's own arguments."""
    if not (args and isinstance(args[0], _knnx.Index)):
        bound.__init__(self, *args, **kwargs)
        return
    quantizer, d, nlist, m = args[:4]
    rest = args[4:]
    if len(rest) > len(defaults) or set(kwargs) - set(defaults):
        named = ", ".join(f"{name}={value}" for name, value in defaults.items())
        raise TypeError(f"{kind}(quantizer, d, nlist, M, {named}) takes no other arguments")
    values = [rest[i] if i < len(rest) else kwargs.get(name, default)
              for i, (name, default) in enumerate(defaults.items())]
    nbits, metric, *others = values
    d, nlist, metric, device = _from_quantizer(quantizer, d, nlist, metric)
    bound.__init__(self, d, nlist, m, nbits, metric, *others, device)
    if quantizer.ntotal == nlist:
        raise _knnx.NotSupported(
            f"{kind} trains its own coarse centroids: pass an empty quantizer")


class _PQAttributes:
    """FAISS's attribute names of the product-quantizer indexes."""

    _TRAIN_READS_DEVICE = False

    @property
    def code_size(self) -> int:
        """Bytes a stored vector takes (pq.code_size)."""
        return self.pq.code_size


class _IVFPQAttributes(_PQAttributes):
    nprobe = alias("n_probe")
    nlist = alias("n_lists", settable=False)


class IndexPQ(_PQAttributes, IndexMixin, _knnx.IndexPQ):
    __doc__ = _knnx.IndexPQ.__doc__ + """

Example (FAISS's form IndexPQ(d, M, nbits[, metric]))::

    index = knnx.IndexPQ(64, 16, 8)
    index.train(xb)
    index.add(xb)
    D, I = index.search(xq, k=10)
"""
    __module__ = "knnx"


class IndexIVFPQ(_IVFPQAttributes, IndexMixin, _knnx.IndexIVFPQ):
    __doc__ = _knnx.IndexIVFPQ.__doc__ + """

Constructed as FAISS's IndexIVFPQ(quantizer, d, nlist, M, nbits[, metric]) (the quantizer a
knnx.IndexFlat of the same d, empty or holding nlist trained centroids, whose metric and device
the index takes) or as IndexIVFPQ(d, n_lists, M, nbits=8, metric="l2", device="cpu").

Example::

    index = knnx.IndexIVFPQ(knnx.IndexFlatL2(64), 64, 1024, 16, 8)
    index.train(xb)
    index.add(xb)
    index.nprobe = 16
    D, I = index.search(xq, k=10)
"""
    __module__ = "knnx"

    def __init__(self, *args, **kwargs) -> None:
        _init_ivf_pq(self, _knnx.IndexIVFPQ, "IndexIVFPQ", args, kwargs,
                     {"nbits": 8, "metric": None})


class IndexPQFastScan(_PQAttributes, IndexMixin, _knnx.IndexPQFastScan):
    __doc__ = _knnx.IndexPQFastScan.__doc__ + """

Example (FAISS's form IndexPQFastScan(d, M, nbits=4[, metric, bbs=32]); factory "PQ32x4fs")::

    index = knnx.IndexPQFastScan(64, 32, 4)
    index.train(xb)
    index.add(xb)
    D, I = index.search(xq, k=10)
"""
    __module__ = "knnx"


class IndexIVFPQFastScan(_IVFPQAttributes, IndexMixin, _knnx.IndexIVFPQFastScan):
    __doc__ = _knnx.IndexIVFPQFastScan.__doc__ + """

Constructed as FAISS's IndexIVFPQFastScan(quantizer, d, nlist, M, nbits=4[, metric, bbs=32]) (the
quantizer an empty knnx.IndexFlat of the same d, whose metric and device the index takes) or as
IndexIVFPQFastScan(d, n_lists, M, nbits=4, metric="l2", bbs=32, device="cpu"); factory
"IVF4096,PQ32x4fs".

Example::

    index = knnx.IndexIVFPQFastScan(knnx.IndexFlatL2(64), 64, 1024, 32, 4)
    index.train(xb)
    index.add(xb)
    index.nprobe = 16
    D, I = index.search(xq, k=10)
"""
    __module__ = "knnx"

    def __init__(self, *args, **kwargs) -> None:
        _init_ivf_pq(self, _knnx.IndexIVFPQFastScan, "IndexIVFPQFastScan", args, kwargs,
                     {"nbits": 4, "metric": None, "bbs": 32})
