"""IndexFlat on a CUDA device gives the CPU index's results (runs only where a GPU is present)."""

import numpy as np
import pytest

import knnx
from knn_reference import assert_knn_equal

pytestmark = pytest.mark.gpu


def assert_same(D, I, D_cpu, I_cpu, rtol=1e-4):
    """The same neighbours up to float32 rounding; labels may swap only where distances tie."""
    np.testing.assert_allclose(D, D_cpu, rtol=rtol, atol=rtol)
    differ = I != I_cpu
    assert differ.mean() < 0.01, f"{differ.sum()} of {I.size} labels differ"


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


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_cuda_fast_precision_returns_exact_distances(rng, metric):
    xb = rng.standard_normal((20_000, 96)).astype(np.float32)
    xq = rng.standard_normal((200, 96)).astype(np.float32)
    gpu = knnx.IndexFlat(96, metric, device="cuda")
    gpu.precision = "fast"
    gpu.add(xb)
    D, I = gpu.search(xq, 10)
    assert_knn_equal(D, I, xb, xq, 10, metric)


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


def test_cuda_rejects_bad_input_like_cpu(rng):
    gpu = knnx.IndexFlat(4, device="cuda")
    x = rng.standard_normal((5, 4)).astype(np.float32)
    x[2, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        gpu.add(x)
    with pytest.raises(ValueError, match="non-finite"):
        gpu.search(x, 1)
    assert gpu.ntotal == 0
