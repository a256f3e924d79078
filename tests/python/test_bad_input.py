"""Bad input raises ValueError (knnx.InvalidArgument) naming the argument; the index is unchanged."""

import numpy as np
import pytest

import knnx


@pytest.fixture
def index(rng):
    index = knnx.IndexFlat(4)
    index.add(rng.standard_normal((10, 4)).astype(np.float32))
    return index


def snapshot(index):
    return index.ntotal, index.ids().copy(), index.vectors().copy()


def assert_unchanged(index, before):
    ntotal, ids, vectors = before
    assert index.ntotal == ntotal
    np.testing.assert_array_equal(index.ids(), ids)
    np.testing.assert_array_equal(index.vectors(), vectors)


BAD_DTYPES = [
    np.array([["a", "b", "c", "d"]]),
    np.array([[b"a", b"b", b"c", b"d"]]),
    np.array([[1, 2, 3, 4]], dtype=object),
    np.ones((2, 4), dtype=np.complex64),
    np.ones((2, 4), dtype=bool),
    np.array([["2020-01-01"] * 4], dtype="datetime64[D]"),
]


@pytest.mark.parametrize("x", BAD_DTYPES, ids=lambda x: str(x.dtype))
def test_non_numeric_dtypes(index, x):
    before = snapshot(index)
    for call, name in [(index.add, "x"), (index.train, "x"),
                       (lambda a: index.search(a, 3), "queries"),
                       (lambda a: index.add_with_ids(a, np.arange(100, 100 + len(a))), "x")]:
        with pytest.raises(knnx.InvalidArgument, match=rf"^{name} must hold real numbers"):
            call(x)
    assert_unchanged(index, before)


@pytest.mark.parametrize("x,pattern", [
    (np.ones((2, 5), np.float32), r"x has 5 columns \(shape \(2, 5\)\), expected d = 4"),
    (np.ones(3, np.float32), r"x has 3 columns \(shape \(3,\)\), expected d = 4"),
    (np.ones((2, 2, 4), np.float32), r"x must be a 2-D array .* got a 3-D array"),
    (np.float32(1.0), r"x must be a 2-D array .* got a 0-D array"),
    (np.ones((0, 4), np.float32), r"x is empty \(shape \(0, 4\)\)"),
    (np.ones((3, 0), np.float32), r"x has 0 columns"),
    ([], r"x has 0 columns"),
])
def test_wrong_shapes(index, x, pattern):
    before = snapshot(index)
    with pytest.raises(ValueError, match=pattern):
        index.add(x)
    with pytest.raises(ValueError, match=pattern.replace("x ", "queries ", 1)):
        index.search(x, 2)
    assert_unchanged(index, before)


def test_one_dimensional_input_for_d_equal_one_hints_at_reshape():
    index = knnx.IndexFlat(1)
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        index.add(np.arange(5.0))
    index.add(np.arange(5.0).reshape(-1, 1))
    assert index.ntotal == 5


def test_ragged_lists(index):
    before = snapshot(index)
    with pytest.raises(ValueError):
        index.add([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]])
    assert_unchanged(index, before)


def test_none_is_rejected(index):
    with pytest.raises(TypeError):
        index.add(None)
    with pytest.raises(TypeError):
        index.search(None, 1)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values(index, rng, value):
    before = snapshot(index)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    x[4, 1] = value
    with pytest.raises(ValueError, match=r"x contains a non-finite value .* at row 4, column 1"):
        index.add(x)
    with pytest.raises(ValueError, match="non-finite"):
        index.add(x.astype(np.float64))
    with pytest.raises(ValueError, match="non-finite"):
        index.add_with_ids(x, np.arange(100, 106))
    with pytest.raises(ValueError, match=r"queries contains a non-finite value"):
        index.search(x, 3)
    assert_unchanged(index, before)


def test_float64_beyond_float32_range(index):
    before = snapshot(index)
    x = np.zeros((3, 4))
    x[2, 3] = 1e300
    with pytest.raises(ValueError, match=r"x\[2, 3\] = 1e\+300 is outside the float32 range"):
        index.add(x)
    assert_unchanged(index, before)


@pytest.mark.parametrize("k", [0, -1, knnx.MAX_K + 1, 10**6])
def test_k_out_of_range(index, k):
    with pytest.raises(ValueError, match=rf"k must be in \[1, {knnx.MAX_K}\], got {k}"):
        index.search(np.zeros((1, 4), np.float32), k)


def test_k_beyond_any_integer(index):
    with pytest.raises((TypeError, OverflowError)):
        index.search(np.zeros((1, 4), np.float32), 2**80)
    with pytest.raises(TypeError):
        index.search(np.zeros((1, 4), np.float32), 2.5)


