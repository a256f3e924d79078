"""knnx: exact and approximate nearest-neighbour search on the CPU and CUDA devices.

The API follows FAISS: build an index, add vectors, search for the k nearest neighbours::

    import numpy as np
    import knnx

    xb = np.random.rand(10000, 64).astype("float32")
    xq = np.random.rand(5, 64).astype("float32")
    index = knnx.IndexFlat(64, metric="l2", device="cpu")   # or knnx.IndexFlatL2(64)
    index.add(xb)
    D, I = index.search(xq, k=10)   # D: float32 (5, 10), I: int64 (5, 10); -1 where < k exist

Arrays may be float32 or float64, C or Fortran order (converted once when needed). A CUDA index
also takes PyTorch/CuPy CUDA tensors and other __cuda_array_interface__ or DLPack arrays in
place, and returns device results for device queries (see IndexFlat.search). Errors
raise subclasses of knnx.Error that are also the built-in exceptions one expects:
ValueError for bad arguments, MemoryError, OSError for files, RuntimeError for CUDA failures.

Thread safety: any number of threads may search one index concurrently (the GIL is released
during search); train/add/add_with_ids/remove_ids/reset take the index exclusively.
"""

from knnx._address_space import fit_threads_to_address_space as _fit_threads

_fit_threads()  # before the native module (and its BLAS library) loads
del _fit_threads

from knnx import _knnx  # noqa: E402
from knnx._knnx import (
    BASE_STREAM,
    MAX_DIM,
    MAX_K,
    QUERY_STREAM,
    CudaError,
    Error,
    FlatGemm,
    FlatPrecision,
    FormatError,
    GaussianMixture,
    Index,
    InternalError,
    InvalidArgument,
    IoError,
    L2Normalize,
    LinearTransform,
    KMeans,
    KMeansInit,
    KMeansParams,
    Metric,
    NotSupported,
    OPQ,
    OutOfMemory,
    PCA,
    ProductQuantizer,
    ProductQuantizerParams,
    RandomRotation,
    ScalarQuantizer,
    VectorTransform,
    __version__,
    build_info,
    config,
    cuda_backend_compiled,
    cuda_device_count,
    cuda_device_name,
    describe_knobs,
    make_mixture_base,
    make_mixture_queries,
    parse_metric,
    read_bvecs,
    read_fvecs,
    read_ivecs,
    read_labels,
    read_npy,
    read_vectors,
    recall_at_k,
    recall_at_k_per_query,
    reload_config_from_env,
    set_config,
    write_bvecs,
    write_fvecs,
    write_ivecs,
    write_npy,
)
from knnx._show_config import show_config
from knnx._attributes import ReadOnlyView as _ReadOnlyView
from knnx._attributes import refuse_unknown_attributes as _refuse_unknown_attributes
from knnx._faiss_gpu import (StandardGpuResources, get_num_gpus, index_cpu_to_all_gpus,
                             index_cpu_to_gpu, index_gpu_to_cpu)
from knnx._faiss_kmeans import Kmeans
from knnx._factory import IndexSpec, index_factory, parse_index_spec
from knnx._id_map import IndexIDMap, IndexIDMap2
from knnx._id_selector import (IDSelector, IDSelectorAnd, IDSelectorArray, IDSelectorBatch,
                               IDSelectorBitmap, IDSelectorNot, IDSelectorOr, IDSelectorRange)
from knnx._index import IndexFlat, IndexFlatIP, IndexFlatL2
from knnx._index_file import (IO_FLAG_MMAP, IO_FLAG_READ_ONLY, deserialize_index, read_index,
                              serialize_index, write_index)
from knnx._index_file import reduce_index as _reduce_index
from knnx._ivf import IndexIVFFlat, KMeansParamsView
from knnx._pq import IndexIVFPQ, IndexIVFPQFastScan, IndexPQ, IndexPQFastScan
from knnx._search_params import SearchParameters, SearchParametersIVF, SearchParametersRefine
from knnx._sq import IndexIVFScalarQuantizer, IndexRefineFlat, IndexScalarQuantizer
from knnx._transform import IndexPreTransform
from knnx._vectors import knn, normalize_L2, omp_get_max_threads, omp_set_num_threads

