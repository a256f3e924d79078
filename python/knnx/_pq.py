"""IndexPQ and IndexIVFPQ: the bound product-quantizer indexes with FAISS's constructor forms
and attribute names (pq, nprobe, nlist, code_size, by_residual)."""

from __future__ import annotations

from knnx import _knnx
from knnx._attributes import alias
from knnx._index import IndexMixin
from knnx._ivf import _from_quantizer


class IndexPQ(IndexMixin, _knnx.IndexPQ):
    __doc__ = _knnx.IndexPQ.__doc__ + """

Example (FAISS's form IndexPQ(d, M, nbits[, metric]))::

    index = knnx.IndexPQ(64, 16, 8)
    index.train(xb)
    index.add(xb)
    D, I = index.search(xq, k=10)
"""
    __module__ = "knnx"

    _TRAIN_READS_DEVICE = False

    @property
    def code_size(self) -> int:
        """Bytes a stored vector takes (pq.code_size)."""
        return self.pq.code_size


class IndexIVFPQ(IndexMixin, _knnx.IndexIVFPQ):
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

    _TRAIN_READS_DEVICE = False

    def __init__(self, *args, **kwargs) -> None:
        if args and isinstance(args[0], _knnx.Index):
            quantizer, d, nlist, m = args[:4]
            nbits = args[4] if len(args) > 4 else kwargs.pop("nbits", 8)
            metric = args[5] if len(args) > 5 else kwargs.pop("metric", None)
            if len(args) > 6 or kwargs:
                raise TypeError("IndexIVFPQ(quantizer, d, nlist, M, nbits=8, metric=None) takes "
                                "no other arguments")
            d, nlist, metric, device = _from_quantizer(quantizer, d, nlist, metric)
            _knnx.IndexIVFPQ.__init__(self, d, nlist, m, nbits, metric, device)
            if quantizer.ntotal == nlist:
                raise _knnx.NotSupported(
                    "IndexIVFPQ trains its own coarse centroids: pass an empty quantizer")
            return
        _knnx.IndexIVFPQ.__init__(self, *args, **kwargs)

    nprobe = alias("n_probe")
    nlist = alias("n_lists", settable=False)

    @property
    def code_size(self) -> int:
        """Bytes a stored vector takes (pq.code_size)."""
        return self.pq.code_size

    @property
    def by_residual(self) -> bool:
        """Codes encode x minus its list's centroid (always, as FAISS's default)."""
        return True
