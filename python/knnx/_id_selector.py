"""FAISS's IDSelector classes: the bound selectors, with FAISS's Python constructors
(IDSelectorBatch(ids), IDSelectorBitmap(bitmap)) that take any array-like of ids or bytes."""

from __future__ import annotations

import numpy as np

from knnx import _knnx

IDSelector = _knnx.IDSelector
IDSelectorRange = _knnx.IDSelectorRange
IDSelectorNot = _knnx.IDSelectorNot
IDSelectorAnd = _knnx.IDSelectorAnd
IDSelectorOr = _knnx.IDSelectorOr


def _ids(ids) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


class IDSelectorBatch(_knnx.IDSelectorBatch):
    __doc__ = _knnx.IDSelectorBatch.__doc__
    __module__ = "knnx"
    __slots__ = ()

    def __init__(self, ids) -> None:
        super().__init__(_ids(ids))


class IDSelectorArray(_knnx.IDSelectorArray):
    __doc__ = _knnx.IDSelectorArray.__doc__
    __module__ = "knnx"
    __slots__ = ()

    def __init__(self, ids) -> None:
        super().__init__(_ids(ids))


class IDSelectorBitmap(_knnx.IDSelectorBitmap):
    __doc__ = _knnx.IDSelectorBitmap.__doc__
    __module__ = "knnx"
    __slots__ = ()

    def __init__(self, bitmap) -> None:
        bitmap = np.asarray(bitmap)
        if bitmap.dtype != np.uint8:
            raise ValueError(f"bitmap must be a uint8 array, got {bitmap.dtype}")
        super().__init__(np.ascontiguousarray(bitmap.reshape(-1)))
