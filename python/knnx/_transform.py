"""IndexPreTransform: an index behind a chain of vector transforms, with the Python index layer
(CUDA arrays, verbose add and train)."""

from __future__ import annotations

from typing import Optional, Sequence, Union

from knnx import _gpu_arrays as _gpu
from knnx import _knnx
from knnx._attributes import alias
from knnx._index import IndexMixin
from knnx._ivf import train_with_progress


class IndexPreTransform(IndexMixin, _knnx.IndexPreTransform):
    __doc__ = _knnx.IndexPreTransform.__doc__ + """
transform may be one knnx.VectorTransform or a sequence of them, applied in order (the first
outermost); index is the empty index that receives the transformed vectors (it is moved in).
The transforms read host memory: CUDA arrays given to train, add, add_with_ids and search
are copied to the host first, and search returns numpy arrays.

Example::

    index = knnx.IndexPreTransform(knnx.PCA(128, 32), knnx.IndexIVFFlat(32, 256))
    index.train(xb)
    index.add(xb)
    index.n_probe = 16
    D, I = index.search(xq, 10)
"""
    __module__ = "knnx"

    _TRAIN_READS_DEVICE = False

    def __init__(self, transform: Union[_knnx.VectorTransform,
                                        Sequence[_knnx.VectorTransform]],
                 index: _knnx.Index) -> None:
        if isinstance(transform, _knnx.VectorTransform):
            transforms = [transform]
        else:
            transforms = list(transform)
            if not transforms:
                raise ValueError("transform must be a VectorTransform or a non-empty sequence "
                                 "of them, got an empty sequence")
        inner = index
        for t in reversed(transforms[1:]):
            inner = _knnx.IndexPreTransform(t, inner)
        super().__init__(transforms[0], inner)

    def _to_host(self, x, name: str):
        """x itself, or a numpy copy of a CUDA array of vectors."""
        ordinal = self._device_input(x, name)
        if ordinal is None:
            return x
        v = _gpu.read_vectors(x, name, self.d, ordinal)
        if v.synchronize is not None:
            v.synchronize()
        return _knnx._copy_to_host(v.address, [v.rows, self.d], "float32", v.device)

    def search(self, queries, k: int, *, params=None):
        """The k nearest stored vectors of each query (nq, d): (distances float32 (nq, k),
        labels int64 (nq, k)), numpy arrays. params (knnx.SearchParameters) go to the index
        inside."""
        return _knnx.IndexPreTransform.search(self, self._to_host(queries, "queries"), k,
                                              params=params)

    def add(self, x, *, verbose: Optional[bool] = None, chunk_size: Optional[int] = None) -> None:
        super().add(self._to_host(x, "x"), verbose=verbose, chunk_size=chunk_size)

    def add_with_ids(self, x, ids, *, verbose: Optional[bool] = None,
                     chunk_size: Optional[int] = None) -> None:
        super().add_with_ids(self._to_host(x, "x"), ids, verbose=verbose, chunk_size=chunk_size)

    nprobe = alias("n_probe")

    @property
    def transforms(self):
        """The transforms, applied first first, as views of this index's own transforms."""
        return self._chain()

    def _train_host(self, x, verbose: bool) -> None:
        if verbose and self.index_kind == "IVFFlat":
            train_with_progress(self, x, None)
        else:
            _knnx.IndexPreTransform.train(self, x)
