"""Python-level index classes: the C++ indexes plus CUDA array arguments (see _gpu_arrays),
a chunked, progress-reporting add and progress-reporting train (IndexMixin), and IndexFlat."""

from __future__ import annotations

import operator
from typing import Optional

from knnx import _gpu_arrays as _gpu
from knnx import _knnx
from knnx._progress import progress

# Rows per chunk of a verbose add: large enough that per-call overhead vanishes, small enough
# that the progress bar moves.
DEFAULT_CHUNK_SIZE = 65536


def _chunk_size_arg(chunk_size: Optional[int]) -> int:
    if chunk_size is None:
        return DEFAULT_CHUNK_SIZE
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return chunk_size


def _add_in_chunks(add, chunk_size: int) -> None:
    """Calls add(chunk_size, report): one C++ add in chunks that calls report(added, n) after
    each, shown as a progress bar (tqdm, or lines on stderr).

    The C++ add holds the index's writer lock for the whole call and is all-or-nothing: if a
    chunk (or the bar) raises, the chunks already added are taken out and the next sequential
    id is set back.
    """
    bar = None
    reported = 0

    def report(added: int, n: int) -> None:
        nonlocal bar, reported
        if bar is None:
            bar = progress(n, "knnx add", "vec")
        bar.update(added - reported)
        reported = added

    try:
        add(chunk_size, report)
    finally:
        if bar is not None:
            bar.close()


def _k_arg(k) -> int:
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be an integer, got {type(k).__name__}") from None
    if not 1 <= k <= _knnx.MAX_K:
        raise ValueError(
            f"k must be in [1, {_knnx.MAX_K}], got {k} (the limit bounds the results' memory: "
            "12 bytes a neighbour per query)"
        )
    return k


_GPU_ARRAYS_DOC = """

GPU arrays: on an index with device="cuda[:N]", search, add, add_with_ids and train also take
PyTorch CUDA tensors, CuPy arrays and any object exposing __cuda_array_interface__ or a CUDA
__dlpack__. They are read in place (no copy) and must be float32 (ids: int64), C-contiguous
and on the index's device; otherwise ValueError says which conversion to make. A CPU index
refuses device arrays with ValueError: move them to host memory first.
"""