# FAISS's metric codes, with FAISS's values: every metric argument takes them (and
# knnx.Metric values, and the names "l2" / "ip"); index.metric_type gives them back.
METRIC_INNER_PRODUCT = 0
METRIC_L2 = 1

# Assigning or reading an attribute a class does not have raises AttributeError naming the
# closest one (index.nprobe = 8 must not quietly create a new attribute).
for _cls in (Index, KMeans, KMeansParams, VectorTransform, GaussianMixture,
             _knnx.SearchParameters, ProductQuantizer, ProductQuantizerParams):
    _refuse_unknown_attributes(_cls)
del _cls
# Indexes pickle and copy through their file bytes, as FAISS's do.
Index.__reduce__ = _reduce_index
# KMeans settings are fixed at construction: its params are read-only, never a silent copy.
_kmeans_params = KMeans.params
KMeans.params = property(
    lambda self: _ReadOnlyView(_kmeans_params.__get__(self),
                               "a KMeans's params are fixed at construction; pass "
                               "params=KMeansParams(...) to KMeans() (params.copy() gives a "
                               "modifiable copy)"),
    doc=_kmeans_params.__doc__)

__all__ = [
    "BASE_STREAM",
    "CudaError",
    "Error",
    "FlatGemm",
    "FlatPrecision",
    "FormatError",
    "GaussianMixture",
    "IDSelector",
    "IDSelectorAnd",
    "IDSelectorArray",
    "IDSelectorBatch",
    "IDSelectorBitmap",
    "IDSelectorNot",
    "IDSelectorOr",
    "IDSelectorRange",
    "Index",
    "IndexFlat",
    "IndexFlatIP",
    "IndexFlatL2",
    "Kmeans",
    "StandardGpuResources",
    "get_num_gpus",
    "index_cpu_to_all_gpus",
    "index_cpu_to_gpu",
    "index_gpu_to_cpu",
    "IndexIDMap",
    "IndexIDMap2",
    "IndexIVFFlat",
    "IndexIVFPQ",
    "IndexIVFPQFastScan",
    "IndexIVFScalarQuantizer",
    "IndexPQ",
    "IndexPQFastScan",
    "IndexPreTransform",
    "IndexRefineFlat",
    "IndexScalarQuantizer",
    "IndexSpec",
    "InternalError",
    "InvalidArgument",
    "IoError",
    "KMeans",
    "KMeansInit",
    "KMeansParams",
    "KMeansParamsView",
    "L2Normalize",
    "LinearTransform",
    "MAX_DIM",
    "MAX_K",
    "METRIC_INNER_PRODUCT",
    "METRIC_L2",
    "Metric",
    "NotSupported",
    "OPQ",
    "OutOfMemory",
    "PCA",
    "ProductQuantizer",
    "ProductQuantizerParams",
    "QUERY_STREAM",
    "RandomRotation",
    "ScalarQuantizer",
    "SearchParameters",
    "SearchParametersIVF",
    "SearchParametersRefine",
    "VectorTransform",
    "__version__",
    "build_info",
    "config",
    "cuda_backend_compiled",
    "cuda_device_count",
    "cuda_device_name",
    "describe_knobs",
    "deserialize_index",
    "index_factory",
    "knn",
    "make_mixture_base",
    "make_mixture_queries",
    "normalize_L2",
    "omp_get_max_threads",
    "omp_set_num_threads",
    "parse_index_spec",
    "parse_metric",
    "read_bvecs",
    "read_fvecs",
    "read_index",
    "IO_FLAG_MMAP",
    "IO_FLAG_READ_ONLY",
    "read_ivecs",
    "read_labels",
    "read_npy",
    "read_vectors",
    "recall_at_k",
    "recall_at_k_per_query",
    "reload_config_from_env",
    "serialize_index",
    "set_config",
    "show_config",
    "write_bvecs",
    "write_fvecs",
    "write_index",
    "write_ivecs",
    "write_npy",
]
