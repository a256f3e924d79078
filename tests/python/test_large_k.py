"""k past 2048: exact results on the CPU (and, where a GPU is present, on it) against a float64
brute force, padding past ntotal, and the limit's error naming why it exists."""

import numpy as np
import pytest

import knnx

gpu = pytest.mark.gpu


def brute_force(xb, xq, k, metric):
    xb64, xq64 = xb.astype(np.float64), xq.astype(np.float64)
    if metric == "l2":
        scores = (xq64 ** 2).sum(1)[:, None] + (xb64 ** 2).sum(1)[None, :] - 2 * xq64 @ xb64.T
        order = np.argsort(scores, axis=1, kind="stable")[:, :k]
    else:
        scores = xq64 @ xb64.T
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


def assert_exact(D, I, xb, xq, k, metric):
    D_ref, _ = brute_force(xb, xq, k, metric)
    n = xb.shape[0]
    m = min(k, n)
    np.testing.assert_allclose(D[:, :m], D_ref[:, :m], rtol=1e-4, atol=1e-3)
    for row in I[:, :m]:
        assert len(set(row.tolist())) == m and row.min() >= 0
    assert (I[:, m:] == -1).all()


def test_max_k_and_its_error():
    assert knnx.MAX_K >= 16384
    index = knnx.IndexFlat(4)
    index.add(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match=rf"k must be in \[1, {knnx.MAX_K}\].*memory"):
        index.search(np.ones((1, 4), np.float32), knnx.MAX_K + 1)


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("k", [2049, 4096, 9000])
def test_cpu_flat_and_ivf_are_exact(rng, metric, k):
    xb = rng.standard_normal((6000, 12)).astype(np.float32)
    xq = rng.standard_normal((4, 12)).astype(np.float32)
    flat = knnx.IndexFlat(12, metric)
    flat.add(xb)
    D, I = flat.search(xq, k)
    assert D.shape == I.shape == (4, k)
    assert_exact(D, I, xb, xq, k, metric)
    ivf = knnx.IndexIVFFlat(12, 8, metric)
    ivf.train(xb)
    ivf.add(xb)
    D_ivf, I_ivf = ivf.search(xq, k, params=knnx.SearchParametersIVF(nprobe=8))
    assert_exact(D_ivf, I_ivf, xb, xq, k, metric)


@gpu
@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("k", [2049, 16384])
def test_cuda_flat_and_ivf_are_exact(rng, metric, k):
    xb = rng.standard_normal((30000, 32)).astype(np.float32)
    xq = rng.standard_normal((20, 32)).astype(np.float32)
    flat = knnx.IndexFlat(32, metric, device="cuda")
    flat.add(xb)
    assert_exact(*flat.search(xq, k), xb, xq, k, metric)
    ivf = knnx.IndexIVFFlat(32, 16, metric, device="cuda")
    ivf.train(xb)
    ivf.add(xb)
    assert_exact(*ivf.search(xq, k, params=knnx.SearchParametersIVF(nprobe=16)), xb, xq, k,
                 metric)