class IndexMixin:
    """The Python layer of every knnx index class: CUDA array arguments (see _gpu_arrays),
    verbose (chunked, progress-reporting) add and train.

    It goes before the bound class in the bases, e.g. class IndexFlat(IndexMixin,
    _knnx.IndexFlat).
    """

    # Whether train() reads device memory in place on a CUDA index; where it does not (k-means
    # of IVF indexes, transforms), a CUDA training array is copied to the host first.
    _TRAIN_READS_DEVICE = True

    def _cuda_ordinal(self) -> Optional[int]:
        """The index's CUDA device number, or None for a CPU index."""
        device = self.device
        return int(device.split(":")[1]) if device.startswith("cuda") else None

    def _device_input(self, x, name: str) -> Optional[int]:
        """The index's CUDA ordinal when x is a device array (None for host arrays); raises
        ValueError for a device array given to a CPU index."""
        if x is None or not _gpu.is_device_array(x, name):
            return None
        ordinal = self._cuda_ordinal()
        if ordinal is None:
            raise ValueError(
                f"{name} is in CUDA device memory but the index is on cpu: move it to host "
                f"memory first (e.g. {name}.cpu() for a torch tensor, cupy.asnumpy({name}) for "
                f"a CuPy array), or use an index with device='cuda'")
        return ordinal

    def range_search(self, queries, radius: float, *, params=None):
        """Every stored vector within radius of each query (nq, d), as FAISS's range_search.

        L2: squared distances strictly below radius; inner product: scores strictly above it.
        Returns (lims int64 (nq + 1,), distances float32, labels int64): query i's results are
        distances[lims[i]:lims[i + 1]] and labels[lims[i]:lims[i + 1]], sorted best first
        (FAISS leaves them unsorted). params: a knnx.SearchParameters (SearchParametersIVF for
        IVF indexes), e.g. SearchParameters(sel=knnx.IDSelectorRange(0, 100)). A NaN radius
        raises ValueError. IndexFlat, IndexIVFFlat and the scalar-quantizer indexes, on the CPU
        and on a GPU; IndexPQ, IndexIVFPQ and IndexIVFPQFastScan on the CPU, over the
        lookup-table distances their search returns (IndexPQFastScan: NotSupported, as in FAISS).
        """
        return _knnx._range_search(self, queries, float(radius), params)

    def remove_ids(self, ids) -> int:
        """Removes every stored vector whose id is in ids (an array of ids, or a
        knnx.IDSelector admitting them, as FAISS's remove_ids); absent ids are ignored. Returns
        the number of vectors removed."""
        if isinstance(ids, _knnx.IDSelector):
            return _knnx._remove_ids_selector(self, ids)
        return super().remove_ids(ids)

    def search(self, queries, k: int, *, params=None, return_device: Optional[bool] = None):
        """The k nearest stored vectors of each query (nq, d), 1 <= k <= knnx.MAX_K (262144).

        Returns (distances float32 (nq, k), labels int64 (nq, k)), best first; labels -1 and
        distances +inf (L2) / -inf (IP) where fewer than k vectors exist.

        queries may be a numpy array (or anything numpy.asarray accepts) or, on a GPU index, a
        CUDA array: a PyTorch tensor, a CuPy array, or any object with __cuda_array_interface__
        or __dlpack__. A CUDA array is read in place and must be float32, C-contiguous and on
        the index's device (ValueError otherwise; pass .float() / .contiguous() as the message
        says). NaN or Inf in the queries raises ValueError, as on the host.

        return_device: where the results go. None (default): where the queries are, so CUDA
        queries give CUDA results of the same framework (torch tensors for torch input, CuPy
        arrays for CuPy input, and for other inputs knnx-owned device arrays that export
        DLPack: wrap them with torch.from_dlpack or cupy.from_dlpack), and host queries give
        numpy arrays. True: device results also for host queries (knnx DLPack arrays). False:
        numpy results also for device queries. The results are complete when search returns.

        params: a knnx.SearchParameters (knnx.SearchParametersIVF for IVF indexes, e.g.
        SearchParametersIVF(nprobe=16)) overriding the index's settings for this call only, as
        FAISS's search(x, k, params=...); None uses the index's settings.

        Example (GPU index, PyTorch)::

            index = knnx.IndexFlat(128, device="cuda")
            index.add(torch.randn(100_000, 128, device="cuda"))
            D, I = index.search(torch.randn(64, 128, device="cuda"), k=10)  # CUDA tensors
        """
        ordinal = self._device_input(queries, "queries")
        on_device = ordinal is not None
        if not on_device:
            if not return_device:
                return super().search(queries, k, params=params)
            ordinal = self._cuda_ordinal()
            if ordinal is None:
                raise ValueError("return_device=True needs an index on a CUDA device; this "
                                 "index is on cpu")
        k = _k_arg(k)
        if on_device:
            q = _gpu.read_vectors(queries, "queries", self.d, ordinal)
            nq, address = q.rows, q.address
        else:
            q = self._float32_rows(queries, "queries")  # host: checked and converted as usual
            nq, address = q.shape[0], q.ctypes.data
        to_device = on_device if return_device is None else bool(return_device)
        if to_device:
            D, I, d_address, i_address = _gpu.empty_results(q if on_device else None, nq, k,
                                                            ordinal)
        else:
            D, I, d_address, i_address = _gpu.empty_host_results(nq, k)
        if on_device and q.synchronize is not None:
            q.synchronize()  # after allocating: the producer's stream also orders the outputs
        self._search_ptr(nq, address, k, d_address, i_address, params)
        return D, I

    # FAISS's index.verbose: the default of the verbose argument of train, add and
    # add_with_ids (False). Set it on an index to report progress of every call.
    verbose = False

    def _verbose(self, verbose: Optional[bool]) -> bool:
        return self.verbose if verbose is None else bool(verbose)

    def train(self, x, *, verbose: Optional[bool] = None) -> None:
        """Learns what the index needs from the vectors x (n, d); a no-op for exact indexes.

        x may be a CUDA array on a GPU index (see search). verbose=True reports the progress
        of long trainings (k-means iterations) with tqdm when installed, else on stderr
        (default: the index's verbose attribute, False unless set).
        """
        verbose = self._verbose(verbose)
        ordinal = self._device_input(x, "x")
        if ordinal is None:
            self._train_host(x, verbose)
            return
        v = _gpu.read_vectors(x, "x", self.d, ordinal)
        if v.synchronize is not None:
            v.synchronize()
        if self._TRAIN_READS_DEVICE:
            self._train_ptr(v.rows, v.address)
        else:
            host = _knnx._copy_to_host(v.address, [v.rows, self.d], "float32", v.device)
            self._train_host(host, verbose)

    def _train_host(self, x, verbose: bool) -> None:
        """train() of host arrays; subclasses with long trainings report progress here."""
        super().train(x)

    def add(self, x, *, verbose: Optional[bool] = None, chunk_size: Optional[int] = None) -> None:
        """Appends the vectors x (n, d); ids are assigned sequentially.

        On a GPU index x may be a CUDA array (PyTorch, CuPy, __cuda_array_interface__,
        DLPack), read in place: float32, C-contiguous, on the index's device (see search).
        With verbose=True, x is added in chunks of chunk_size rows (default 65536) with a
        progress bar (tqdm when installed, else lines on stderr), in one call that holds the
        index's lock throughout (no other thread's add comes between the chunks) and is
        all-or-nothing: if a chunk fails, the index, its next id included, is left as it was.
        verbose defaults to the index's verbose attribute.
        """
        self._add(x, None, False, self._verbose(verbose), chunk_size)

    def add_with_ids(self, x, ids, *, verbose: Optional[bool] = None,
                     chunk_size: Optional[int] = None) -> None:
        """Appends the vectors x (n, d) with the given ids (n,).

        x may be a CUDA array as in add(); ids may be a host array, or a CUDA array of int64
        (copied to the host, where the index keeps its ids). verbose and chunk_size work as in
        add().
        """
        self._add(x, ids, True, self._verbose(verbose), chunk_size)

    def _add(self, x, ids, with_ids: bool, verbose: bool, chunk_size: Optional[int]) -> None:
        x_ordinal = self._device_input(x, "x")
        ids_ordinal = self._device_input(ids, "ids")
        if x_ordinal is None:
            if ids_ordinal is not None:  # device ids with host vectors: C++ matches the counts
                ids = _gpu.read_ids_to_host(ids, "ids", None, ids_ordinal)
            self._add_host(x, ids, with_ids, verbose, chunk_size)
            return
        if with_ids and ids is None:
            raise TypeError("add_with_ids(): ids must be an array of ids, got None")
        v = _gpu.read_vectors(x, "x", self.d, x_ordinal)
        n = v.rows
        if ids_ordinal is not None:
            ids = _gpu.read_ids_to_host(ids, "ids", n, ids_ordinal)
        if v.synchronize is not None:
            v.synchronize()
        if not verbose:
            self._add_ptr(n, v.address, ids)
            return
        _add_in_chunks(lambda chunk, report: self._add_ptr(n, v.address, ids, chunk, report),
                       _chunk_size_arg(chunk_size))

    def _add_host(self, x, ids, with_ids: bool, verbose: bool,
                  chunk_size: Optional[int]) -> None:
        if not verbose:
            if with_ids:
                super().add_with_ids(x, ids)
            else:
                super().add(x)
            return
        if with_ids and ids is None:
            raise TypeError("add_with_ids(): ids must be an array of ids, got None")
        _add_in_chunks(lambda chunk, report: self._add_chunked(x, ids, chunk, report),
                       _chunk_size_arg(chunk_size))


class IndexFlat(IndexMixin, _knnx.IndexFlat):
    __doc__ = _knnx.IndexFlat.__doc__ + _GPU_ARRAYS_DOC
    __module__ = "knnx"


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
