"""IndexFlat on a CUDA device gives the CPU index's results, for numpy arrays and for CUDA arrays
(PyTorch, CuPy, __cuda_array_interface__, DLPack) read in place.

Tests marked gpu run only where a CUDA device is present; the others check what a CPU index
and the argument parsing do with device arrays, and run everywhere.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import knnx
from knn_reference import assert_knn_equal

gpu = pytest.mark.gpu


def assert_same(D, I, D_cpu, I_cpu, rtol=1e-4):
    """The same neighbours up to float32 rounding; labels may swap only where distances tie."""
    np.testing.assert_allclose(D, D_cpu, rtol=rtol, atol=rtol)
    differ = I != I_cpu
    assert differ.mean() < 0.01, f"{differ.sum()} of {I.size} labels differ"


@gpu
@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("n,d,nq,k", [(1, 1, 1, 1), (1000, 64, 1, 10), (1000, 64, 7, 10),
                                      (20_000, 128, 300, 100), (5000, 17, 50, 1024),
                                      (50, 8, 5, 64)])
def test_cuda_matches_cpu(rng, metric, n, d, nq, k):
    xb = rng.standard_normal((n, d)).astype(np.float32)
    xq = rng.standard_normal((nq, d)).astype(np.float32)
    cpu = knnx.IndexFlat(d, metric, device="cpu")
    gpu = knnx.IndexFlat(d, metric, device="cuda")
    assert gpu.device == "cuda:0"
    cpu.add(xb)
    gpu.add(xb)
    D_cpu, I_cpu = cpu.search(xq, k)
    D, I = gpu.search(xq, k)
    assert_same(D, I, D_cpu, I_cpu)
    if n * nq <= 1_000_000:
        assert_knn_equal(D, I, xb, xq, k, metric)


@gpu
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_cuda_fast_precision_returns_exact_distances(rng, metric):
    xb = rng.standard_normal((20_000, 96)).astype(np.float32)
    xq = rng.standard_normal((200, 96)).astype(np.float32)
    gpu = knnx.IndexFlat(96, metric, device="cuda")
    gpu.precision = "fast"
    gpu.add(xb)
    D, I = gpu.search(xq, 10)
    assert_knn_equal(D, I, xb, xq, 10, metric)


@gpu
def test_cuda_bookkeeping_matches_cpu(rng):
    d = 24
    xb = rng.standard_normal((3000, d)).astype(np.float32)
    xq = rng.standard_normal((40, d)).astype(np.float32)
    ids = rng.permutation(50_000)[:3000].astype(np.int64)
    indexes = [knnx.IndexFlat(d, device=dev) for dev in ("cpu", "cuda")]
    for index in indexes:
        index.add_with_ids(np.asfortranarray(xb.astype(np.float64)), ids)
        assert index.remove_ids(ids[::3]) == 1000
    cpu, gpu = indexes
    assert gpu.ntotal == cpu.ntotal == 2000
    np.testing.assert_array_equal(gpu.ids(), cpu.ids())
    np.testing.assert_array_equal(gpu.vectors(), cpu.vectors())
    np.testing.assert_array_equal(gpu.reconstruct(int(ids[1])), xb[1])
    assert_same(*gpu.search(xq, 50), *cpu.search(xq, 50))
    D, I = gpu.search(xq, 2048)  # more than ntotal: padded
    assert (I[:, 2000:] == -1).all() and (D[:, 2000:] == np.inf).all()
    gpu.reset()
    D, I = gpu.search(xq, 3)
    assert (I == -1).all()


@gpu
def test_cuda_rejects_bad_input_like_cpu(rng):
    gpu = knnx.IndexFlat(4, device="cuda")
    x = rng.standard_normal((5, 4)).astype(np.float32)
    x[2, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        gpu.add(x)
    with pytest.raises(ValueError, match="non-finite"):
        gpu.search(x, 1)
    assert gpu.ntotal == 0


# --------------------------------------------------------------------------------------------
# CUDA arrays as arguments


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA device")
    return torch


@pytest.fixture
def cupy():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            pytest.skip("CuPy sees no CUDA device")
    except cupy.cuda.runtime.CUDARuntimeError:
        pytest.skip("CuPy sees no CUDA device")
    return cupy


class CudaArrayInterfaceOnly:
    """Exposes another array's __cuda_array_interface__ and nothing else (as Numba does)."""

    def __init__(self, interface, owner=None):
        self.__cuda_array_interface__ = interface
        self._owner = owner  # keeps the memory alive


