"""write_index / read_index, and the Python object for an index handle of any kind."""

from __future__ import annotations

import os
import tempfile
from typing import Union

import numpy as np

from knnx import _knnx
from knnx._id_map import IndexIDMap
from knnx._index import IndexFlat
from knnx._ivf import IndexIVFFlat
from knnx._pq import IndexIVFPQ, IndexIVFPQFastScan, IndexPQ, IndexPQFastScan
from knnx._sq import IndexIVFScalarQuantizer, IndexRefineFlat, IndexScalarQuantizer
from knnx._transform import IndexPreTransform

# The Python class for each kind of C++ index; other kinds get the generic knnx.Index.
_CLASSES = {
    "Flat": (IndexFlat, _knnx.IndexFlat),
    "IVFFlat": (IndexIVFFlat, _knnx.IndexIVFFlat),
    "ScalarQuantizer": (IndexScalarQuantizer, _knnx.IndexScalarQuantizer),
    "IVFScalarQuantizer": (IndexIVFScalarQuantizer, _knnx.IndexIVFScalarQuantizer),
    "RefineFlat": (IndexRefineFlat, _knnx.IndexRefineFlat),
    "PQ": (IndexPQ, _knnx.IndexPQ),
    "IVFPQ": (IndexIVFPQ, _knnx.IndexIVFPQ),
    "PQFastScan": (IndexPQFastScan, _knnx.IndexPQFastScan),
    "IVFPQFastScan": (IndexIVFPQFastScan, _knnx.IndexIVFPQFastScan),
    "PreTransform": (IndexPreTransform, _knnx.IndexPreTransform),
}


def from_handle(handle: "_knnx._IndexHandle") -> _knnx.Index:
    """The object of the class handle.kind names, owning handle's index."""
    cls, bound = _CLASSES.get(handle.kind, (_knnx.Index, _knnx.Index))
    obj = cls.__new__(cls)
    bound.__init__(obj, handle)
    return obj


def write_index(index: _knnx.Index, path: Union[str, os.PathLike]) -> None:
    """Saves index to path, atomically: the file is written under a temporary name, flushed and
    renamed over path. Searches may run meanwhile. Raises knnx.IoError (an OSError) when the
    path cannot be written and knnx.NotSupported for index types without a file format."""
    if isinstance(index, IndexIDMap):
        index = index.index  # the wrapped index's file keeps the ids
    if not isinstance(index, _knnx.Index):
        raise TypeError(f"index must be a knnx index, got {type(index).__name__}")
    _knnx._write_index(index, path)


# FAISS's read_index flags (faiss/index_io.h), for read_index(path, knnx.IO_FLAG_MMAP): mmap,
# and read-only (which every mapped knnx index is).
IO_FLAG_READ_ONLY = 2
IO_FLAG_MMAP = 8 | 0x646F0000


def read_index(path: Union[str, os.PathLike], device: Union[str, int] = "cpu", *,
               mmap: bool = False) -> _knnx.Index:
    """The index saved at path, loaded onto device ("cpu", "cuda" or "cuda:N"), as an object of
    its own class (knnx.IndexFlat, knnx.IndexIVFFlat, knnx.IndexPQ, knnx.IndexIVFPQ,
    knnx.IndexPreTransform, ...). Searches
    give what they gave on the saved index. Raises knnx.IoError (an OSError) for a path that
    cannot be read (missing, a directory) and knnx.FormatError (an OSError) for a file that is
    not a valid index file (bad magic, truncated, checksum mismatch).

    mmap=True (or FAISS's form read_index(path, knnx.IO_FLAG_MMAP), onto the CPU) maps the
    float32 rows the index keeps in host memory read-only from the file instead of copying them:
    an IndexRefineFlat's exact vectors (its refine_storage is then "mapped") and an IndexFlat's
    vectors, so they may exceed the host's memory. The file is checked as without mmap first.
    Such an index is read-only, as FAISS's: add, add_with_ids, remove_ids and reset raise
    knnx.NotSupported (IndexRefineFlat.refine_storage = "host" copies the vectors into memory).
    write_index saves it as any index. The file must not change while the index lives.

    Files written by FAISS's write_index open too (IndexFlatL2/IP, IndexIVFFlat, IndexIDMap(2),
    IndexPreTransform of PCA, random rotation, linear and L2-normalisation transforms and
    IndexRefineFlat, around those; docs/coming-from-faiss.md); other FAISS index types raise knnx.NotSupported
    naming their type code."""
    if isinstance(device, int) and not isinstance(device, bool):
        if device & ~(IO_FLAG_MMAP | IO_FLAG_READ_ONLY):
            raise _knnx.NotSupported(f"read_index: io flags {device:#x}; knnx takes IO_FLAG_MMAP "
                                     f"and IO_FLAG_READ_ONLY only")
        mmap = mmap or device & IO_FLAG_MMAP == IO_FLAG_MMAP
        device = "cpu"
    return from_handle(_knnx._read_index(path, device, mmap))


def serialize_index(index: _knnx.Index) -> np.ndarray:
    """The bytes write_index would write for index, as a numpy uint8 array (FAISS's
    serialize_index)."""
    with tempfile.TemporaryDirectory(prefix="knnx-") as folder:
        path = os.path.join(folder, "index")
        write_index(index, path)
        return np.fromfile(path, dtype=np.uint8)


def deserialize_index(data, device: str = "cpu") -> _knnx.Index:
    """The index held by data, bytes of serialize_index (or of FAISS's serialize_index) as a
    numpy uint8 array or a bytes object, loaded onto device (FAISS's deserialize_index)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = np.frombuffer(data, dtype=np.uint8)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 1:
        raise TypeError("data must be a 1-D numpy uint8 array (serialize_index's result) or "
                        f"bytes, got {type(data).__name__}"
                        + (f" of {data.dtype} with shape {data.shape}"
                           if isinstance(data, np.ndarray) else ""))
    with tempfile.TemporaryDirectory(prefix="knnx-") as folder:
        path = os.path.join(folder, "index")
        data.tofile(path)
        return read_index(path, device)


def _from_pickle(data: bytes, device: str) -> _knnx.Index:
    return deserialize_index(data, device)


def reduce_index(index: _knnx.Index):
    """pickle, copy.copy and copy.deepcopy of an index (as FAISS's indexes allow): its
    serialize_index bytes and its device; the copy is independent of the original. Index types
    without a file format raise knnx.NotSupported."""
    return (_from_pickle, (serialize_index(index).tobytes(), str(index.device)))
