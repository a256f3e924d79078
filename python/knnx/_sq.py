"""IndexScalarQuantizer, IndexIVFScalarQuantizer and IndexRefineFlat (the exact re-ranking that
goes with compressed indexes): the bound classes with FAISS's constructor forms, chunked add
and the other IndexMixin methods."""

from __future__ import annotations

from knnx import _knnx
from knnx._attributes import alias
from knnx._index import IndexMixin
from knnx._ivf import _from_quantizer


class IndexScalarQuantizer(IndexMixin, _knnx.IndexScalarQuantizer):
    __doc__ = _knnx.IndexScalarQuantizer.__doc__ + """

Example (FAISS's form)::

    index = knnx.IndexScalarQuantizer(64, knnx.ScalarQuantizer.QT_8bit, knnx.METRIC_L2)
    index.train(xb)
    index.add(xb)
    D, I = index.search(xq, k=10)
"""
    __module__ = "knnx"


class IndexRefineFlat(IndexMixin, _knnx.IndexRefineFlat):
    __doc__ = _knnx.IndexRefineFlat.__doc__
    __module__ = "knnx"


class IndexIVFScalarQuantizer(IndexMixin, _knnx.IndexIVFScalarQuantizer):
    __doc__ = _knnx.IndexIVFScalarQuantizer.__doc__ + """

Constructed as FAISS's, IndexIVFScalarQuantizer(quantizer, d, nlist, qtype[, metric[,
by_residual]]) with quantizer an empty IndexFlatL2 / IndexFlatIP, whose metric and device the
index takes (train() learns the centroids), or IndexIVFScalarQuantizer(d, n_lists, qtype,
metric="l2", by_residual=True, device="cpu").

Example::

    quantizer = knnx.IndexFlatL2(64)
    index = knnx.IndexIVFScalarQuantizer(quantizer, 64, 1024, knnx.ScalarQuantizer.QT_8bit)
    index.train(xb)
    index.add(xb)
    index.nprobe = 16
    D, I = index.search(xq, k=10)
"""
    __module__ = "knnx"

    _TRAIN_READS_DEVICE = False

    def __init__(self, *args, **kwargs) -> None:
        if args and isinstance(args[0], _knnx.Index):
            quantizer, d, nlist, qtype, *rest = args
            metric = rest[0] if rest else kwargs.pop("metric", None)
            by_residual = rest[1] if len(rest) > 1 else kwargs.pop("by_residual", True)
            if quantizer.ntotal != 0:
                raise _knnx.NotSupported(
                    "IndexIVFScalarQuantizer learns its centroids in train(); give an empty "
                    "quantizer")
            d, nlist, metric, device = _from_quantizer(quantizer, d, nlist, metric)
            _knnx.IndexIVFScalarQuantizer.__init__(self, d, nlist, qtype, metric, by_residual,
                                                   device)
            return
        _knnx.IndexIVFScalarQuantizer.__init__(self, *args, **kwargs)

    nprobe = alias("n_probe")
    nlist = alias("n_lists", settable=False)