class DLPackOnly:
    """Exposes another array's DLPack export and nothing else."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def cpu_and_gpu(xb, metric="l2", ids=None):
    d = xb.shape[1]
    cpu = knnx.IndexFlat(d, metric, device="cpu")
    gpu_index = knnx.IndexFlat(d, metric, device="cuda")
    if ids is None:
        cpu.add(xb)
        gpu_index.add(xb)
    else:
        cpu.add_with_ids(xb, ids)
        gpu_index.add_with_ids(xb, ids)
    return cpu, gpu_index


def host(t):
    """A torch tensor, CuPy array or DLPack array as numpy."""
    if hasattr(t, "cpu"):
        return t.cpu().numpy()
    if hasattr(t, "get"):
        return t.get()
    import torch

    return torch.from_dlpack(t).cpu().numpy()


@gpu
@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("n,d,nq,k", [(1, 1, 1, 1), (5000, 64, 7, 10), (20_000, 96, 300, 100),
                                      (3000, 17, 40, 64), (50, 8, 5, 64)])
def test_torch_tensors_in_and_out(torch, rng, metric, n, d, nq, k):
    xb = rng.standard_normal((n, d)).astype(np.float32)
    xq = rng.standard_normal((nq, d)).astype(np.float32)
    cpu = knnx.IndexFlat(d, metric, device="cpu")
    cpu.add(xb)
    index = knnx.IndexFlat(d, metric, device="cuda")
    index.add(torch.from_numpy(xb).cuda())  # read in place on the device
    assert index.ntotal == n
    np.testing.assert_array_equal(index.vectors(), xb)
    queries = torch.from_numpy(xq).cuda()
    D, I = index.search(queries, k)
    assert isinstance(D, torch.Tensor) and isinstance(I, torch.Tensor)
    assert D.device == queries.device and I.device == queries.device
    assert D.dtype == torch.float32 and I.dtype == torch.int64
    assert tuple(D.shape) == tuple(I.shape) == (nq, k)
    D_cpu, I_cpu = cpu.search(xq, k)
    assert_same(host(D), host(I), D_cpu, I_cpu)
    # The same results as numpy queries on the same index.
    D_np, I_np = index.search(xq, k)
    np.testing.assert_array_equal(host(D), D_np)
    np.testing.assert_array_equal(host(I), I_np)
    # Results are complete on return: usable on any stream at once.
    assert torch.equal(I[:, 0], torch.from_numpy(I_np[:, 0]).cuda())


@gpu
def test_torch_single_vector_grad_and_padding(torch, rng):
    xb = rng.standard_normal((30, 12)).astype(np.float32)
    cpu, index = cpu_and_gpu(xb)
    q = torch.from_numpy(xb[3]).cuda().requires_grad_()  # 1-D: one query; grad is ignored
    D, I = index.search(q, 50)  # more than ntotal: padded
    assert tuple(I.shape) == (1, 50)
    assert host(I)[0, 0] == 3 and (host(I)[0, 30:] == -1).all()
    assert (host(D)[0, 30:] == np.inf).all()
    D_cpu, I_cpu = cpu.search(xb[3], 50)
    assert_same(host(D), host(I), D_cpu, I_cpu)


@gpu
def test_return_device(torch, rng):
    xb = rng.standard_normal((2000, 32)).astype(np.float32)
    xq = rng.standard_normal((9, 32)).astype(np.float32)
    cpu, index = cpu_and_gpu(xb)
    D_cpu, I_cpu = cpu.search(xq, 5)
    # numpy in: numpy out by default, device arrays on request.
    D, I = index.search(xq, 5)
    assert isinstance(D, np.ndarray) and isinstance(I, np.ndarray)
    D, I = index.search(xq.astype(np.float64), 5, return_device=True)
    Dt, It = torch.from_dlpack(D), torch.from_dlpack(I)
    assert Dt.is_cuda and It.is_cuda and Dt.dtype == torch.float32 and It.dtype == torch.int64
    assert_same(Dt.cpu().numpy(), It.cpu().numpy(), D_cpu, I_cpu)
    # torch in: numpy out on request.
    D, I = index.search(torch.from_numpy(xq).cuda(), 5, return_device=False)
    assert isinstance(D, np.ndarray) and D.dtype == np.float32 and I.dtype == np.int64
    assert_same(D, I, D_cpu, I_cpu)
    with pytest.raises(ValueError, match="return_device=True needs an index on a CUDA device"):
        cpu.search(xq, 5, return_device=True)


@gpu
def test_torch_ids_and_chunked_add(torch, rng):
    d = 20
    xb = rng.standard_normal((3000, d)).astype(np.float32)
    ids = rng.permutation(100_000)[:3000].astype(np.int64)
    xq = rng.standard_normal((25, d)).astype(np.float32)
    cpu = knnx.IndexFlat(d)
    cpu.add_with_ids(xb, ids)
    x_dev = torch.from_numpy(xb).cuda()
    for ids_arg in (torch.from_numpy(ids).cuda(), ids, torch.from_numpy(ids)):
        index = knnx.IndexFlat(d, device="cuda")
        index.add_with_ids(x_dev, ids_arg)
        np.testing.assert_array_equal(index.ids(), ids)
        assert_same(*map(host, index.search(torch.from_numpy(xq).cuda(), 10)),
                    *cpu.search(xq, 10))
    # Device ids with host vectors.
    index = knnx.IndexFlat(d, device="cuda")
    index.add_with_ids(xb, torch.from_numpy(ids).cuda())
    np.testing.assert_array_equal(index.ids(), ids)
    # Chunked (verbose) adds walk the device rows in place.
    pytest.importorskip("tqdm")
    index = knnx.IndexFlat(d, device="cuda")
    index.add(x_dev, verbose=True, chunk_size=700)
    index.add_with_ids(x_dev[:100], torch.arange(10_000, 10_100, device="cuda"), verbose=True,
                       chunk_size=33)
    np.testing.assert_array_equal(index.vectors(), np.concatenate([xb, xb[:100]]))
    np.testing.assert_array_equal(index.ids(), np.r_[np.arange(3000), np.arange(10_000, 10_100)])
    # A failing chunk rolls the whole call back.
    bad = x_dev.clone()
    bad[2500, 3] = float("nan")
    with pytest.raises(ValueError, match=r"in rows 2100:2800 of x: .*non-finite"):
        index.add(bad, verbose=True, chunk_size=700)
    assert index.ntotal == 3100


@gpu
def test_torch_queries_from_another_stream(torch, rng):
    # Queries computed on a side stream are waited for before knnx reads them.
    xb = rng.standard_normal((50_000, 64)).astype(np.float32)
    cpu, index = cpu_and_gpu(xb)
    base = torch.from_numpy(xb[:256]).cuda()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        q = base
        for _ in range(50):  # long enough to be still running when search starts
            q = torch.sin(q) * 0.5 + q * 0.5
        D, I = index.search(q, 8)
        expected = q.cpu().numpy()
    assert_same(host(D), host(I), *cpu.search(expected, 8))


@gpu
def test_cupy_arrays_in_and_out(cupy, rng):
    xb = rng.standard_normal((4000, 40)).astype(np.float32)
    xq = rng.standard_normal((17, 40)).astype(np.float32)
    ids = np.arange(4000, dtype=np.int64) * 3
    cpu = knnx.IndexFlat(40, "ip")
    cpu.add_with_ids(xb, ids)
    index = knnx.IndexFlat(40, "ip", device="cuda")
    index.add_with_ids(cupy.asarray(xb), cupy.asarray(ids))
    D, I = index.search(cupy.asarray(xq), 12)
    assert isinstance(D, cupy.ndarray) and isinstance(I, cupy.ndarray)
    assert D.dtype == cupy.float32 and I.dtype == cupy.int64 and D.device.id == 0
    assert_same(D.get(), I.get(), *cpu.search(xq, 12))
    with pytest.raises(ValueError, match=r"float64.*queries\.astype\(cupy\.float32\)"):
        index.search(cupy.asarray(xq, dtype=cupy.float64), 3)
    with pytest.raises(ValueError, match=r"not C-contiguous.*cupy\.ascontiguousarray"):
        index.search(cupy.asfortranarray(cupy.asarray(xq)), 3)


@gpu
def test_cuda_array_interface_and_dlpack_only_objects(torch, rng):
    xb = rng.standard_normal((3000, 24)).astype(np.float32)
    xq = rng.standard_normal((11, 24)).astype(np.float32)
    cpu = knnx.IndexFlat(24)
    cpu.add(xb)
    x_dev = torch.from_numpy(xb).cuda()
    q_dev = torch.from_numpy(xq).cuda()
    expected = cpu.search(xq, 7)
    for wrap in (lambda t: CudaArrayInterfaceOnly(t.__cuda_array_interface__, t), DLPackOnly):
        index = knnx.IndexFlat(24, device="cuda")
        index.add(wrap(x_dev))
        np.testing.assert_array_equal(index.vectors(), xb)
        D, I = index.search(wrap(q_dev), 7)
        # knnx-owned device results, taken by torch through DLPack without a copy.
        assert D.__dlpack_device__() == (2, 0)
        Dt, It = torch.from_dlpack(D), torch.from_dlpack(I)
        assert Dt.is_cuda and It.dtype == torch.int64
        assert_same(Dt.cpu().numpy(), It.cpu().numpy(), *expected)
        index.add_with_ids(wrap(x_dev[:5]), wrap(torch.arange(5000, 5005, device="cuda")))
        np.testing.assert_array_equal(index.ids()[-5:], np.arange(5000, 5005))
    # A producer stream in the interface (version 3) is synchronised.
    index = knnx.IndexFlat(24, device="cuda")
    index.add(x_dev)
    stream = torch.cuda.Stream()
    interface = dict(q_dev.__cuda_array_interface__, version=3, stream=stream.cuda_stream)
    D, I = index.search(CudaArrayInterfaceOnly(interface, q_dev), 7)
    assert_same(host(D), host(I), *expected)


@gpu
def test_bad_device_arrays_raise_value_error(torch, rng):
    index = knnx.IndexFlat(8, device="cuda")
    index.add(rng.standard_normal((100, 8)).astype(np.float32))
    q = torch.randn(4, 8, device="cuda")
    q64 = q.double()
    cases = [
        (q.double(), r"queries is a CUDA array of dtype float64; .*float32.*queries\.float\(\)"),
        (q.half(), r"queries is a CUDA array of dtype float16"),
        (q.to(torch.int32), r"queries is a CUDA array of dtype int32"),
        (torch.randn(8, 4, device="cuda").t(), r"not C-contiguous.*queries\.contiguous\(\)"),
        (torch.randn(4, 16, device="cuda")[:, ::2], r"not C-contiguous"),
        (torch.randn(4, 9, device="cuda"), r"queries has 9 columns .*expected d = 8"),
        (torch.randn(2, 4, 8, device="cuda"), r"2-D array \(n, 8\) .*got a 3-D array"),
        (torch.empty(0, 8, device="cuda"), r"queries is empty"),
        (CudaArrayInterfaceOnly(q64.__cuda_array_interface__, q64), r"dtype float64"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            index.search(bad, 3)
    with pytest.raises(ValueError, match=r"x is a CUDA array of dtype float64; .*x\.float\(\)"):
        index.add(q.double())
    with pytest.raises(ValueError, match=r"ids is a CUDA array of dtype int32; .*ids\.long\(\)"):
        index.add_with_ids(q, torch.arange(4, dtype=torch.int32, device="cuda"))
    with pytest.raises(ValueError, match=r"ids has 3 entries but x has 4 vectors"):
        index.add_with_ids(q, torch.arange(3, device="cuda"))
    with pytest.raises(TypeError, match="ids must be an array of ids, got None"):
        index.add_with_ids(q, None)
    with pytest.raises(ValueError, match=rf"k must be in \[1, {knnx.MAX_K}\], got 0"):
        index.search(q, 0)
    assert index.ntotal == 100
    # A CPU index refuses device memory rather than copying it behind the caller's back.
    cpu = knnx.IndexFlat(8)
    with pytest.raises(ValueError, match=r"queries is in CUDA device memory but the index is on "
                                         r"cpu: move it to host memory first"):
        cpu.search(q, 3)
    with pytest.raises(ValueError, match="x is in CUDA device memory"):
        cpu.add(q)
    assert cpu.ntotal == 0


@gpu
def test_tensor_on_another_device_raises_value_error(torch):
    if torch.cuda.device_count() < 2 or knnx.cuda_device_count() < 2:
        pytest.skip("needs two CUDA devices")
    index = knnx.IndexFlat(8, device="cuda:0")
    index.add(np.ones((3, 8), np.float32))
    q = torch.randn(2, 8, device="cuda:1")
    with pytest.raises(ValueError, match=r"queries is on cuda:1 but the index is on cuda:0: pass "
                                         r"queries\.to\('cuda:0'\)"):
        index.search(q, 1)
    with pytest.raises(ValueError, match="x is on cuda:1"):
        index.add(q)
    assert index.ntotal == 3


@gpu
def test_non_finite_device_input_leaves_the_index_unchanged(torch, rng):
    xb = rng.standard_normal((500, 16)).astype(np.float32)
    _, index = cpu_and_gpu(xb)
    q = torch.from_numpy(xb[:6]).cuda()
    D0, I0 = index.search(q, 4)
    for bad_value in (float("nan"), float("inf")):
        bad = q.clone()
        bad[4, 7] = bad_value
        with pytest.raises(ValueError, match="non-finite"):
            index.search(bad, 4)
        with pytest.raises(ValueError, match="non-finite"):
            index.add(bad)
        with pytest.raises(ValueError, match="non-finite"):
            index.add_with_ids(bad, torch.arange(1000, 1006, device="cuda"))
    assert index.ntotal == 500
    np.testing.assert_array_equal(index.vectors(), xb)
    D1, I1 = index.search(q, 4)
    assert torch.equal(D0, D1) and torch.equal(I0, I1)


@gpu
def test_concurrent_torch_searches_match_serial(torch, rng):
    n_threads = 4
    xb = rng.standard_normal((30_000, 48)).astype(np.float32)
    index = knnx.IndexFlat(48, device="cuda")
    index.add(torch.from_numpy(xb).cuda())
    queries = [torch.from_numpy(rng.standard_normal((nq, 48)).astype(np.float32)).cuda()
               for nq in (1, 37, 256, 1000)]
    serial = [index.search(q, 16) for q in queries]
    barrier = threading.Barrier(n_threads)

    def work(t):
        barrier.wait()  # start together so that the searches overlap
        return [index.search(queries[t], 16) for _ in range(10)]

    with ThreadPoolExecutor(n_threads) as pool:
        results = list(pool.map(work, range(n_threads)))
    for t in range(n_threads):
        for D, I in results[t]:
            assert torch.equal(I, serial[t][1]) and torch.equal(D, serial[t][0])


# --------------------------------------------------------------------------------------------
# Device arrays and a CPU index, and the low-level methods: these run without a GPU too.


class FakeCudaArray:
    """Claims to be CUDA memory through __cuda_array_interface__ (never dereferenced)."""

    __cuda_array_interface__ = {"shape": (3, 4), "typestr": "<f4", "data": (0x1000, False),
                                "version": 3, "strides": None}


class FakeDLPackCudaArray:
    """Reports a CUDA device through __dlpack_device__ (never exported)."""

    def __dlpack__(self, **kwargs):
        raise AssertionError("a CPU index must not import a device array")

    def __dlpack_device__(self):
        return (2, 0)


@pytest.mark.parametrize("fake", [FakeCudaArray, FakeDLPackCudaArray])
def test_cpu_index_refuses_device_arrays(fake):
    index = knnx.IndexFlat(4)
    with pytest.raises(ValueError, match=r"queries is in CUDA device memory but the index is on "
                                         r"cpu: move it to host memory first"):
        index.search(fake(), 1)
    with pytest.raises(ValueError, match="x is in CUDA device memory"):
        index.add(fake())
    with pytest.raises(ValueError, match="x is in CUDA device memory"):
        index.train(fake())
    with pytest.raises(ValueError, match="ids is in CUDA device memory"):
        index.add_with_ids(np.ones((3, 4), np.float32), fake())
    assert index.ntotal == 0


def test_cpu_index_search_return_device():
    index = knnx.IndexFlat(4)
    index.add(np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match="return_device=True needs an index on a CUDA device"):
        index.search(np.ones((2, 4)), 1, return_device=True)
    D, I = index.search(np.eye(4), 1, return_device=False)
    np.testing.assert_array_equal(I[:, 0], np.arange(4))


def test_host_arrays_with_other_dlpack_devices_are_refused():
    class OtherDevice(FakeDLPackCudaArray):
        def __dlpack_device__(self):
            return (8, 0)  # kDLMetal

    with pytest.raises(ValueError, match="queries is on DLPack device type 8"):
        knnx.IndexFlat(4).search(OtherDevice(), 1)


def test_low_level_pointer_methods_need_a_cuda_index():
    index = knnx.IndexFlat(4)
    x = np.ones((2, 4), np.float32)
    D = np.empty((2, 1), np.float32)
    I = np.empty((2, 1), np.int64)
    with pytest.raises(ValueError, match="_search_ptr takes device pointers, which need an index "
                                         "on a CUDA device; this index is on cpu"):
        index._search_ptr(2, x.ctypes.data, 1, D.ctypes.data, I.ctypes.data)
    with pytest.raises(ValueError, match="_add_ptr takes device pointers"):
        index._add_ptr(2, x.ctypes.data)
    with pytest.raises(ValueError, match="_train_ptr takes device pointers"):
        index._train_ptr(2, x.ctypes.data)
    assert index.ntotal == 0


def test_float32_rows_reads_host_arrays_like_search():
    index = knnx.IndexFlat(3)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    rows = index._float32_rows(a, "queries")
    assert rows.shape == (2, 3) and np.shares_memory(rows, a)  # no copy
    np.testing.assert_array_equal(index._float32_rows(a.T.copy().T, "queries"), a)
    np.testing.assert_array_equal(index._float32_rows([0.0, 1.0, 2.0], "queries"), [[0, 1, 2]])
    with pytest.raises(ValueError, match=r"queries has 2 columns"):
        index._float32_rows(np.ones((2, 2)), "queries")


def test_device_memory_helpers_on_host_memory():
    from knnx import _knnx

    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert _knnx._pointer_device(a.ctypes.data) == -1
    keepalive, address, shape, strides, dtype, device_type, device_id = _knnx._dlpack_view(a)
    assert (address, shape, strides, dtype, device_type) == (a.ctypes.data, (3, 4), (4, 1),
                                                              "float32", 1)
    _, _, shape, strides, dtype, _, _ = _knnx._dlpack_view(a[:, ::2].astype(np.int64)[:, :1])
    assert shape == (3, 1) and dtype == "int64"
    assert _knnx._dlpack_view(object()) is None
    if knnx.cuda_device_count() == 0:
        with pytest.raises(knnx.Error):
            _knnx._device_empty([2, 3], "float32", 0)
    with pytest.raises(ValueError, match='dtype must be "float32" or "int64", got "uint8"'):
        _knnx._device_empty([2], "uint8", 0)
