"""Python-level index classes: the C++ indexes plus a chunked, progress-reporting add."""

from __future__ import annotations

from typing import Optional

import numpy as np

from knnx import _knnx

# Rows per chunk of a verbose add: large enough that per-call overhead vanishes, small enough
# that the progress bar moves.
DEFAULT_CHUNK_SIZE = 65536


def _progress(total: int, desc: str):
    """A tqdm bar, or None when tqdm is not installed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="vec")


def _add_in_chunks(index: "IndexFlat", add_chunk, x, ids, chunk_size: Optional[int]) -> None:
    """Adds x (and ids) chunk by chunk with a progress bar; rolls back on failure.

    Each chunk is added under the index's lock, but the lock is not held between chunks. If a
    chunk fails, the rows this call already added are removed again and the error is re-raised
    with the row range of x it came from.
    """
    x = x if isinstance(x, np.ndarray) else np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        # Not something to split (a single vector, or an error the C++ side will name).
        add_chunk(x, ids)
        return
    if chunk_size is None:
        chunk_size = DEFAULT_CHUNK_SIZE
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if ids is not None:
        ids = ids if isinstance(ids, np.ndarray) else np.asarray(ids)
        if ids.ndim != 1 or ids.shape[0] != x.shape[0]:
            # Let the C++ side report the mismatch with its usual message.
            add_chunk(x, ids)
            return
    n = x.shape[0]
    bar = _progress(n, "knnx add")
    if bar is None:
        add_chunk(x, ids)  # no progress to show: one atomic call
        return
    start_total = index.ntotal
    added_ids = []
    try:
        for start in range(0, n, chunk_size):
            stop = min(n, start + chunk_size)
            chunk_ids = None if ids is None else ids[start:stop]
            try:
                add_chunk(x[start:stop], chunk_ids)
            except _knnx.Error as e:
                raise type(e)(f"in rows {start}:{stop} of x: {e}") from e
            added_ids.append(chunk_ids)
            bar.update(stop - start)
    except BaseException:
        if ids is None:
            new_ids = index.ids()[start_total:]
        else:
            new_ids = np.concatenate(added_ids) if added_ids else np.empty(0, np.int64)
        if len(new_ids):
            index.remove_ids(new_ids)
        raise
    finally:
        bar.close()


class IndexFlat(_knnx.IndexFlat):
    __doc__ = _knnx.IndexFlat.__doc__
    __module__ = "knnx"

    def add(self, x, *, verbose: bool = False, chunk_size: Optional[int] = None) -> None:
        """Appends the vectors x (n, d); ids are assigned sequentially.

        With verbose=True and tqdm installed, x is added in chunks of chunk_size rows
        (default 65536) behind a progress bar; a failure removes what the call added.
        """
        if not verbose:
            super().add(x)
            return
        _add_in_chunks(self, lambda xs, _: super(IndexFlat, self).add(xs), x, None, chunk_size)

    def add_with_ids(self, x, ids, *, verbose: bool = False,
                     chunk_size: Optional[int] = None) -> None:
        """Appends the vectors x (n, d) with the given ids (n,).

        verbose and chunk_size work as in add().
        """
        if not verbose:
            super().add_with_ids(x, ids)
            return
        _add_in_chunks(self, lambda xs, ids_: super(IndexFlat, self).add_with_ids(xs, ids_),
                       x, ids, chunk_size)


class IndexFlatL2(IndexFlat):
    """IndexFlat with the L2 metric (FAISS's IndexFlatL2)."""

    __module__ = "knnx"

    def __init__(self, d: int, device: str = "cpu") -> None:
        super().__init__(d, "l2", device)


class IndexFlatIP(IndexFlat):
    """IndexFlat with the inner-product metric (FAISS's IndexFlatIP)."""

    __module__ = "knnx"

    def __init__(self, d: int, device: str = "cpu") -> None:
        super().__init__(d, "ip", device)