def test_largest_k_works(index, rng):
    D, I = index.search(rng.standard_normal((2, 4)), knnx.MAX_K)
    assert I.shape == (2, knnx.MAX_K)
    assert (I[:, 10:] == -1).all() and np.isinf(D[:, 10:]).all()


@pytest.mark.parametrize("metric,empty", [("l2", np.inf), ("ip", -np.inf)])
def test_empty_index_returns_no_results(metric, empty):
    index = knnx.IndexFlat(3, metric)
    D, I = index.search(np.ones((2, 3), np.float32), 4)
    assert (I == -1).all()
    assert (D == empty).all()


def test_ids_length_mismatch(index, rng):
    before = snapshot(index)
    x = rng.standard_normal((3, 4))
    with pytest.raises(ValueError, match="ids has 2 entries but x has 3 vectors"):
        index.add_with_ids(x, [100, 101])
    with pytest.raises(ValueError, match="ids has 4 entries but x has 3 vectors"):
        index.add_with_ids(x, [100, 101, 102, 103])
    with pytest.raises(ValueError, match="ids must be a 1-D array"):
        index.add_with_ids(x, [[100, 101, 102]])
    assert_unchanged(index, before)


def test_bad_ids(index, rng):
    before = snapshot(index)
    x = rng.standard_normal((3, 4))
    cases = [
        ([100, 101, 100], r"100.*more than once"),       # duplicate within the call
        ([100, 5, 101], r"5"),                            # already stored
        ([100, -1, 101], r"-1"),                          # negative
        ([100.0, 101.0, 102.0], r"ids must hold integers, got dtype float64"),
        (["a", "b", "c"], r"ids must hold integers"),
        (np.array([1, 2, 2**64 - 1], dtype=np.uint64), r"ids\[2\] = 18446744073709551615 does not fit in int64"),
    ]
    for ids, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            index.add_with_ids(x, ids)
    assert_unchanged(index, before)
    with pytest.raises(ValueError, match="ids must hold integers"):
        index.remove_ids([1.5])
    with pytest.raises(ValueError, match="ids must be a 1-D array"):
        index.remove_ids(np.zeros((2, 2), np.int64))
    assert_unchanged(index, before)


def test_reconstruct_absent_id(index):
    with pytest.raises(ValueError, match="id 99 is not stored"):
        index.reconstruct(99)
    with pytest.raises(ValueError, match="id -1 is not stored"):
        index.reconstruct(-1)


@pytest.mark.parametrize("d", [0, -3, knnx.MAX_DIM + 1])
def test_bad_dimension(d):
    with pytest.raises(ValueError, match=rf"d must be in \[1, {knnx.MAX_DIM}\], got {d}"):
        knnx.IndexFlat(d)


def test_bad_metric_and_device():
    with pytest.raises(ValueError, match=r'metric must be "l2" or "ip", got "cosine"'):
        knnx.IndexFlat(4, metric="cosine")
    with pytest.raises(ValueError, match="METRIC_L2 \\(1\\) or METRIC_INNER_PRODUCT \\(0\\)"):
        knnx.IndexFlat(4, metric=3)  # an integer is FAISS's metric code: 3 is none
    with pytest.raises(ValueError, match=r'device must be "cpu", "cuda" or "cuda:N", got "tpu"'):
        knnx.IndexFlat(4, device="tpu")
    with pytest.raises(ValueError, match="precision"):
        knnx.IndexFlat(4).precision = "approximate"


@pytest.mark.skipif(knnx.cuda_backend_compiled(), reason="this build has the CUDA backend")
def test_cuda_device_without_backend():
    with pytest.raises(knnx.NotSupported, match="no CUDA backend") as info:
        knnx.IndexFlat(4, device="cuda")
    assert isinstance(info.value, NotImplementedError)
    assert isinstance(info.value, RuntimeError)


def test_missing_cuda_device():
    if not knnx.cuda_backend_compiled():
        pytest.skip("this build has no CUDA backend")
    ordinal = knnx.cuda_device_count()
    with pytest.raises(ValueError, match=f"cuda:{ordinal} does not exist"):
        knnx.IndexFlat(4, device=f"cuda:{ordinal}")


def test_exception_hierarchy():
    for cls, builtin in [(knnx.InvalidArgument, ValueError), (knnx.OutOfMemory, MemoryError),
                         (knnx.CudaError, RuntimeError), (knnx.FormatError, OSError),
                         (knnx.IoError, OSError), (knnx.NotSupported, NotImplementedError),
                         (knnx.InternalError, RuntimeError)]:
        assert issubclass(cls, knnx.Error) and issubclass(cls, builtin)
    assert issubclass(knnx.Error, Exception)
    assert not issubclass(knnx.InvalidArgument, RuntimeError)
